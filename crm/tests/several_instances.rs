//! Several `crm serve` processes on one database (issue 18): exactly one
//! relays at a time. Real processes, a real `tansu` broker and a real
//! PostgreSQL; the leader is killed with SIGKILL and another takes over.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use common::broker::{
    assert_ordered_with_only_redeliveries, event_id, read_topic, stored_events, wait_until_relayed,
    Broker, Received,
};
use common::instance::{database_url, Instance};
use relay::{Lease, RelayConfig, RelayHealth, RelayRole, DEFAULT_TOPIC};
use web::{JwtKeys, Role};

/// The longest a takeover may take after the leader is killed.
const TAKEOVER: Duration = Duration::from_secs(5);

fn role(readiness: &Value) -> &str {
    readiness["relay"]["role"].as_str().unwrap_or("none")
}

fn published_here(readiness: &Value) -> u64 {
    readiness["relay"]["published_here"].as_u64().unwrap_or(0)
}

/// Each live instance's `/readyz` (`None` for a killed one).
async fn readiness_of(instances: &[Instance], alive: &[bool]) -> Vec<Option<Value>> {
    let mut all = Vec::new();
    for (instance, alive) in instances.iter().zip(alive) {
        all.push(if *alive {
            instance.readiness().await
        } else {
            None
        });
    }
    all
}

/// Polls until exactly one live instance says `leader` and every other live
/// one `standby`; returns the leader's index. Fails after `within`, or at
/// once when two say `leader`.
async fn the_one_leader(instances: &[Instance], alive: &[bool], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let seen = readiness_of(instances, alive).await;
        let leaders: Vec<usize> = seen
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| role(r) == "leader"))
            .map(|(index, _)| index)
            .collect();
        assert!(
            leaders.len() <= 1,
            "instances {leaders:?} all say they lead: {seen:?}"
        );
        let standbys = seen
            .iter()
            .filter(|r| r.as_ref().is_some_and(|r| role(r) == "standby"))
            .count();
        let live = alive.iter().filter(|alive| **alive).count();
        if let [leader] = leaders[..] {
            if standbys == live - 1 {
                return leader;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no single leader within {within:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers a customer and logs `activities` activities on it, through
/// `instance`.
async fn customer_with_history(instance: &Instance, token: &str, name: &str, activities: usize) {
    let (status, body) = instance
        .command(
            Method::POST,
            "/v1/customers",
            token,
            &json!({"name": name, "company": "星辰科技"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("customer id").to_owned();
    for step in 0..activities {
        let (status, body) = instance
            .command(
                Method::POST,
                &format!("/v1/customers/{id}/activities"),
                token,
                &json!({"type": "call", "subject": format!("{name}回访{step}")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// Positions on the topic that arrived more than once.
fn duplicated_positions(messages: &[Received]) -> Vec<i64> {
    let mut copies: HashMap<Uuid, (i64, usize)> = HashMap::new();
    for message in messages {
        let position = message.value["position"].as_i64().expect("position");
        copies.entry(event_id(message)).or_insert((position, 0)).1 += 1;
    }
    let mut duplicated: Vec<i64> = copies
        .into_values()
        .filter(|(_, count)| *count > 1)
        .map(|(position, _)| position)
        .collect();
    duplicated.sort_unstable();
    duplicated
}

async fn head(pool: &PgPool) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>("SELECT max(global_position) FROM events")
        .fetch_one(pool)
        .await
        .expect("head")
        .unwrap_or(0)
}

#[sqlx::test(migrations = "../schema")]
async fn one_of_three_instances_relays_and_another_takes_over_when_it_is_killed(pool: PgPool) {
    let broker = Broker::start();
    let url = database_url(&pool);
    let mut instances = Vec::new();
    for name in ["a", "b", "c"] {
        instances.push(Instance::serve(name, &url, &broker.address()).await);
    }
    let mut alive = vec![true; instances.len()];
    let leader = the_one_leader(&instances, &alive, Duration::from_secs(20)).await;
    let metrics = instances[leader].metrics().await;
    assert!(
        metrics.contains(&format!("crm_relay_leader{{topic=\"{DEFAULT_TOPIC}\"}} 1")),
        "{metrics}"
    );
    let standby = (leader + 1) % instances.len();
    let metrics = instances[standby].metrics().await;
    assert!(
        metrics.contains(&format!("crm_relay_leader{{topic=\"{DEFAULT_TOPIC}\"}} 0")),
        "{metrics}"
    );

    // Writes through every instance, as a load balancer spreads them.
    let jwt = JwtKeys::from_secret(common::SECRET).expect("JWT keys");
    let token = jwt.issue(
        Uuid::new_v4(),
        "boss",
        Role::Manager,
        Duration::from_secs(600),
    );
    for index in 0..9 {
        let instance = &instances[index % instances.len()];
        customer_with_history(instance, &token, &format!("客户{index}"), 5).await;
    }
    wait_until_relayed(&pool, Duration::from_secs(30)).await;
    let steady = stored_events(&pool).await.len();

    // Steady state: one publisher, so each event is on the topic exactly once
    // and the standbys handed nothing to a producer.
    let messages = read_topic(&broker.address(), DEFAULT_TOPIC, |got| got.len() >= steady);
    assert_eq!(
        messages.len(),
        steady,
        "while one instance leads each event is published once (duplicated positions {:?})",
        duplicated_positions(&messages)
    );
    let seen = readiness_of(&instances, &alive).await;
    for (index, readiness) in seen.iter().enumerate() {
        let readiness = readiness.as_ref().expect("ready");
        assert_eq!(readiness["status"], "ready", "{readiness}");
        if index == leader {
            assert!(published_here(readiness) >= steady as u64, "{readiness}");
        } else {
            assert_eq!(role(readiness), "standby", "{readiness}");
            assert_eq!(
                published_here(readiness),
                0,
                "a standby published: {readiness}"
            );
            assert!(readiness["relay"]["last_error"].is_null(), "{readiness}");
        }
    }

    // Writes go on through the survivors while the leader dies mid-stream.
    let before_kill = head(&pool).await;
    let survivors: Vec<usize> = (0..instances.len()).filter(|i| *i != leader).collect();
    let (stop_writing, mut writing_stopped) = watch::channel(false);
    let writer = {
        let instances = &instances;
        let survivors = survivors.clone();
        let token = token.clone();
        async move {
            let mut index = 0;
            while !*writing_stopped.borrow_and_update() {
                let instance = &instances[survivors[index % survivors.len()]];
                customer_with_history(instance, &token, &format!("接管客户{index}"), 2).await;
                index += 1;
            }
            index
        }
    };
    let takeover = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let killed_at = Instant::now();
        instances[leader].kill();
        let mut after = alive.clone();
        after[leader] = false;
        let next = the_one_leader(&instances, &after, TAKEOVER + Duration::from_secs(1)).await;
        let took = killed_at.elapsed();
        assert!(took < TAKEOVER, "the takeover took {took:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = stop_writing.send(true);
        (next, took)
    };
    let (written, (next, took)) = tokio::join!(writer, takeover);
    alive[leader] = false;
    assert!(written > 0, "nothing was written during the takeover");
    assert_ne!(next, leader);
    // And after it.
    for index in 0..3 {
        let instance = &instances[survivors[index % survivors.len()]];
        customer_with_history(instance, &token, &format!("之后客户{index}"), 3).await;
    }
    wait_until_relayed(&pool, Duration::from_secs(30)).await;

    let seen = readiness_of(&instances, &alive).await;
    for index in survivors.iter().copied().filter(|i| *i != next) {
        let readiness = seen[index].as_ref().expect("ready");
        assert_eq!(role(readiness), "standby", "{readiness}");
        assert_eq!(
            published_here(readiness),
            0,
            "a standby published: {readiness}"
        );
    }
    assert_eq!(role(seen[next].as_ref().expect("ready")), "leader");

    // Every event, in order per key; copies only of what the killed leader
    // may have sent without checkpointing it (after the steady state).
    let stored = stored_events(&pool).await;
    let messages = read_topic(&broker.address(), DEFAULT_TOPIC, |got| {
        let arrived: std::collections::HashSet<Uuid> = got.iter().map(event_id).collect();
        stored.keys().all(|id| arrived.contains(id))
    });
    assert_ordered_with_only_redeliveries(&messages);
    let duplicated = duplicated_positions(&messages);
    eprintln!(
        "instance {next} took over {took:?} after the kill; {} events, {} messages, \
         {written} customers written during the takeover, positions sent twice: {duplicated:?}",
        stored.len(),
        messages.len(),
    );
    assert!(
        duplicated.iter().all(|position| *position > before_kill),
        "events of the steady state were published twice: {duplicated:?} (took over in {took:?})"
    );
    for message in &messages {
        let (key, sequence, position, _) = &stored[&event_id(message)];
        assert_eq!(&message.key, key);
        assert_eq!(message.value["sequence"], *sequence);
        assert_eq!(message.value["position"], *position);
    }
}

/// The leader's lock session ends under it (as in a database restart): it
/// must stop publishing until it holds the lease again.
#[sqlx::test(migrations = "../schema")]
async fn a_relay_that_loses_its_lease_publishes_nothing_until_it_holds_it_again(pool: PgPool) {
    let broker = Broker::start();
    let app = common::TestApp::new(pool.clone());
    let boss = app.manager();
    app.register(&boss, "第一位").await;
    let health = RelayHealth::default();
    let (stop, stopped) = watch::channel(false);
    let config = RelayConfig {
        delivery_timeout: Duration::from_secs(2),
        ..RelayConfig::new(broker.address())
    };
    let running = tokio::spawn(relay::run(pool.clone(), config, health.clone(), stopped));
    wait_until_relayed(&pool, Duration::from_secs(30)).await;
    assert_eq!(health.role(), RelayRole::Leader);

    // End the lock's session and take the lease before the relay can again.
    let mut usurper = Lease::new(&pool.connect_options(), DEFAULT_TOPIC);
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'crm-relay-lease' AND datname = current_database()",
    )
    .fetch_all(&pool)
    .await
    .expect("terminate");
    assert_eq!(ended, [true], "one lease session");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !usurper.refresh().await {
        assert!(Instant::now() < deadline, "the ended session kept the lock");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while health.role() != RelayRole::Standby {
        assert!(
            Instant::now() < deadline,
            "the relay did not notice it lost the lease"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let published = health.published();
    let checkpoint = relay::status(&pool, DEFAULT_TOPIC, None)
        .await
        .expect("status")
        .checkpoint;
    for index in 0..5 {
        app.register(&boss, &format!("无主{index}")).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(health.role(), RelayRole::Standby);
    assert_eq!(health.published(), published, "published without the lease");
    assert_eq!(
        relay::status(&pool, DEFAULT_TOPIC, None)
            .await
            .expect("status")
            .checkpoint
            .position,
        checkpoint.position,
        "checkpointed without the lease"
    );

    usurper.release().await;
    wait_until_relayed(&pool, Duration::from_secs(10)).await;
    assert_eq!(health.role(), RelayRole::Leader);
    assert!(health.published() > published);
    let _ = stop.send(true);
    running.await.expect("relay task");
}

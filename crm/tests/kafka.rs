//! The Kafka relay and the Kafka-fed projector against a real broker
//! (`tansu`, started per test) and a real PostgreSQL.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use common::broker::{
    assert_ordered_with_only_redeliveries, event_id, read_topic, relayed_everything, stored_events,
    wait_until_relayed, Broker,
};
use common::{dump, test_data_keys, TestApp};
use crm::ops::RelayMonitor;
use projector::kafka::KafkaSource;
use projector::runner::{rebuild, Projection};
use relay::{Relay, RelayConfig, RelayHealth, DEFAULT_TOPIC};

fn relay_config(broker: &Broker) -> RelayConfig {
    RelayConfig {
        delivery_timeout: Duration::from_secs(2),
        ..RelayConfig::new(broker.address())
    }
}

/// Steps `relay` until it has sent every event (other tests' open
/// transactions can hold the commit-safe horizon back for a moment).
async fn relay_everything(relay: &Relay, pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !relayed_everything(pool).await {
        assert!(Instant::now() < deadline, "the relay did not catch up");
        if relay.step().await.expect("relay step") == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[sqlx::test(migrations = "../schema")]
async fn the_relay_publishes_every_event_once_in_customer_order(pool: PgPool) {
    let broker = Broker::start();
    let app = TestApp::new(pool.clone());
    common::varied_history(&app).await;
    let relay = Relay::new(pool.clone(), relay_config(&broker)).expect("relay");
    relay.ensure_topic().await.expect("topic");
    relay
        .ensure_topic()
        .await
        .expect("creating an existing topic is fine");
    relay_everything(&relay, &pool).await;

    let stored = stored_events(&pool).await;
    let messages = read_topic(&broker.address(), DEFAULT_TOPIC, |got| {
        got.len() >= stored.len()
    });
    assert_eq!(messages.len(), stored.len(), "each event exactly once");
    assert_ordered_with_only_redeliveries(&messages);
    let partitions: HashSet<i32> = messages.iter().map(|m| m.partition).collect();
    assert!(partitions.iter().all(|p| (0..6).contains(p)));
    for message in &messages {
        let envelope = &message.value;
        let (customer, sequence, position, hash) = &stored[&event_id(message)];
        assert_eq!(&message.key, customer, "keyed by customer");
        assert_eq!(envelope["subject"], customer.as_str());
        assert_eq!(envelope["specversion"], "1.0");
        assert_eq!(envelope["source"], format!("urn:crm:tenant:{}", app.tenant));
        assert_eq!(envelope["tenantid"], app.tenant.to_string());
        assert_eq!(envelope["sequence"], *sequence);
        assert_eq!(envelope["position"], *position);
        assert_eq!(envelope["hash"], hash.as_str());
        assert_eq!(envelope["actor"], "boss");
        assert!(envelope["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("crm.customer.") && t.ends_with(".v1")));
        if envelope["type"] == "crm.customer.registered.v1" {
            assert!(
                envelope["data"]["name"]
                    .as_str()
                    .is_some_and(|name| name.starts_with("sealed:v1:")),
                "personal fields travel sealed: {envelope}"
            );
        }
    }
    let everything = serde_json::to_string(
        &messages
            .iter()
            .map(|message| &message.value)
            .collect::<Vec<_>>(),
    )
    .expect("json");
    for name in ["赵一", "钱二", "孙三", "李四", "13800138000"] {
        assert!(!everything.contains(name), "{name} left in clear");
    }
}

#[sqlx::test(migrations = "../schema")]
async fn commands_succeed_while_the_broker_is_down_and_every_event_arrives_after(pool: PgPool) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("relay=debug,rdkafka=warn")
        .with_test_writer()
        .try_init();
    let mut broker = Broker::start();
    let health = RelayHealth::default();
    let app = TestApp::with_relay(
        pool.clone(),
        RelayMonitor {
            topic: DEFAULT_TOPIC.to_owned(),
            health: health.clone(),
        },
    );
    let (stop, stopped) = watch::channel(false);
    let relay = tokio::spawn(relay::run(
        pool.clone(),
        relay_config(&broker),
        health.clone(),
        stopped,
    ));
    let boss = app.manager();
    let mut customers = Vec::new();
    for index in 0..10 {
        customers.push(app.register(&boss, &format!("客户{index}")).await);
    }
    wait_until_relayed(&pool, Duration::from_secs(60)).await;
    let before_outage: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&pool)
        .await
        .expect("head");

    broker.stop();
    for index in 0..1_000 {
        let customer = customers[index % customers.len()];
        app.call(
            Method::POST,
            &format!("/v1/customers/{customer}/activities"),
            &boss,
            json!({"type": "call", "subject": format!("第{index}次回访")}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while health.last_error().is_none() {
        assert!(
            Instant::now() < deadline,
            "the relay never noticed the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = app
        .send(Method::GET, "/readyz", None, None, &[])
        .await
        .expect(StatusCode::OK)
        .body;
    assert!(ready["relay"]["lag_events"].as_i64() > Some(0), "{ready}");
    assert!(ready["relay"]["last_error"].is_string(), "{ready}");
    let metrics = app.send(Method::GET, "/metrics", None, None, &[]).await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains(&format!("crm_relay_failing{{topic=\"{DEFAULT_TOPIC}\"}} 1")),
        "{text}"
    );
    assert!(text.contains("crm_relay_lag_events{"), "{text}");

    broker.resume();
    wait_until_relayed(&pool, Duration::from_secs(120)).await;
    let ready = app
        .send(Method::GET, "/readyz", None, None, &[])
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(ready["relay"]["lag_events"], 0, "{ready}");
    let _ = stop.send(true);
    relay.await.expect("relay task");

    // The restarted broker kept nothing (in-memory storage): everything from
    // the outage on must be there, in order, with duplicates only as copies.
    let expected: HashSet<Uuid> = stored_events(&pool)
        .await
        .into_iter()
        .filter(|(_, (_, _, position, _))| *position > before_outage)
        .map(|(id, _)| id)
        .collect();
    let messages = read_topic(&broker.address(), DEFAULT_TOPIC, |got| {
        let arrived: HashSet<Uuid> = got.iter().map(event_id).collect();
        expected.is_subset(&arrived)
    });
    assert_ordered_with_only_redeliveries(&messages);
    let arrived: HashSet<Uuid> = messages.iter().map(event_id).collect();
    let missing: Vec<_> = expected.difference(&arrived).collect();
    assert!(missing.is_empty(), "{} events never arrived", missing.len());
    assert!(arrived.len() >= 1_000);
}

#[sqlx::test(migrations = "../schema")]
async fn a_relay_killed_between_produce_and_checkpoint_sends_the_batch_again(pool: PgPool) {
    let broker = Broker::start();
    let app = TestApp::new(pool.clone());
    common::varied_history(&app).await;
    let crashed = Relay::new(pool.clone(), relay_config(&broker)).expect("relay");
    crashed.ensure_topic().await.expect("topic");
    let deadline = Instant::now() + Duration::from_secs(60);
    let batch = loop {
        let batch = crashed
            .read(crashed.checkpoint().await.expect("checkpoint"))
            .await
            .expect("read");
        if batch.len() as i64 == app.event_count().await {
            break batch;
        }
        assert!(Instant::now() < deadline, "events never became readable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    crashed.deliver(&batch).await.expect("delivered");
    drop(crashed); // …and the process dies before `commit`.

    let restarted = Relay::new(pool.clone(), relay_config(&broker)).expect("relay");
    relay_everything(&restarted, &pool).await;
    let messages = read_topic(&broker.address(), DEFAULT_TOPIC, |got| {
        got.len() >= 2 * batch.len()
    });
    assert_eq!(messages.len(), 2 * batch.len(), "the batch went out twice");
    assert_ordered_with_only_redeliveries(&messages);
    let mut copies: HashMap<Uuid, usize> = HashMap::new();
    for message in &messages {
        *copies.entry(event_id(message)).or_default() += 1;
    }
    let stored = stored_events(&pool).await;
    assert_eq!(copies.len(), stored.len(), "nothing lost");
    assert!(copies.values().all(|count| *count == 2));
}

/// Waits until the group's stored offsets reach every partition's end.
async fn wait_until_consumed(pool: &PgPool, source: &KafkaSource, end: &BTreeMap<i32, i64>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored = projector::kafka::offsets(pool, &source.group, &source.topic)
            .await
            .expect("offsets");
        if end
            .iter()
            .all(|(partition, end)| stored.get(partition).copied().unwrap_or(0) >= *end)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "consumed only {stored:?} of {end:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrations = "../schema")]
async fn read_models_fed_from_kafka_equal_those_fed_from_postgres_even_after_a_kill(pool: PgPool) {
    let broker = Broker::start();
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    common::varied_history(&app).await;
    let mut customers = Vec::new();
    for index in 0..30 {
        let id = app.register(&boss, &format!("批量客户{index}")).await;
        for step in 0..6 {
            app.call(
                Method::POST,
                &format!("/v1/customers/{id}/activities"),
                &boss,
                json!({"type": "visit", "subject": format!("拜访{step}")}),
            )
            .await
            .expect(StatusCode::OK);
        }
        customers.push(id);
    }
    app.call(
        Method::POST,
        &format!("/v1/customers/{}/forget", customers[0]),
        &app.token(web::Role::Admin, "root"),
        json!({"reason": "客户要求删除"}),
    )
    .await
    .expect(StatusCode::OK);
    // The directory's events travel too (last: once the tenant has a
    // directory, owners must be its users).
    let admin = app.token(web::Role::Admin, "root");
    let user = app
        .call(
            Method::POST,
            "/v1/users",
            &admin,
            json!({"login": "rep-k", "display_name": "卡夫卡", "phone": "13800138000", "role": "rep"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    let team = app
        .call(Method::POST, "/v1/teams", &admin, json!({"name": "消息组"}))
        .await
        .expect(StatusCode::CREATED)
        .id();
    app.call(
        Method::PUT,
        &format!("/v1/teams/{team}/members/rep-k"),
        &admin,
        json!({"role": "member"}),
    )
    .await
    .expect(StatusCode::OK);
    let relay = Relay::new(pool.clone(), relay_config(&broker)).expect("relay");
    relay.ensure_topic().await.expect("topic");
    relay_everything(&relay, &pool).await;
    let total = app.event_count().await as usize;
    let messages = read_topic(&broker.address(), DEFAULT_TOPIC, |got| got.len() >= total);
    let invited = messages
        .iter()
        .find(|message| message.value["type"] == "crm.user.invited.v1")
        .expect("the user's invitation is on the topic");
    assert_eq!(invited.key, user.to_string(), "keyed by the user's stream");
    assert_eq!(invited.value["subject"], user.to_string());
    assert_eq!(invited.value["data"]["login"], "rep-k");
    let sealed = invited.value["data"]["display_name"]
        .as_str()
        .expect("display name");
    assert!(sealed.starts_with("sealed:"), "{sealed}");
    assert!(!invited.value.to_string().contains("13800138000"));
    for team_type in ["crm.team.created.v1", "crm.team.member_added.v1"] {
        assert!(
            messages
                .iter()
                .any(|message| message.value["type"] == team_type
                    && message.value["subject"] == team.to_string()),
            "no {team_type}"
        );
    }
    let mut end: BTreeMap<i32, i64> = BTreeMap::new();
    for message in &messages {
        let slot = end.entry(message.partition).or_default();
        *slot = (*slot).max(message.offset + 1);
    }

    // tansu cannot fetch from inside a record batch, and a kill leaves the
    // group's offset wherever the last batch ended: read from the start.
    let source = KafkaSource {
        batch: 25,
        resume: projector::kafka::Resume::Beginning,
        ..KafkaSource::new(broker.address(), DEFAULT_TOPIC)
    };
    let keys = test_data_keys(&pool);
    // Killed mid-way: the task is dropped wherever it is, an open batch
    // transaction included.
    let (_stop, stopped) = watch::channel(false);
    let first = tokio::spawn(projector::kafka::run(
        pool.clone(),
        keys.clone(),
        source.clone(),
        Projection::ALL.to_vec(),
        stopped,
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while projector::kafka::offsets(&pool, &source.group, &source.topic)
        .await
        .expect("offsets")
        .values()
        .all(|offset| *offset == 0)
    {
        assert!(
            Instant::now() < deadline,
            "the Kafka projector applied nothing"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.abort();
    let _ = first.await;

    let (stop, stopped) = watch::channel(false);
    let second = tokio::spawn(projector::kafka::run(
        pool.clone(),
        keys.clone(),
        source.clone(),
        Projection::ALL.to_vec(),
        stopped,
    ));
    wait_until_consumed(&pool, &source, &end).await;
    let _ = stop.send(true);
    second.await.expect("projector task");
    let from_kafka = dump(&pool).await;
    // Users' and teams' events are passed, not dead-lettered.
    let letters = store::dead_letters::list(&pool, None)
        .await
        .expect("dead letters");
    assert!(letters.is_empty(), "{letters:?}");

    // Redelivered messages change nothing: the stored offsets and applied
    // counts stay, and so do the read models (which also ignore events they
    // already reflect, so they alone would not show a redelivery applied).
    let applied_count = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT sum(events)::bigint FROM kafka_offsets WHERE consumer_group = $1",
        )
        .bind(&source.group)
        .fetch_one(&pool)
        .await
        .expect("applied count")
    };
    let applied_before = applied_count().await;
    let offsets_before = projector::kafka::offsets(&pool, &source.group, &source.topic)
        .await
        .expect("offsets");
    let redelivered: Vec<_> = messages
        .iter()
        .map(|message| projector::kafka::Delivered {
            partition: message.partition,
            offset: message.offset,
            event: Ok(
                projector::kafka::decode(message.value.to_string().as_bytes()).expect("decode"),
            ),
        })
        .collect();
    projector::kafka::apply(&pool, &keys, &source, &Projection::ALL, &redelivered)
        .await
        .expect("apply");
    assert_eq!(
        applied_count().await,
        applied_before,
        "redeliveries were applied"
    );
    assert_eq!(
        projector::kafka::offsets(&pool, &source.group, &source.topic)
            .await
            .expect("offsets"),
        offsets_before
    );
    assert_eq!(dump(&pool).await, from_kafka);

    rebuild(&pool, &keys, &Projection::ALL, |_, _| {})
        .await
        .expect("rebuild from PostgreSQL");
    let from_postgres = dump(&pool).await;
    assert_eq!(from_kafka, from_postgres);
    let forgotten = &from_kafka["rm_customers"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["id"] == customers[0].to_string())
        .expect("forgotten customer")["name"];
    assert_eq!(forgotten, events::personal::ERASED);
}

#[sqlx::test(migrations = "../schema")]
async fn the_relay_dead_letters_an_event_the_broker_refuses_and_goes_on(pool: PgPool) {
    let broker = Broker::start();
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let customer = app.register(&boss, "大消息").await;
    // Larger than the producer may send (sealed, about 16 kB).
    let refused = app
        .call(
            Method::POST,
            &format!("/v1/customers/{customer}/activities"),
            &boss,
            json!({"type": "email", "notes": "很长".repeat(2000)}),
        )
        .await
        .expect(StatusCode::OK)
        .position();
    app.register(&boss, "之后的客户").await;
    let config = RelayConfig {
        max_message_bytes: 4_000,
        ..relay_config(&broker)
    };
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(relay::run(
        pool.clone(),
        config,
        RelayHealth::default(),
        stopped,
    ));
    wait_until_relayed(&pool, Duration::from_secs(60)).await;
    let _ = stop.send(true);
    running.await.expect("relay task");

    let consumer = format!("relay:{DEFAULT_TOPIC}");
    let letters = store::dead_letters::list(&pool, Some(&consumer))
        .await
        .expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].position, refused);
    assert_eq!(
        letters[0].attempts,
        i32::try_from(store::dead_letters::RETRY_BUDGET).expect("budget")
    );
    assert!(
        letters[0].error.to_lowercase().contains("size"),
        "{}",
        letters[0].error
    );
    let total = app.event_count().await as usize;
    let messages = read_topic(&broker.address(), DEFAULT_TOPIC, |got| {
        got.len() >= total - 1
    });
    let positions: HashSet<i64> = messages
        .iter()
        .filter_map(|message| message.value["position"].as_i64())
        .collect();
    assert_eq!(positions.len(), total - 1, "every other event went out");
    assert!(!positions.contains(&refused));
}

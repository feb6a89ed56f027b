//! Events the read side cannot apply: text PostgreSQL cannot store, events
//! that fail to apply, rows that do not decode. No projection may stop on
//! one, and one tenant's bad event may not hold back another's read models.

mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use common::{
    dump, project, test_data_keys, RunningProjector, TestApp, LEGACY_NOTES, LEGACY_SUBJECT,
};
use projector::runner::{rebuild, retry, Projection};
use store::dead_letters::{self, RETRY_BUDGET};

/// What PostgreSQL stores for U+0000 (and what every read path then shows).
fn storable(text: &str) -> String {
    text.replace('\u{0}', "\u{fffd}")
}

async fn dead_letter_positions(pool: &PgPool, consumer: &str) -> Vec<i64> {
    dead_letters::list(pool, Some(consumer))
        .await
        .expect("dead letters")
        .into_iter()
        .map(|letter| letter.position)
        .collect()
}

/// The timeline entries of `customer` through the route, oldest first.
async fn timeline(app: &TestApp, customer: Uuid) -> Vec<Value> {
    let reply = app
        .call(
            Method::GET,
            &format!("/v1/customers/{customer}/timeline?limit=100"),
            &app.manager(),
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    let mut entries = reply.body["items"].as_array().expect("items").clone();
    entries.reverse();
    entries
}

async fn wait_for(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[sqlx::test(migrations = "../schema")]
async fn text_postgresql_cannot_store_reads_as_the_replacement_character_everywhere(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let ids = common::varied_history(&app).await;
    project(&pool).await;
    assert!(
        dead_letters::list(&pool, None)
            .await
            .expect("dead letters")
            .is_empty(),
        "nothing was dead-lettered: the text was stored in its storable form"
    );
    let legacy = timeline(&app, ids[1])
        .await
        .into_iter()
        .find(|entry| entry["details"]["notes"].is_string())
        .expect("the legacy activity is on the timeline");
    assert_eq!(legacy["details"]["notes"], storable(LEGACY_NOTES));
    assert_eq!(legacy["details"]["subject"], LEGACY_SUBJECT);

    // The auditors' view and the analysts' stream read the log itself, so
    // they show the text as it was recorded.
    let audit = app
        .call(
            Method::GET,
            &format!("/v1/audit/customers/{}/events", ids[1]),
            &app.token(web::Role::Auditor, "auditor"),
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        audit.body.to_string().contains("\\u0000"),
        "the audit view shows the recorded notes: {}",
        audit.body
    );
    app.call(
        Method::GET,
        "/v1/events?limit=1000",
        &app.manager(),
        Value::Null,
    )
    .await
    .expect(StatusCode::OK);

    let live = dump(&pool).await;
    rebuild(&pool, &test_data_keys(&pool), &Projection::ALL, |_, _| {})
        .await
        .expect("rebuild");
    assert_eq!(
        dump(&pool).await,
        live,
        "the rebuild (COPY) stores the same text"
    );
}

/// Stands for any event a read model cannot take (a value out of a column's
/// range, a rule of a newer schema): the timeline refuses one subject.
async fn refuse_subject_in_timeline(pool: &PgPool, subject: &str) {
    sqlx::query(&format!(
        "ALTER TABLE rm_timeline ADD CONSTRAINT refuses_poison
            CHECK (coalesce(details ->> 'subject', '') <> '{subject}')"
    ))
    .execute(pool)
    .await
    .expect("constraint");
}

async fn log_call(app: &TestApp, customer: Uuid, subject: &str) -> i64 {
    app.call(
        Method::POST,
        &format!("/v1/customers/{customer}/activities"),
        &app.manager(),
        json!({"type": "call", "subject": subject}),
    )
    .await
    .expect(StatusCode::OK)
    .position()
}

async fn applied(pool: &PgPool, projections: &[Projection], position: i64) -> bool {
    projector::runner::has_applied(pool, projections, position)
        .await
        .expect("applied")
}

#[sqlx::test(migrations = "../schema")]
async fn a_poison_event_is_retried_then_dead_lettered_while_other_tenants_keep_updating(
    pool: PgPool,
) {
    let app = TestApp::new(pool.clone());
    let other_tenant = TestApp::new(pool.clone());
    let poisoned = app.register(&app.manager(), "甲公司客户").await;
    let neighbour = other_tenant
        .register(&other_tenant.manager(), "乙公司客户")
        .await;
    project(&pool).await;
    refuse_subject_in_timeline(&pool, "毒药").await;

    let projector = RunningProjector::start(&pool);
    let poison = log_call(&app, poisoned, "毒药").await;
    let neighbour_call = log_call(&other_tenant, neighbour, "正常回访").await;
    let delay = wait_for(
        "the other tenant's timeline moves past the poison event",
        Duration::from_secs(15),
        async || applied(&pool, &[Projection::Timeline], neighbour_call).await,
    )
    .await;
    // The retry budget: RETRY_BUDGET attempts, RETRY_PAUSE apart.
    let budget = dead_letters::RETRY_PAUSE * RETRY_BUDGET + Duration::from_secs(3);
    assert!(delay < budget, "held back {delay:?}, budget {budget:?}");
    assert_eq!(dead_letter_positions(&pool, "timeline").await, [poison]);
    assert!(
        dead_letter_positions(&pool, "customers").await.is_empty(),
        "the customers projection took the event"
    );
    let letter = &dead_letters::list(&pool, Some("timeline"))
        .await
        .expect("list")[0];
    assert_eq!(
        letter.attempts,
        i32::try_from(RETRY_BUDGET).expect("budget")
    );
    assert_eq!(letter.tenant_id, Some(app.tenant));
    assert!(letter.error.contains("refuses_poison"), "{}", letter.error);
    assert_eq!(letter.source, "postgres");

    // The poisoned customer's later events are applied too.
    let later = log_call(&app, poisoned, "之后的回访").await;
    wait_for(
        "later events of the same customer",
        Duration::from_secs(10),
        async || applied(&pool, &Projection::ALL, later).await,
    )
    .await;
    let subjects = |entries: Vec<Value>| -> Vec<Value> {
        entries
            .into_iter()
            .filter(|entry| entry["kind"] == "activity")
            .map(|entry| entry["details"]["subject"].clone())
            .collect()
    };
    assert_eq!(
        subjects(timeline(&app, poisoned).await),
        [json!("之后的回访")]
    );

    // Operations see it: ready but degraded, counted in /metrics.
    let ready = app
        .send(Method::GET, "/readyz", None, None, &[])
        .await
        .expect(StatusCode::OK);
    assert_eq!(ready.body["status"], "degraded");
    assert_eq!(
        ready.body["dead_letters"],
        json!([{"consumer": "timeline", "events": 1}])
    );
    let metrics = app.send(Method::GET, "/metrics", None, None, &[]).await;
    let metrics = metrics.body.as_str().unwrap_or_default();
    assert!(
        metrics.contains("crm_dead_letters{consumer=\"timeline\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("crm_dead_letters{consumer=\"customers\"} 0"));
    projector.stop().await;

    // After the fix, `crm projector retry` applies it, in its place.
    let keys = test_data_keys(&pool);
    let still = retry(&pool, &keys, Projection::Timeline, None)
        .await
        .expect("retry");
    assert!(still.applied.is_empty());
    assert_eq!(still.failing.len(), 1, "not fixed yet: still failing");
    assert_eq!(
        dead_letters::list(&pool, Some("timeline"))
            .await
            .expect("list")[0]
            .attempts,
        i32::try_from(RETRY_BUDGET + 1).expect("attempts")
    );
    sqlx::query("ALTER TABLE rm_timeline DROP CONSTRAINT refuses_poison")
        .execute(&pool)
        .await
        .expect("the fix");
    let fixed = retry(&pool, &keys, Projection::Timeline, Some(poison))
        .await
        .expect("retry");
    assert_eq!(fixed.applied, [poison]);
    assert!(fixed.failing.is_empty());
    assert!(dead_letters::list(&pool, None)
        .await
        .expect("list")
        .is_empty());
    assert_eq!(
        subjects(timeline(&app, poisoned).await),
        [json!("毒药"), json!("之后的回访")]
    );
    let ready = app
        .send(Method::GET, "/readyz", None, None, &[])
        .await
        .expect(StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
    let live = dump(&pool).await;
    rebuild(&pool, &keys, &Projection::ALL, |_, _| {})
        .await
        .expect("rebuild");
    assert_eq!(
        dump(&pool).await,
        live,
        "the retried stream equals a rebuild"
    );
}

#[sqlx::test(migrations = "../schema")]
async fn an_event_that_does_not_decode_is_dead_lettered_at_once_and_passed(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let customer = app.register(&app.manager(), "未来版本").await;
    // An event of a version this build does not know (written by a newer one).
    let unknown: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, tenant_id, occurred_at)
         VALUES ('Customer', $1, 2, 'CustomerTagged', '99', $2, $3, $4, now())
         RETURNING global_position",
    )
    .bind(customer.to_string())
    .bind(json!({"CustomerTagged": {"tag": "未来"}}))
    .bind(json!({"tenant_id": app.tenant.to_string(), "actor": "newer-build"}))
    .bind(app.tenant)
    .fetch_one(&pool)
    .await
    .expect("append");
    let after = log_call(&app, app.register(&app.manager(), "之后").await, "回访").await;
    project(&pool).await;
    assert!(applied(&pool, &Projection::ALL, after).await);
    for projection in Projection::ALL {
        let letters = dead_letters::list(&pool, Some(projection.name()))
            .await
            .expect("list");
        assert_eq!(letters.len(), 1, "{}", projection.name());
        assert_eq!(letters[0].position, unknown);
        assert_eq!(letters[0].attempts, 1, "decoding is not retried");
        assert!(
            letters[0].error.contains("version 99"),
            "{}",
            letters[0].error
        );
        assert_eq!(
            letters[0].aggregate_id.as_deref(),
            Some(&*customer.to_string())
        );
    }
    let retried = retry(&pool, &test_data_keys(&pool), Projection::Customers, None)
        .await
        .expect("retry");
    assert_eq!(retried.failing.len(), 1, "still unknown to this build");
    // A rebuild passes it too, and keeps it dead-lettered.
    rebuild(&pool, &test_data_keys(&pool), &Projection::ALL, |_, _| {})
        .await
        .expect("rebuild");
    assert_eq!(dead_letter_positions(&pool, "timeline").await, [unknown]);
    assert_eq!(dead_letter_positions(&pool, "customers").await, [unknown]);
}

/// Characters that test the edges: what PostgreSQL cannot store, controls,
/// noncharacters, bidirectional marks, what COPY, JSON and array literals
/// escape, and ordinary Chinese text.
const EDGES: &[char] = &[
    '\u{0}',
    '\u{1}',
    '\u{1f}',
    '\u{7f}',
    '\u{85}',
    '\u{9f}',
    '\t',
    '\n',
    '\r',
    '\u{200f}',
    '\u{202e}',
    '\u{fdd0}',
    '\u{fffe}',
    '\u{ffff}',
    '\u{10ffff}',
    '\u{feff}',
    '\u{301}',
    '\\',
    '"',
    '\'',
    '{',
    '}',
    ',',
    ' ',
    '%',
    '😀',
];
const ORDINARY: &[char] = &['a', 'Z', '0', '张', '三', '科', '技', '-', '.'];

/// Mostly ordinary characters, so that many strings are accepted, with an
/// edge character in about one place of twelve.
fn random_text(rng: &mut impl rand::Rng) -> String {
    let length = rng.gen_range(0..16);
    (0..length)
        .map(|_| {
            if rng.gen_ratio(1, 12) {
                EDGES[rng.gen_range(0..EDGES.len())]
            } else {
                ORDINARY[rng.gen_range(0..ORDINARY.len())]
            }
        })
        .collect()
}

/// Property: any text the command routes accept, in any field, projects
/// (live and rebuilt alike), and nothing answers 500.
#[sqlx::test(migrations = "../schema")]
async fn random_text_accepted_by_the_routes_always_projects(pool: PgPool) {
    use rand::SeedableRng;
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let customer = app.register(&boss, "随机文本").await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_201);
    let mut accepted = 0;
    for round in 0..150 {
        let text = random_text(&mut rng);
        let (method, uri, body) = match round % 8 {
            0 => (
                Method::POST,
                "/v1/customers".to_owned(),
                json!({"name": text, "company": text}),
            ),
            1 => (
                Method::PATCH,
                format!("/v1/customers/{customer}"),
                json!({"industry": text, "position": text, "source": text}),
            ),
            2 => (
                Method::POST,
                format!("/v1/customers/{customer}/activities"),
                json!({"type": "visit", "subject": text}),
            ),
            3 => (
                Method::POST,
                format!("/v1/customers/{customer}/activities"),
                json!({"type": "email", "notes": text}),
            ),
            4 => (
                Method::POST,
                format!("/v1/customers/{customer}/purchases"),
                json!({"amount": "10", "category": text, "order_ref": text}),
            ),
            5 => (
                Method::POST,
                format!("/v1/customers/{customer}/tags"),
                json!({"tag": text}),
            ),
            6 => (
                Method::PUT,
                format!("/v1/customers/{customer}/owner"),
                json!({"owner_id": text}),
            ),
            _ => (
                Method::PUT,
                format!("/v1/customers/{customer}/stage"),
                json!({"stage": if round % 16 == 7 { "proposal" } else { "qualified" }, "reason": text}),
            ),
        };
        let reply = app.call(method, &uri, &boss, body.clone()).await;
        assert!(
            reply.status.is_success() || reply.status.is_client_error(),
            "{uri} {body} answered {}: {}",
            reply.status,
            reply.body
        );
        if reply.status.is_success() {
            accepted += 1;
        }
    }
    assert!(
        accepted > 40,
        "only {accepted} accepted: the property says little"
    );
    project(&pool).await;
    assert!(dead_letters::list(&pool, None)
        .await
        .expect("list")
        .is_empty());
    let live = dump(&pool).await;
    rebuild(&pool, &test_data_keys(&pool), &Projection::ALL, |_, _| {})
        .await
        .expect("rebuild");
    assert_eq!(dump(&pool).await, live);
}

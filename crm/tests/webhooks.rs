//! Tenant webhooks end to end: the admin routes on the real router, the
//! outbox reader and sender on a real database, and a real HTTP receiver on
//! 127.0.0.1 that fails, times out and recovers as each test scripts it.
//! Signatures are checked here with this file's own HMAC, as a receiver
//! following the Standard Webhooks specification would.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use common::TestApp;
use crm::app::{router, AppState};
use web::Role;
use webhooks::{AddressPolicy, AdminAlerts, EndpointDisabled, RetrySchedule, WebhookSettings};

/// What the receiver answers one request: after `delay`, `status`.
#[derive(Clone, Copy)]
struct Reply {
    status: u16,
    delay: Duration,
}

fn answer(status: u16) -> Reply {
    Reply {
        status,
        delay: Duration::ZERO,
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    /// What the receiver answers (or would have, had the sender waited).
    status: u16,
    /// False while it is being answered, or when the sender gave up waiting.
    answered: bool,
    /// Requests with this webhook-id in flight when it arrived (besides itself).
    concurrent: usize,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

/// Counts a request as in flight until it is answered or dropped.
struct InFlight {
    log: Arc<Mutex<Log>>,
    id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut log) = self.log.lock() {
            if let Some(flying) = log.in_flight.get_mut(&self.id) {
                *flying -= 1;
            }
        }
    }
}

type Script = dyn Fn(&str, usize) -> Reply + Send + Sync;

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    in_flight: HashMap<String, usize>,
    seen: HashMap<String, usize>,
}

/// An HTTP receiver on 127.0.0.1; `script(webhook-id, nth request of that id)` decides each answer.
#[derive(Clone)]
struct Receiver {
    address: SocketAddr,
    log: Arc<Mutex<Log>>,
    script: Arc<Mutex<Arc<Script>>>,
}

impl Receiver {
    async fn start(script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let receiver = Receiver {
            address: listener.local_addr().expect("address"),
            log: Arc::default(),
            script: Arc::new(Mutex::new(Arc::new(script))),
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move { state.handle(headers, body).await }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    fn rescript(&self, script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) {
        *self.script.lock().expect("script") = Arc::new(script);
    }

    async fn handle(&self, headers: HeaderMap, body: String) -> StatusCode {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let id = header("webhook-id");
        let (nth, concurrent) = {
            let mut log = self.log.lock().expect("log");
            let nth = *log
                .seen
                .entry(id.clone())
                .and_modify(|n| *n += 1)
                .or_insert(1);
            let flying = log.in_flight.entry(id.clone()).or_insert(0);
            let concurrent = *flying;
            *flying += 1;
            (nth, concurrent)
        };
        let script = self.script.lock().expect("script").clone();
        let reply = script(&id, nth);
        // Logged on arrival: a request the sender gives up on (a timeout)
        // is dropped before it is answered, and counts as received only.
        let index = {
            let mut log = self.log.lock().expect("log");
            log.received.push(Received {
                id: id.clone(),
                timestamp: header("webhook-timestamp"),
                signature: header("webhook-signature"),
                body,
                status: reply.status,
                answered: false,
                concurrent,
            });
            log.received.len() - 1
        };
        let in_flight = InFlight {
            log: self.log.clone(),
            id,
        };
        tokio::time::sleep(reply.delay).await;
        self.log.lock().expect("log").received[index].answered = true;
        drop(in_flight);
        StatusCode::from_u16(reply.status).expect("status")
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().expect("log").received.clone()
    }

    fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered && (200..300).contains(&r.status))
            .collect()
    }
}

/// The specification's verification, written independently of the crate:
/// HMAC-SHA256 over `{id}.{timestamp}.{body}` with the base64 key after
/// `whsec_`; any of the space-separated `v1,` signatures may match.
fn verifies(secret: &str, received: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    received
        .signature
        .split(' ')
        .filter_map(|part| part.strip_prefix("v1,"))
        .any(|signature| signature == expected)
}

fn settings(retries: &str) -> WebhookSettings {
    WebhookSettings {
        addresses: AddressPolicy {
            allow_private: true,
        },
        timeout: Duration::from_millis(300),
        retries: retries.parse::<RetrySchedule>().expect("schedule"),
        disable_after_dead_letters: 2,
        poll_interval: Duration::from_millis(20),
        ..WebhookSettings::default()
    }
}

/// An app whose webhook routes check URLs with `settings`.
fn app_with(pool: PgPool, settings: &WebhookSettings) -> TestApp {
    let mut app = TestApp::new(pool.clone());
    let mut state = AppState::new(pool, app.jwt.clone(), app.data_keys.clone());
    state.webhooks = Arc::new(settings.clone());
    app.router = router(state);
    app
}

#[derive(Default)]
struct RecordedAlerts(Mutex<Vec<EndpointDisabled>>);

#[async_trait::async_trait]
impl AdminAlerts for RecordedAlerts {
    async fn endpoint_disabled(
        &self,
        _conn: &mut sqlx::PgConnection,
        alert: &EndpointDisabled,
    ) -> Result<(), sqlx::Error> {
        self.0.lock().expect("alerts").push(alert.clone());
        Ok(())
    }
}

/// Runs the reader and sender until the returned sender says stop.
fn start(
    app: &TestApp,
    settings: &WebhookSettings,
    alerts: Arc<dyn AdminAlerts>,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(webhooks::run(
        app.pool.clone(),
        app.data_keys.clone(),
        settings.clone(),
        alerts,
        stopped,
    ));
    (stop, task)
}

async fn eventually(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Registers an endpoint as the tenant's admin; answers (id, secret).
async fn register_endpoint(app: &TestApp, url: &str, types: &[&str]) -> (Uuid, String) {
    let admin = app.token(Role::Admin, "admin-1");
    let reply = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &admin,
            json!({"url": url, "event_types": types}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = reply.body["endpoint"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    (
        id,
        reply.body["secret"].as_str().expect("secret").to_owned(),
    )
}

async fn event_ids(app: &TestApp, customer: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT event_id::text FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(customer.to_string())
    .fetch_all(&app.pool)
    .await
    .expect("event ids")
}

#[sqlx::test(migrations = "../schema")]
async fn deliveries_are_signed_and_retried_with_the_same_id(pool: PgPool) {
    let settings = settings("100ms,100ms,100ms");
    let app = app_with(pool, &settings);
    // Each delivery: a 500, a timeout, then accepted.
    let receiver = Receiver::start(|_, nth| match nth {
        1 => answer(500),
        2 => Reply {
            status: 200,
            delay: Duration::from_millis(1_000),
        },
        _ => answer(204),
    })
    .await;
    let (endpoint, secret) = register_endpoint(&app, &receiver.url(), &["crm.customer.*"]).await;
    let (stop, task) = start(&app, &settings, Arc::new(RecordedAlerts::default()));
    let customer = app.register(&app.manager(), "张三").await;
    let event = event_ids(&app, customer).await.remove(0);
    eventually("the delivery to succeed", Duration::from_secs(10), || {
        !receiver.delivered().is_empty()
    })
    .await;
    let received = receiver.received();
    let attempts: Vec<&Received> = received.iter().filter(|r| r.id == event).collect();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    for attempt in &attempts {
        assert!(verifies(&secret, attempt), "signature of {attempt:?}");
        assert!(!verifies(
            &format!("whsec_{}", STANDARD.encode([7u8; 32])),
            attempt
        ));
        let sent_at: i64 = attempt.timestamp.parse().expect("unix seconds");
        assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
        assert_eq!(attempt.body, attempts[0].body, "the same body every time");
    }
    let body = attempts[0].json();
    assert_eq!(body["id"], event.as_str());
    assert_eq!(body["type"], "crm.customer.registered.v1");
    assert_eq!(body["subject"], customer.to_string());
    assert_eq!(body["tenantid"], app.tenant.to_string());
    assert_eq!(
        body["data"]["name"],
        events::personal::WITHHELD,
        "as GET /v1/events"
    );
    assert_eq!(body["data"]["company"], "星辰科技");
    // A tampered body does not verify.
    let mut tampered = attempts[0].clone();
    tampered.body = tampered.body.replace("星辰", "月亮");
    assert!(!verifies(&secret, &tampered));

    let admin = app.token(Role::Admin, "admin-1");
    // The receiver answers before the sender records the attempt.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let items = loop {
        let log = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{endpoint}/attempts"),
                &admin,
                Value::Null,
            )
            .await
            .expect(StatusCode::OK);
        let items = log.body["items"].as_array().expect("items").clone();
        if items.len() >= 3 || std::time::Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let oldest_first: Vec<&Value> = items.iter().rev().collect();
    assert_eq!(oldest_first[0]["status_code"], 500);
    assert_eq!(
        oldest_first[0]["error"],
        "answered 500 Internal Server Error"
    );
    assert_eq!(
        oldest_first[1]["status_code"],
        Value::Null,
        "timed out: {}",
        oldest_first[1]
    );
    assert!(oldest_first[1]["error"]
        .as_str()
        .expect("error")
        .contains("no complete answer"));
    assert_eq!(oldest_first[2]["status_code"], 204);
    assert!(oldest_first
        .iter()
        .all(|a| a["message_id"] == event.as_str()));
    let detail = app
        .call(
            Method::GET,
            &format!("/v1/webhooks/{endpoint}"),
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(detail.body["pending"], 0);
    assert!(detail.body.get("secret").is_none(), "never shown again");
    let _ = stop.send(true);
    task.await.expect("loops");
}

#[sqlx::test(migrations = "../schema")]
async fn order_per_customer_holds_while_one_retries(pool: PgPool) {
    let settings = settings("200ms,200ms,200ms,200ms");
    let app = app_with(pool, &settings);
    let failing: Arc<Mutex<Option<String>>> = Arc::default();
    let first = failing.clone();
    // The first event of the first customer fails three times.
    let receiver = Receiver::start(move |id, nth| {
        let fails = first.lock().expect("failing").as_deref() == Some(id);
        if fails && nth <= 3 {
            answer(503)
        } else {
            answer(200)
        }
    })
    .await;
    register_endpoint(&app, &receiver.url(), &["crm.customer.*"]).await;
    let boss = app.manager();
    // Written before the loops start, so the first pass sees them all.
    let slow = app.register(&boss, "慢客户").await;
    let slow_events = event_ids(&app, slow).await;
    *failing.lock().expect("failing") = Some(slow_events[0].clone());
    for stage in ["qualified", "proposal"] {
        app.call(
            Method::PUT,
            &format!("/v1/customers/{slow}/stage"),
            &boss,
            json!({"stage": stage}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let other = app.register(&boss, "快客户").await;
    let slow_events = event_ids(&app, slow).await;
    let other_event = event_ids(&app, other).await.remove(0);
    let (stop, task) = start(&app, &settings, Arc::new(RecordedAlerts::default()));
    eventually("every delivery", Duration::from_secs(10), || {
        receiver.delivered().len() == 4
    })
    .await;
    let received = receiver.received();
    let order: Vec<&str> = received
        .iter()
        .filter(|r| slow_events.contains(&r.id))
        .map(|r| r.id.as_str())
        .collect();
    // Three failures of the first event, then each event once, in order.
    let mut expected = vec![slow_events[0].as_str(); 4];
    expected.extend(slow_events[1..].iter().map(String::as_str));
    assert_eq!(order, expected);
    let position = |id: &str| received.iter().position(|r| r.id == id).expect("received");
    assert!(
        position(&other_event)
            < received
                .iter()
                .rposition(|r| r.id == slow_events[0])
                .expect("slow"),
        "another customer's delivery does not wait for the retrying one"
    );
    let _ = stop.send(true);
    task.await.expect("loops");
}

#[sqlx::test(migrations = "../schema")]
async fn dead_letters_disable_the_endpoint_and_replay_after_a_fix(pool: PgPool) {
    let settings = settings("50ms,50ms");
    let app = app_with(pool, &settings);
    let receiver = Receiver::start(|_, _| answer(500)).await;
    let (endpoint, secret) =
        register_endpoint(&app, &receiver.url(), &["crm.customer.registered.v1"]).await;
    let alerts = Arc::new(RecordedAlerts::default());
    let (stop, task) = start(&app, &settings, alerts.clone());
    let boss = app.manager();
    let first = app.register(&boss, "甲").await;
    let second = app.register(&boss, "乙").await;
    let admin = app.token(Role::Admin, "admin-1");
    let base = format!("/v1/webhooks/{endpoint}");
    eventually("two dead letters", Duration::from_secs(10), || {
        alerts.0.lock().expect("alerts").len() == 1
    })
    .await;
    // Three attempts each (the first and two retries), then dead.
    assert_eq!(receiver.received().len(), 6);
    let dead = app
        .call(
            Method::GET,
            &format!("{base}/dead-letters"),
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    let items = dead.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert!(items
        .iter()
        .all(|d| d["attempts"] == 3 && d["last_error"] == "answered 500 Internal Server Error"));
    let detail = app
        .call(Method::GET, &base, &admin, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(detail.body["enabled"], false);
    assert!(detail.body["disabled_reason"]
        .as_str()
        .expect("reason")
        .contains("2 deliveries in a row"));
    assert_eq!(detail.body["dead_letters"], 2);
    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_endpoint_disablements WHERE endpoint_id = $1",
    )
    .bind(endpoint)
    .fetch_one(&app.pool)
    .await
    .expect("disablements");
    assert_eq!(recorded, 1);
    assert_eq!(alerts.0.lock().expect("alerts")[0].endpoint_id, endpoint);

    // Disabled: nothing is written for it, nothing sent.
    let third = app.register(&boss, "丙").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 6, "nothing sent while disabled");
    let written: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE ordering_key = $1")
            .bind(third.to_string())
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(written, 0);

    // Fixed: replay one, enable, replay the rest.
    receiver.rescript(|_, _| answer(200));
    let first_dead = items
        .iter()
        .find(|d| d["ordering_key"] == first.to_string())
        .expect("first")["delivery_id"]
        .as_i64()
        .expect("id");
    app.call(Method::PATCH, &base, &admin, json!({"enabled": true}))
        .await
        .expect(StatusCode::OK);
    app.call(
        Method::POST,
        &format!("{base}/dead-letters/{first_dead}/replay"),
        &admin,
        Value::Null,
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::POST,
        &format!("{base}/dead-letters/{first_dead}/replay"),
        &admin,
        Value::Null,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let all = app
        .call(
            Method::POST,
            &format!("{base}/dead-letters/replay"),
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert!(all.body["replayed"].as_u64().expect("replayed") <= 1);
    eventually(
        "every delivery after the fix",
        Duration::from_secs(10),
        || receiver.delivered().len() == 2,
    )
    .await;
    let mut expected = Vec::new();
    for customer in [first, second] {
        expected.push(event_ids(&app, customer).await.remove(0));
    }
    let mut delivered: Vec<String> = receiver.delivered().iter().map(|r| r.id.clone()).collect();
    delivered.sort();
    expected.sort();
    assert_eq!(delivered, expected, "the same webhook-ids after a replay");
    assert!(receiver.delivered().iter().all(|r| verifies(&secret, r)));
    let dead = app
        .call(
            Method::GET,
            &format!("{base}/dead-letters"),
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(dead.body["items"], json!([]));
    let _ = stop.send(true);
    task.await.expect("loops");
}

#[sqlx::test(migrations = "../schema")]
async fn gone_disables_at_once(pool: PgPool) {
    let settings = settings("50ms");
    let app = app_with(pool, &settings);
    let receiver = Receiver::start(|_, _| answer(410)).await;
    let (endpoint, _) = register_endpoint(&app, &receiver.url(), &["crm.customer.*"]).await;
    let alerts = Arc::new(RecordedAlerts::default());
    let (stop, task) = start(&app, &settings, alerts.clone());
    app.register(&app.manager(), "甲").await;
    eventually(
        "the endpoint to be disabled",
        Duration::from_secs(10),
        || !alerts.0.lock().expect("alerts").is_empty(),
    )
    .await;
    let admin = app.token(Role::Admin, "admin-1");
    let detail = app
        .call(
            Method::GET,
            &format!("/v1/webhooks/{endpoint}"),
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(detail.body["enabled"], false);
    assert_eq!(
        detail.body["disabled_reason"],
        "the endpoint answered 410 Gone"
    );
    assert_eq!(
        detail.body["pending"], 1,
        "the delivery waits for the endpoint"
    );
    assert_eq!(receiver.received().len(), 1);
    let _ = stop.send(true);
    task.await.expect("loops");
}

#[sqlx::test(migrations = "../schema")]
async fn a_dead_endpoint_does_not_delay_a_healthy_one(pool: PgPool) {
    let mut settings = settings("100ms,100ms,100ms,100ms,100ms");
    settings.concurrency = 8;
    let app = app_with(pool, &settings);
    let dead = Receiver::start(|_, _| Reply {
        status: 200,
        delay: Duration::from_secs(5),
    })
    .await;
    let healthy = Receiver::start(|_, _| answer(200)).await;
    register_endpoint(&app, &dead.url(), &["crm.customer.*"]).await;
    register_endpoint(&app, &healthy.url(), &["crm.customer.*"]).await;
    let boss = app.manager();
    for index in 0..20 {
        app.register(&boss, &format!("客户{index}")).await;
    }
    let started = Instant::now();
    let (stop, task) = start(&app, &settings, Arc::new(RecordedAlerts::default()));
    eventually(
        "the healthy endpoint's deliveries",
        Duration::from_secs(10),
        || healthy.delivered().len() == 20,
    )
    .await;
    // 20 deliveries to a receiver that answers at once: well under the 300 ms
    // timeout times the dead endpoint's 20 deliveries.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(dead.delivered().is_empty());
    let _ = stop.send(true);
    task.await.expect("loops");
}

#[sqlx::test(migrations = "../schema")]
async fn two_senders_never_send_one_delivery_twice(pool: PgPool) {
    let mut settings = settings("100ms");
    settings.concurrency = 16;
    settings.per_endpoint_in_flight = 16;
    let app = app_with(pool, &settings);
    let receiver = Receiver::start(|_, _| Reply {
        status: 200,
        delay: Duration::from_millis(15),
    })
    .await;
    register_endpoint(&app, &receiver.url(), &["crm.customer.*"]).await;
    let boss = app.manager();
    let mut customers = Vec::new();
    for index in 0..30 {
        let id = app.register(&boss, &format!("客户{index}")).await;
        app.call(
            Method::POST,
            &format!("/v1/customers/{id}/tags"),
            &boss,
            json!({"tag": "重点"}),
        )
        .await
        .expect(StatusCode::OK);
        customers.push(id);
    }
    // Two instances: each its own pool, reader and sender.
    let second_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with((*app.pool.connect_options()).clone())
        .await
        .expect("second pool");
    let (stop_one, one) = start(&app, &settings, Arc::new(RecordedAlerts::default()));
    let (stop_two, stopped_two) = tokio::sync::watch::channel(false);
    let two = tokio::spawn(webhooks::run(
        second_pool,
        app.data_keys.clone(),
        settings.clone(),
        Arc::new(RecordedAlerts::default()),
        stopped_two,
    ));
    eventually("every delivery", Duration::from_secs(20), || {
        receiver.received().len() >= 60
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 60, "each of the 60 events exactly once");
    let mut ids: Vec<&str> = received.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 60);
    assert!(received.iter().all(|r| r.concurrent == 0));
    // Each customer's registration before its tag.
    for customer in customers {
        let events = event_ids(&app, customer).await;
        let at = |id: &str| received.iter().position(|r| r.id == id).expect("received");
        assert!(at(&events[0]) < at(&events[1]));
    }
    let _ = stop_one.send(true);
    let _ = stop_two.send(true);
    one.await.expect("first");
    two.await.expect("second");
}

#[sqlx::test(migrations = "../schema")]
async fn rotation_signs_with_both_secrets(pool: PgPool) {
    let settings = settings("100ms");
    let app = app_with(pool, &settings);
    let receiver = Receiver::start(|_, _| answer(200)).await;
    let (endpoint, old) = register_endpoint(&app, &receiver.url(), &["crm.customer.*"]).await;
    let admin = app.token(Role::Admin, "admin-1");
    let rotated = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{endpoint}/rotate-secret"),
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    let new = rotated.body["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new, old);
    let until: chrono::DateTime<chrono::Utc> = rotated.body["previous_secret_valid_until"]
        .as_str()
        .expect("until")
        .parse()
        .expect("time");
    assert!(until > chrono::Utc::now() + chrono::Duration::hours(23));
    let (stop, task) = start(&app, &settings, Arc::new(RecordedAlerts::default()));
    app.register(&app.manager(), "甲").await;
    eventually("the delivery", Duration::from_secs(10), || {
        !receiver.delivered().is_empty()
    })
    .await;
    let delivery = receiver.delivered().remove(0);
    assert_eq!(
        delivery.signature.split(' ').count(),
        2,
        "{}",
        delivery.signature
    );
    assert!(verifies(&new, &delivery) && verifies(&old, &delivery));
    let _ = stop.send(true);
    task.await.expect("loops");
}

#[sqlx::test(migrations = "../schema")]
async fn private_addresses_are_refused_and_nothing_is_written(pool: PgPool) {
    let strict = WebhookSettings::default();
    let app = app_with(pool, &strict);
    let admin = app.token(Role::Admin, "admin-1");
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.7/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/",
        "ftp://93.184.216.34/",
        "nonsense",
    ] {
        let reply = app
            .call(
                Method::POST,
                "/v1/webhooks",
                &admin,
                json!({"url": url, "event_types": ["crm.customer.*"]}),
            )
            .await
            .expect(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            reply.body["errors"]["url"].is_array(),
            "{url}: {}",
            reply.body
        );
    }
    let reply = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &admin,
            json!({"url": "https://93.184.216.34/hook", "event_types": ["crm.order.*"]}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body["errors"]["event_types"].is_array(),
        "{}",
        reply.body
    );
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(written, 0);

    // Registered while private addresses were allowed, sent by a sender
    // that refuses them: checked again at send time, nothing reaches it.
    let receiver = Receiver::start(|_, _| answer(200)).await;
    let mut lenient = app_with(app.pool.clone(), &settings("50ms"));
    lenient.tenant = app.tenant;
    let (endpoint, _) = register_endpoint(&lenient, &receiver.url(), &["crm.customer.*"]).await;
    let mut refusing = settings("50ms");
    refusing.addresses.allow_private = false;
    let (stop, task) = start(&app, &refusing, Arc::new(RecordedAlerts::default()));
    app.register(&app.manager(), "甲").await;
    let attempts = || async {
        app.call(
            Method::GET,
            &format!("/v1/webhooks/{endpoint}/attempts"),
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body["items"]
            .as_array()
            .expect("items")
            .clone()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = attempts().await;
        if log.len() >= 2 || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log.iter().all(|a| a["error"]
            .as_str()
            .is_some_and(|e| e.contains("non-public"))),
        "{log:?}"
    );
    assert!(receiver.received().is_empty());
    let _ = stop.send(true);
    task.await.expect("loops");
}

#[sqlx::test(migrations = "../schema")]
async fn only_admins_and_only_their_tenant(pool: PgPool) {
    let app = app_with(pool, &settings("50ms"));
    let (endpoint, _) = register_endpoint(
        &app,
        "http://127.0.0.1:9/hook",
        &["crm.customer.stage_moved.v1", "crm.team.*"],
    )
    .await;
    let base = format!("/v1/webhooks/{endpoint}");
    let routes = [
        (Method::GET, "/v1/webhooks".to_owned(), Value::Null),
        (
            Method::POST,
            "/v1/webhooks".to_owned(),
            json!({"url": "http://127.0.0.1:9/x", "event_types": ["crm.customer.*"]}),
        ),
        (Method::GET, base.clone(), Value::Null),
        (Method::PATCH, base.clone(), json!({"enabled": false})),
        (Method::POST, format!("{base}/rotate-secret"), Value::Null),
        (Method::GET, format!("{base}/attempts"), Value::Null),
        (Method::GET, format!("{base}/dead-letters"), Value::Null),
        (
            Method::POST,
            format!("{base}/dead-letters/replay"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("{base}/dead-letters/1/replay"),
            Value::Null,
        ),
        (Method::DELETE, base.clone(), Value::Null),
    ];
    for role in [Role::Rep, Role::Manager, Role::Auditor] {
        let token = app.token(role, "someone");
        for (method, uri, body) in &routes {
            app.call(method.clone(), uri, &token, body.clone())
                .await
                .expect(StatusCode::FORBIDDEN);
        }
    }
    let stranger = app.jwt.issue(
        Uuid::new_v4(),
        "admin-2",
        Role::Admin,
        Duration::from_secs(600),
    );
    for (method, uri, body) in routes.iter().skip(2) {
        app.call(method.clone(), uri, &stranger, body.clone())
            .await
            .expect(StatusCode::NOT_FOUND);
    }
    let theirs = app
        .call(Method::GET, "/v1/webhooks", &stranger, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs.body["items"], json!([]));

    let admin = app.token(Role::Admin, "admin-1");
    let list = app
        .call(Method::GET, "/v1/webhooks", &admin, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        list.body["items"][0]["event_types"],
        json!(["crm.customer.stage_moved.v1", "crm.team.*"])
    );
    let changed = app
        .call(Method::PATCH, &base, &admin, json!({"url": "http://127.0.0.1:10/other", "event_types": ["crm.user.*"], "enabled": false}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed.body["url"], "http://127.0.0.1:10/other");
    assert_eq!(changed.body["event_types"], json!(["crm.user.*"]));
    assert_eq!(changed.body["enabled"], false);
    app.call(Method::PATCH, &base, &admin, json!({"url": "gopher://x"}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.call(Method::PATCH, &base, &admin, json!({"secret": "x"}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.call(Method::GET, "/v1/webhooks/not-a-uuid", &admin, Value::Null)
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.call(
        Method::GET,
        &format!("{base}/attempts?limit=0"),
        &admin,
        Value::Null,
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    app.call(Method::DELETE, &base, &admin, Value::Null)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.call(Method::GET, &base, &admin, Value::Null)
        .await
        .expect(StatusCode::NOT_FOUND);
}

/// Inserts `count` deliveries for `endpoint`, spread over `keys` customers
/// (what the reader writes; the benchmark measures the sender).
async fn backlog(pool: &PgPool, tenant: Uuid, endpoint: Uuid, count: i64, keys: i64) {
    sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, message_id, event_type, ordering_key, body)
         SELECT $1, $2, gen_random_uuid()::text, 'crm.customer.tagged.v1', 'customer-' || (n % $4),
                '{\"specversion\":\"1.0\",\"type\":\"crm.customer.tagged.v1\",\"data\":{\"tag\":\"重点\"}}'
           FROM generate_series(1, $3) AS n ORDER BY n",
    )
    .bind(tenant)
    .bind(endpoint)
    .bind(count)
    .bind(keys)
    .execute(pool)
    .await
    .expect("backlog");
}

/// `scripts/bench-webhooks`: deliveries per second to a local receiver,
/// alone and beside a dead endpoint (every attempt a timeout). Not in CI.
#[sqlx::test(migrations = "../schema")]
#[ignore = "a benchmark: scripts/bench-webhooks"]
async fn bench_webhook_throughput(pool: PgPool) {
    let count: i64 = std::env::var("BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let keys: i64 = std::env::var("BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let mut settings = settings("1s,1s,1s,1s,1s");
    settings.timeout = Duration::from_secs(1);
    settings.poll_interval = Duration::from_millis(50);
    let app = app_with(pool, &settings);
    for dead_beside in [false, true] {
        sqlx::query("TRUNCATE webhook_endpoints CASCADE")
            .execute(&app.pool)
            .await
            .expect("truncate");
        let healthy = Receiver::start(|_, _| answer(200)).await;
        let (healthy_id, _) = register_endpoint(&app, &healthy.url(), &["crm.customer.*"]).await;
        backlog(&app.pool, app.tenant, healthy_id, count, keys).await;
        let dead = Receiver::start(|_, _| Reply {
            status: 200,
            delay: Duration::from_secs(30),
        })
        .await;
        if dead_beside {
            let (dead_id, _) = register_endpoint(&app, &dead.url(), &["crm.customer.*"]).await;
            backlog(&app.pool, app.tenant, dead_id, count, keys).await;
        }
        let started = Instant::now();
        let (stop, task) = start(&app, &settings, Arc::new(RecordedAlerts::default()));
        let deadline = Instant::now() + Duration::from_secs(600);
        while healthy.delivered().len() < count as usize {
            assert!(Instant::now() < deadline, "benchmark did not finish");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = started.elapsed();
        println!(
            "BENCH webhooks dead_endpoint_beside={dead_beside} deliveries={count} keys={keys} concurrency={} seconds={:.2} deliveries_per_second={:.0} dead_endpoint_attempts={}",
            settings.concurrency,
            elapsed.as_secs_f64(),
            count as f64 / elapsed.as_secs_f64(),
            dead.received().len(),
        );
        let _ = stop.send(true);
        task.abort();
    }
}

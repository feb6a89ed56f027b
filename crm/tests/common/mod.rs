//! Calls the real router (no socket) against a real PostgreSQL database that
//! `#[sqlx::test]` creates for each test.
#![allow(dead_code)]

pub mod broker;
pub mod instance;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

use crm::app::{router, AppState};
use events::personal::MasterKey;
use projector::runner::{catch_up, has_applied, Projection};
use store::data_keys::DataKeys;
use web::{JwtKeys, Role};

/// Text of an activity logged by [`legacy_activity`] in [`varied_history`].
pub const LEGACY_SUBJECT: &str = "旧版本\u{1}记录";
pub const LEGACY_NOTES: &str = "含空字符\u{0}的备注\u{1}\t换行\n结束";

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
pub const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub struct TestApp {
    pub router: Router,
    pub jwt: JwtKeys,
    pub data_keys: DataKeys,
    pub pool: PgPool,
    pub tenant: Uuid,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Self {
        assert_eq!(self.status, status, "unexpected reply: {}", self.body);
        if !status.is_success() {
            assert_eq!(
                self.content_type(),
                "application/problem+json",
                "{}",
                self.body
            );
            assert_eq!(self.body["status"], status.as_u16(), "{}", self.body);
            assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        }
        self
    }

    pub fn version(&self) -> u64 {
        self.body["version"].as_u64().expect("version")
    }

    pub fn position(&self) -> i64 {
        self.body["position"].as_i64().expect("position")
    }

    pub fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id")
    }
}

impl TestApp {
    pub fn new(pool: PgPool) -> Self {
        let jwt = JwtKeys::from_secret(SECRET).expect("JWT keys");
        let data_keys = test_data_keys(&pool);
        let router = router(AppState::new(pool.clone(), jwt.clone(), data_keys.clone()));
        Self {
            router,
            jwt,
            data_keys,
            pool,
            tenant: Uuid::new_v4(),
        }
    }

    /// An app whose `/readyz` and `/metrics` report `relay`.
    pub fn with_relay(pool: PgPool, relay: crm::ops::RelayMonitor) -> Self {
        let mut app = Self::new(pool.clone());
        let mut state = AppState::new(pool, app.jwt.clone(), app.data_keys.clone());
        state.relay = Some(relay);
        app.router = router(state);
        app
    }

    /// An app with the read cache on (answers kept for `ttl`, customer
    /// records for `record_ttl`), listening for the projector's change
    /// notices until the returned sender says stop.
    pub fn with_cache(
        pool: PgPool,
        ttl: Duration,
        record_ttl: Duration,
    ) -> (Self, tokio::sync::watch::Sender<bool>) {
        let mut app = Self::new(pool.clone());
        let mut state = AppState::new(pool.clone(), app.jwt.clone(), app.data_keys.clone());
        state.cache = query::ReadCache::new(query::CacheSettings {
            time_to_live: ttl,
            record_time_to_live: record_ttl,
            max_bytes: 1 << 20,
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(state.cache.clone().listen(pool, stopped));
        app.router = router(state);
        (app, stop)
    }

    pub fn token(&self, role: Role, user: &str) -> String {
        self.jwt
            .issue(self.tenant, user, role, Duration::from_secs(600))
    }

    pub fn manager(&self) -> String {
        self.token(Role::Manager, "boss")
    }

    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Body>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.unwrap_or_else(Body::empty))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn call(&self, method: Method, uri: &str, token: &str, body: Value) -> Reply {
        self.call_with(method, uri, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = (!body.is_null()).then(|| Body::from(body.to_string()));
        self.send(method, uri, Some(token), body, headers).await
    }

    /// Registers a customer as `token`'s caller and returns its id.
    pub async fn register(&self, token: &str, name: &str) -> Uuid {
        self.call(
            Method::POST,
            "/v1/customers",
            token,
            json!({"name": name, "company": "星辰科技", "deal_value": "50000"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id()
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }
}

/// A history touching every event type, through the API.
pub async fn varied_history(app: &TestApp) -> Vec<Uuid> {
    let boss = app.manager();
    let mut ids = Vec::new();
    for (index, name) in ["赵一", "钱二", "孙三", "李四"].into_iter().enumerate() {
        let id = app.register(&boss, name).await;
        let base = format!("/v1/customers/{id}");
        let steps = [
            (
                Method::PATCH,
                base.clone(),
                // Backslashes, quotes and braces: what COPY and array literals escape.
                json!({"company": format!("公司{index} \\ \"引号\" {{括号}}"), "phone": "13800138000"}),
            ),
            (
                Method::PUT,
                format!("{base}/stage"),
                json!({"stage": "proposal"}),
            ),
            (
                Method::POST,
                format!("{base}/activities"),
                json!({"type": "call", "subject": "回访 C:\\temp \"说明\""}),
            ),
            (
                Method::POST,
                format!("{base}/purchases"),
                json!({"amount": 1200 + index, "category": "软件订阅"}),
            ),
            (
                Method::POST,
                format!("{base}/tags"),
                json!({"tag": "重点客户"}),
            ),
            (
                Method::POST,
                format!("{base}/tags"),
                json!({"tag": "a\"b\\c{d},e"}),
            ),
            (
                Method::PUT,
                format!("{base}/owner"),
                json!({"owner_id": "rep-7"}),
            ),
            (
                Method::PUT,
                format!("{base}/stage"),
                json!({"stage": "closed_won"}),
            ),
        ];
        for (method, uri, body) in steps {
            app.call(method, &uri, &boss, body)
                .await
                .expect(StatusCode::OK);
        }
        if index == 1 {
            // As a version before the text rule stored it: a control
            // character in plain text, and U+0000 in sealed notes (which
            // PostgreSQL never saw in clear when it stored the event).
            legacy_activity(app, id, LEGACY_SUBJECT, LEGACY_NOTES).await;
        }
        if index == 3 {
            app.call(
                Method::DELETE,
                &format!("{base}/tags/%E9%87%8D%E7%82%B9%E5%AE%A2%E6%88%B7"),
                &boss,
                Value::Null,
            )
            .await
            .expect(StatusCode::OK);
            app.call(Method::DELETE, &base, &boss, Value::Null)
                .await
                .expect(StatusCode::OK);
        }
        ids.push(id);
    }
    ids
}

/// Every read-model table as JSON, in a stable order (for equality checks).
pub async fn dump(pool: &PgPool) -> Value {
    let mut tables = serde_json::Map::new();
    for (table, order) in [
        ("rm_customers", "id"),
        ("rm_purchases", "customer_id, sequence"),
        ("rm_activities", "customer_id, sequence"),
        ("rm_stage_stays", "customer_id, sequence"),
        ("rm_timeline", "customer_id, sequence"),
        (
            "rm_funnel_totals",
            "tenant_id, owner_id, stage, furthest_rank",
        ),
    ] {
        let rows: Value = sqlx::query_scalar::<_, Value>(&format!(
            "SELECT coalesce(json_agg(t ORDER BY {order}), '[]'::json) FROM {table} t"
        ))
        .fetch_one(pool)
        .await
        .expect("dump");
        tables.insert(table.to_owned(), rows);
    }
    Value::Object(tables)
}

/// The data keys every test app uses.
pub fn test_data_keys(pool: &PgPool) -> DataKeys {
    DataKeys::new(
        pool.clone(),
        MasterKey::from_hex(MASTER_KEY).expect("master key"),
    )
}

/// One pass of every projection over what is committed-and-safe now.
pub async fn project_once(pool: &PgPool) {
    catch_up(pool, &test_data_keys(pool), &Projection::ALL)
        .await
        .expect("projection");
}

/// Projects until every event committed so far is applied. Tests run in
/// parallel on one cluster, and another test's open transaction holds back
/// the cluster-wide xmin that commit-safe reading waits for.
pub async fn project(pool: &PgPool) {
    let head: Option<i64> = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(pool)
        .await
        .expect("head");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        project_once(pool).await;
        let Some(head) = head else { return };
        if has_applied(pool, &Projection::ALL, head)
            .await
            .expect("applied")
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "projections did not reach {head}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs an activity on `customer` as versions before the text rule did:
/// `subject` and `notes` as given, control characters and U+0000 included,
/// through the command service as the manager "boss" (sealing, hash chain,
/// metadata) but past the HTTP routes' checks.
pub async fn legacy_activity(
    app: &TestApp,
    customer: Uuid,
    subject: &str,
    notes: &str,
) -> command::Accepted {
    use command::aggregate::{Action, Actor, CustomerCommand};
    use events::values::{ActivityType, ShortText, UserId};
    let stored = |raw: &str| serde_json::from_value::<ShortText>(json!(raw)).expect("stored text");
    command::CommandService::new(app.pool.clone(), app.data_keys.clone())
        .execute(
            customer,
            CustomerCommand {
                actor: Actor {
                    tenant_id: app.tenant,
                    user_id: UserId::parse("boss").expect("user"),
                    role: Role::Manager,
                },
                now: chrono::Utc::now(),
                expected_version: None,
                action: Action::LogActivity {
                    activity_type: ActivityType::Call,
                    subject: Some(stored(subject)),
                    notes: Some(stored(notes)),
                    occurred_at: None,
                    value: None,
                },
            },
            &command::RequestContext::default(),
        )
        .await
        .expect("legacy activity")
}

/// `projector::runner::run` over every projection, as `crm serve` runs it.
pub struct RunningProjector {
    stop: tokio::sync::watch::Sender<bool>,
    runner: tokio::task::JoinHandle<()>,
}

impl RunningProjector {
    pub fn start(pool: &PgPool) -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let runner = tokio::spawn(projector::runner::run(
            pool.clone(),
            test_data_keys(pool),
            Projection::ALL.to_vec(),
            stopped,
        ));
        RunningProjector { stop, runner }
    }

    pub async fn stop(self) {
        self.stop.send(true).expect("stop");
        self.runner.await.expect("runner");
    }
}

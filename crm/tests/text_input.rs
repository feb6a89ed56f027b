//! Text the service must not store, against a real PostgreSQL: every text
//! field of every command route, the query strings and the path segments.
//! Control characters (except line breaks and tabs in notes and reasons),
//! noncharacters and over-long text are refused with a 4xx problem naming the
//! field, never a 500; right-to-left marks are ordinary text.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use common::{Reply, TestApp};
use web::Role;

/// The command routes; each text field in [`FIELDS`] belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Register,
    UpdateProfile,
    Assign,
    MoveStage,
    LogActivity,
    RecordPurchase,
    Tag,
    /// `DELETE /v1/customers/{id}/tags/{tag}`: the tag is a path segment.
    UntagPath,
    /// `DELETE /v1/customers/{id}?reason=`: the reason is a query parameter.
    ArchiveQuery,
    Forget,
}

/// What a field accepts besides ordinary characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One line: every control character is refused.
    Line,
    /// Notes and reasons: line feeds and tabs too.
    Free,
    /// A syntax of its own (phone, stage, activity type, instant): anything
    /// inserted into a valid value is refused, a right-to-left mark too.
    Syntax,
}

struct Field {
    route: Route,
    name: &'static str,
    kind: Kind,
    /// The longest value accepted, in characters.
    max: usize,
    /// A valid value; samples insert a character after its first one.
    valid: &'static str,
}

const fn field(
    route: Route,
    name: &'static str,
    kind: Kind,
    max: usize,
    valid: &'static str,
) -> Field {
    Field {
        route,
        name,
        kind,
        max,
        valid,
    }
}

/// Every text field of every command route.
const FIELDS: &[Field] = &[
    field(Route::Register, "name", Kind::Line, 100, "张三丰"),
    field(Route::Register, "phone", Kind::Syntax, 16, "13800138000"),
    field(
        Route::Register,
        "email",
        Kind::Line,
        254,
        "lisi@example.com",
    ),
    field(Route::Register, "company", Kind::Line, 200, "星辰科技"),
    field(Route::Register, "industry", Kind::Line, 50, "制造业"),
    field(Route::Register, "position", Kind::Line, 100, "总经理"),
    field(Route::Register, "source", Kind::Line, 50, "展会"),
    field(Route::Register, "owner_id", Kind::Line, 64, "rep-7"),
    field(Route::Register, "tags", Kind::Line, 32, "重点客户"),
    field(Route::UpdateProfile, "name", Kind::Line, 100, "李四"),
    field(
        Route::UpdateProfile,
        "phone",
        Kind::Syntax,
        16,
        "+8613800138000",
    ),
    field(
        Route::UpdateProfile,
        "email",
        Kind::Line,
        254,
        "zhang@example.cn",
    ),
    field(Route::UpdateProfile, "company", Kind::Line, 200, "云帆软件"),
    field(Route::UpdateProfile, "industry", Kind::Line, 50, "软件"),
    field(
        Route::UpdateProfile,
        "position",
        Kind::Line,
        100,
        "采购经理",
    ),
    field(Route::UpdateProfile, "source", Kind::Line, 50, "转介绍"),
    field(Route::Assign, "owner_id", Kind::Line, 64, "rep-2"),
    field(Route::MoveStage, "stage", Kind::Syntax, 11, "proposal"),
    field(Route::MoveStage, "reason", Kind::Free, 500, "客户预算确认"),
    field(Route::LogActivity, "type", Kind::Syntax, 7, "call"),
    field(Route::LogActivity, "subject", Kind::Line, 200, "电话回访"),
    field(
        Route::LogActivity,
        "notes",
        Kind::Free,
        5000,
        "客户关注价格",
    ),
    field(
        Route::Register,
        "occurred_at",
        Kind::Syntax,
        25,
        "2025-06-01T09:30:00+08:00",
    ),
    field(
        Route::MoveStage,
        "occurred_at",
        Kind::Syntax,
        25,
        "2025-06-01T09:30:00+08:00",
    ),
    field(
        Route::RecordPurchase,
        "occurred_at",
        Kind::Syntax,
        25,
        "2025-06-01T09:30:00+08:00",
    ),
    field(
        Route::LogActivity,
        "occurred_at",
        Kind::Syntax,
        25,
        "2025-06-01T09:30:00+08:00",
    ),
    field(
        Route::RecordPurchase,
        "category",
        Kind::Line,
        50,
        "软件订阅",
    ),
    field(
        Route::RecordPurchase,
        "order_ref",
        Kind::Line,
        64,
        "PO-2025-1",
    ),
    field(Route::Tag, "tag", Kind::Line, 32, "决策人"),
    field(Route::UntagPath, "tag", Kind::Line, 32, "决策人"),
    field(Route::ArchiveQuery, "reason", Kind::Free, 500, "重复录入"),
    field(
        Route::Forget,
        "reason",
        Kind::Free,
        500,
        "客户依据个人信息保护法要求删除",
    ),
];

/// Fields stored sealed (personal data): their text is not visible in the payload.
const SEALED: &[&str] = &["name", "phone", "email", "notes"];

#[derive(Debug, Clone, Copy)]
enum Sample {
    /// This character inside the field's valid value.
    Inside(char),
    /// One character more than the field's maximum.
    TooLong,
}

const NUL: char = '\u{0}';
const RTL_MARK: char = '\u{200f}';

const SAMPLES: &[Sample] = &[
    Sample::Inside(NUL),
    Sample::Inside('\u{1}'),
    Sample::Inside('\u{7f}'),
    Sample::Inside('\u{ffff}'),
    Sample::TooLong,
    Sample::Inside(RTL_MARK),
    Sample::Inside('\n'),
    Sample::Inside('\t'),
];

impl Field {
    fn text(&self, sample: Sample) -> String {
        match sample {
            Sample::TooLong => "张".repeat(self.max + 1),
            Sample::Inside(c) => {
                let mut chars = self.valid.chars();
                let first = chars.next().expect("a valid value");
                format!("{first}{c}{}", chars.as_str())
            }
        }
    }

    fn accepts(&self, sample: Sample) -> bool {
        match sample {
            Sample::TooLong => false,
            Sample::Inside(RTL_MARK) => self.kind != Kind::Syntax,
            Sample::Inside('\n' | '\t') => self.kind == Kind::Free,
            Sample::Inside(_) => false,
        }
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A fresh customer for one case (an accepted archive or stage move changes it).
async fn customer(app: &TestApp) -> Uuid {
    app.register(&app.manager(), "王五").await
}

/// Sends `text` in `field` of its route; answers the reply and the customer concerned.
async fn send(app: &TestApp, field: &Field, text: &str) -> (Reply, Option<Uuid>) {
    let boss = app.manager();
    if field.route == Route::Register {
        let value = if field.name == "tags" {
            json!([text])
        } else {
            json!(text)
        };
        let mut body = json!({"name": "赵六"});
        body[field.name] = value;
        let reply = app.call(Method::POST, "/v1/customers", &boss, body).await;
        let id = reply.status.is_success().then(|| reply.id());
        return (reply, id);
    }
    let id = customer(app).await;
    let base = format!("/v1/customers/{id}");
    let with = |mut body: Value| {
        body[field.name] = json!(text);
        body
    };
    let reply = match field.route {
        Route::Register => unreachable!("handled above"),
        Route::UpdateProfile => app.call(Method::PATCH, &base, &boss, with(json!({}))).await,
        Route::Assign => {
            app.call(
                Method::PUT,
                &format!("{base}/owner"),
                &boss,
                with(json!({})),
            )
            .await
        }
        Route::MoveStage => {
            let body = with(json!({"stage": "proposal"}));
            app.call(Method::PUT, &format!("{base}/stage"), &boss, body)
                .await
        }
        Route::LogActivity => {
            let body = with(json!({"type": "visit"}));
            app.call(Method::POST, &format!("{base}/activities"), &boss, body)
                .await
        }
        Route::RecordPurchase => {
            let body = with(json!({"amount": "99.00", "category": "服务"}));
            app.call(Method::POST, &format!("{base}/purchases"), &boss, body)
                .await
        }
        Route::Tag => {
            app.call(
                Method::POST,
                &format!("{base}/tags"),
                &boss,
                with(json!({})),
            )
            .await
        }
        Route::UntagPath => {
            // Tagged first where the tag is valid, so the untag records an event.
            app.call(
                Method::POST,
                &format!("{base}/tags"),
                &boss,
                json!({"tag": text}),
            )
            .await;
            let uri = format!("{base}/tags/{}", percent_encode(text));
            app.call(Method::DELETE, &uri, &boss, Value::Null).await
        }
        Route::ArchiveQuery => {
            let uri = format!("{base}?reason={}", percent_encode(text));
            app.call(Method::DELETE, &uri, &boss, Value::Null).await
        }
        Route::Forget => {
            let admin = app.token(Role::Admin, "admin-1");
            app.call(
                Method::POST,
                &format!("{base}/forget"),
                &admin,
                with(json!({})),
            )
            .await
        }
    };
    (reply, Some(id))
}

/// Whether `value` holds the string `text` anywhere.
fn holds(value: &Value, text: &str) -> bool {
    match value {
        Value::String(s) => s == text,
        Value::Array(items) => items.iter().any(|item| holds(item, text)),
        Value::Object(members) => members.values().any(|member| holds(member, text)),
        _ => false,
    }
}

async fn last_payload(pool: &PgPool, id: Uuid) -> Value {
    sqlx::query_scalar::<_, Value>(
        "SELECT payload::jsonb FROM events WHERE aggregate_id = $1 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(id.to_string())
    .fetch_one(pool)
    .await
    .expect("event")
}

/// A refusal: a client error (never 500) as problem+json that names `name`,
/// in the field errors (422) or in the detail (a 400 about a parameter).
fn refusal_problem(reply: &Reply, name: &str) -> Result<(), String> {
    if !reply.status.is_client_error() {
        return Err(format!("answered {}", reply.status));
    }
    if reply.content_type() != "application/problem+json" {
        return Err(format!("answered {}", reply.content_type()));
    }
    let in_errors = reply.body["errors"][name]
        .as_array()
        .is_some_and(|messages| !messages.is_empty());
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    let in_detail =
        reply.status == StatusCode::BAD_REQUEST && detail.contains(&format!("`{name}`"));
    if in_errors || in_detail {
        Ok(())
    } else {
        Err("the problem does not name the field".to_owned())
    }
}

/// Sends every sample in every field of `route` and lists what went wrong.
async fn check_route(pool: PgPool, route: Route) {
    let app = TestApp::new(pool.clone());
    let mut failures = Vec::new();
    let fields: Vec<&Field> = FIELDS.iter().filter(|f| f.route == route).collect();
    assert!(!fields.is_empty(), "{route:?} has fields in the table");
    for field in fields {
        for &sample in SAMPLES {
            let text = field.text(sample);
            let (reply, id) = send(&app, field, &text).await;
            let outcome = if field.accepts(sample) {
                if !reply.status.is_success() {
                    Err(format!("refused with {}", reply.status))
                } else if SEALED.contains(&field.name) {
                    Ok(())
                } else {
                    let payload = last_payload(&pool, id.expect("customer")).await;
                    if holds(&payload, &text) {
                        Ok(())
                    } else {
                        Err(format!("not stored as sent: {payload}"))
                    }
                }
            } else {
                refusal_problem(&reply, field.name)
            };
            if let Err(problem) = outcome {
                failures.push(format!(
                    "{route:?} {} = {sample:?}: {problem}: {}",
                    field.name, reply.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[sqlx::test(migrations = "../schema")]
async fn register_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::Register).await;
}

#[sqlx::test(migrations = "../schema")]
async fn update_profile_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::UpdateProfile).await;
}

#[sqlx::test(migrations = "../schema")]
async fn assign_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::Assign).await;
}

#[sqlx::test(migrations = "../schema")]
async fn move_stage_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::MoveStage).await;
}

#[sqlx::test(migrations = "../schema")]
async fn log_activity_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::LogActivity).await;
}

#[sqlx::test(migrations = "../schema")]
async fn record_purchase_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::RecordPurchase).await;
}

#[sqlx::test(migrations = "../schema")]
async fn tag_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::Tag).await;
}

#[sqlx::test(migrations = "../schema")]
async fn untag_path_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::UntagPath).await;
}

#[sqlx::test(migrations = "../schema")]
async fn archive_reason_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::ArchiveQuery).await;
}

#[sqlx::test(migrations = "../schema")]
async fn forget_reason_refuses_text_it_cannot_store(pool: PgPool) {
    check_route(pool, Route::Forget).await;
}

/// The refusals of the character rule say what is wrong, with the code point.
#[sqlx::test(migrations = "../schema")]
async fn refusals_name_the_field_and_the_code_point(pool: PgPool) {
    let app = TestApp::new(pool);
    let id = customer(&app).await;
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/customers/{id}/activities"),
            &app.manager(),
            json!({"type": "call", "subject": "x\u{0}", "notes": "第一行\n第二行\u{ffff}"}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.body["errors"]["subject"],
        json!(["subject must not contain control characters (U+0000)"])
    );
    assert_eq!(
        reply.body["errors"]["notes"],
        json!(["notes must not contain Unicode noncharacters (U+FFFF)"])
    );
    let reply = app
        .call(
            Method::POST,
            "/v1/customers",
            &app.manager(),
            json!({"name": "ok", "company": "\u{0}"}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.body["errors"]["company"],
        json!(["company must not contain control characters (U+0000)"])
    );
    // A carriage return only as the start of a Windows line break.
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/customers/{id}/activities"),
            &app.manager(),
            json!({"type": "call", "notes": "甲\r乙"}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body["errors"]["notes"][0]
            .as_str()
            .is_some_and(|m| m.contains("U+000D")),
        "{}",
        reply.body
    );
    app.call(
        Method::POST,
        &format!("/v1/customers/{id}/activities"),
        &app.manager(),
        json!({"type": "call", "notes": "甲\r\n乙"}),
    )
    .await
    .expect(StatusCode::OK);
}

/// Query strings and path segments the read and command routes refuse
/// before any SQL sees them.
#[sqlx::test(migrations = "../schema")]
async fn query_strings_and_paths_refuse_text_sql_cannot_take(pool: PgPool) {
    let app = TestApp::new(pool);
    let boss = app.manager();
    let id = customer(&app).await;
    // (method, uri, the parameter the problem names)
    let cases: Vec<(Method, String, &str)> = vec![
        (Method::GET, "/v1/customers?q=%00".into(), "q"),
        (Method::GET, "/v1/customers?q=a%0Ab".into(), "q"),
        (Method::GET, "/v1/customers?q=%EF%BF%BF".into(), "q"),
        (Method::GET, "/v1/customers?tag=%01".into(), "tag"),
        (Method::GET, "/v1/customers?owner_id=%00".into(), "owner_id"),
        (Method::GET, "/v1/customers?industry=%00".into(), "industry"),
        (Method::GET, "/v1/customers?source=%7F".into(), "source"),
        (Method::GET, "/v1/customers?cursor=%00".into(), "cursor"),
        (Method::GET, "/v1/customers?stage=%00".into(), "stage"),
        (Method::GET, "/v1/funnel?owner_id=%00".into(), "owner_id"),
        (Method::GET, "/v1/funnel?from=%00".into(), "from"),
        (
            Method::GET,
            "/v1/segments?lifecycle=%00".into(),
            "lifecycle",
        ),
        (Method::GET, "/v1/events?after=%00".into(), "after"),
        (Method::GET, "/v1/customers/%00".into(), "id"),
        (
            Method::GET,
            format!("/v1/customers/{id}/timeline?cursor=%00"),
            "cursor",
        ),
        (
            Method::DELETE,
            format!("/v1/customers/{id}/tags/%00"),
            "tag",
        ),
        (
            Method::DELETE,
            format!("/v1/customers/{id}?reason=%00"),
            "reason",
        ),
    ];
    let mut failures = Vec::new();
    for (method, uri, name) in &cases {
        let reply = app.call(method.clone(), uri, &boss, Value::Null).await;
        if !matches!(reply.status.as_u16(), 400 | 404 | 422) {
            failures.push(format!(
                "{method} {uri}: answered {}: {}",
                reply.status, reply.body
            ));
        } else if let Err(problem) = refusal_problem(&reply, name) {
            failures.push(format!("{method} {uri}: {problem}: {}", reply.body));
        }
    }
    // Bytes that are not UTF-8 once percent-decoded.
    for (method, uri) in [
        (Method::GET, "/v1/customers/%FF".to_owned()),
        (Method::DELETE, format!("/v1/customers/{id}/tags/%FF")),
    ] {
        let reply = app.call(method.clone(), &uri, &boss, Value::Null).await;
        if reply.status != StatusCode::BAD_REQUEST
            || reply.content_type() != "application/problem+json"
        {
            failures.push(format!(
                "{method} {uri}: answered {}: {}",
                reply.status, reply.body
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A right-to-left mark is ordinary text in a search.
    app.call(Method::GET, "/v1/customers?q=%E2%80%8F", &boss, Value::Null)
        .await
        .expect(StatusCode::OK);
}

//! Facts dated when they happened, over HTTP (issue 19): registrations,
//! stage moves, activities and purchases may carry `occurred_at` in the
//! past, within bounds; the event keeps both when it happened and when it
//! was recorded, and the read models use when it happened.

mod common;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use common::{project, Reply, TestApp};
use web::Role;

fn ago(days: i64) -> DateTime<Utc> {
    Utc::now() - Duration::days(days)
}

fn text(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A 422 naming `occurred_at`, whose message contains `needle`.
#[track_caller]
fn refused_on_occurred_at(reply: Reply, needle: &str) {
    let reply = reply.expect(StatusCode::UNPROCESSABLE_ENTITY);
    let messages = reply.body["errors"]["occurred_at"].to_string();
    assert!(messages.contains(needle), "{}", reply.body);
}

async fn register_on(app: &TestApp, token: &str, at: DateTime<Utc>) -> Uuid {
    app.call(
        Method::POST,
        "/v1/customers",
        token,
        json!({"name": "老客户", "deal_value": "50000", "occurred_at": text(at)}),
    )
    .await
    .expect(StatusCode::CREATED)
    .id()
}

async fn move_on(app: &TestApp, token: &str, id: Uuid, stage: &str, at: DateTime<Utc>) -> Reply {
    app.call(
        Method::PUT,
        &format!("/v1/customers/{id}/stage"),
        token,
        json!({"stage": stage, "occurred_at": text(at)}),
    )
    .await
}

async fn times(pool: &PgPool, id: Uuid) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    sqlx::query_as(
        "SELECT occurred_at, recorded_at FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await
    .expect("times")
}

#[sqlx::test(migrations = "../schema")]
async fn a_customer_registered_after_the_fact_keeps_both_times(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-1");
    let began = ago(400);
    let id = register_on(&app, &rep, began).await;
    let [(occurred_at, recorded_at)] = times(&pool, id).await[..] else {
        panic!("one event");
    };
    assert_eq!(text(occurred_at), text(began));
    assert!(Utc::now() - recorded_at < Duration::minutes(1));
    project(&pool).await;
    let detail = app
        .call(
            Method::GET,
            &format!("/v1/customers/{id}"),
            &rep,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    let registered_at: DateTime<Utc> =
        serde_json::from_value(detail["registered_at"].clone()).expect("registered_at");
    assert_eq!(text(registered_at), text(began));
    // Four hundred days without contact: as of now, a lost prospect.
    assert_eq!(detail["profile"]["lifecycle"], "lost", "{detail}");
}

#[sqlx::test(migrations = "../schema")]
async fn facts_dated_in_the_future_are_refused(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-1");
    let later = text(Utc::now() + Duration::hours(1));
    let reply = app
        .call(
            Method::POST,
            "/v1/customers",
            &rep,
            json!({"name": "未来客户", "occurred_at": later}),
        )
        .await;
    refused_on_occurred_at(reply, "5 minutes in the future");
    let id = app.register(&rep, "张三").await;
    for (route, body) in [
        ("stage", json!({"stage": "qualified", "occurred_at": later})),
        ("activities", json!({"type": "call", "occurred_at": later})),
        (
            "purchases",
            json!({"amount": "10", "category": "软件", "occurred_at": later}),
        ),
    ] {
        let method = if route == "stage" {
            Method::PUT
        } else {
            Method::POST
        };
        let reply = app
            .call(method, &format!("/v1/customers/{id}/{route}"), &rep, body)
            .await;
        refused_on_occurred_at(reply, "5 minutes in the future");
    }
    assert_eq!(app.event_count().await, 1);
}

#[sqlx::test(migrations = "../schema")]
async fn facts_dated_before_2000_are_refused(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-1");
    let reply = app
        .call(
            Method::POST,
            "/v1/customers",
            &rep,
            json!({"name": "古人", "occurred_at": "1999-12-31T23:59:59Z"}),
        )
        .await;
    refused_on_occurred_at(reply, "2000-01-01");
    let id = register_on(&app, &rep, ago(30)).await;
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/customers/{id}/purchases"),
            &rep,
            json!({"amount": "10", "category": "软件", "occurred_at": "1970-01-01T00:00:00Z"}),
        )
        .await;
    refused_on_occurred_at(reply, "2000-01-01");
    let reply = app
        .call(
            Method::POST,
            "/v1/customers",
            &rep,
            json!({"name": "千禧", "occurred_at": "2000-01-01T08:00:00+08:00"}),
        )
        .await;
    reply.expect(StatusCode::CREATED);
}

#[sqlx::test(migrations = "../schema")]
async fn stage_moves_are_back_dated_in_order_and_stays_use_their_dates(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-1");
    let id = register_on(&app, &rep, ago(90)).await;
    refused_on_occurred_at(
        move_on(&app, &rep, id, "qualified", ago(91)).await,
        "when the customer was registered",
    );
    move_on(&app, &rep, id, "qualified", ago(60))
        .await
        .expect(StatusCode::OK);
    // Before the previous move: out of order, even though after the registration.
    refused_on_occurred_at(
        move_on(&app, &rep, id, "proposal", ago(61)).await,
        "when the customer entered qualified",
    );
    move_on(&app, &rep, id, "proposal", ago(50))
        .await
        .expect(StatusCode::OK);
    // Undated, the move happens now; a later back-dated move must follow it.
    app.call(
        Method::PUT,
        &format!("/v1/customers/{id}/stage"),
        &rep,
        json!({"stage": "negotiation"}),
    )
    .await
    .expect(StatusCode::OK);
    refused_on_occurred_at(
        move_on(&app, &rep, id, "closed_won", ago(1)).await,
        "when the customer entered negotiation",
    );
    project(&pool).await;
    let funnel = app
        .call(Method::GET, "/v1/funnel", &rep, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    let cycle = |stage: &str| {
        funnel["stages"]
            .as_array()
            .and_then(|stages| stages.iter().find(|s| s["id"] == stage))
            .and_then(|s| s["avg_cycle_days"].as_f64())
    };
    assert_eq!(cycle("lead"), Some(30.0), "{funnel}");
    assert_eq!(cycle("qualified"), Some(10.0), "{funnel}");
    assert_eq!(cycle("proposal"), Some(50.0), "{funnel}");
}

#[sqlx::test(migrations = "../schema")]
async fn old_activities_are_logged_late_and_timelines_list_them_by_date(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-1");
    let id = register_on(&app, &rep, ago(90)).await;
    let activity =
        |at: DateTime<Utc>| json!({"type": "visit", "subject": "拜访", "occurred_at": text(at)});
    let path = format!("/v1/customers/{id}/activities");
    refused_on_occurred_at(
        app.call(Method::POST, &path, &rep, activity(ago(91))).await,
        "when the customer was registered",
    );
    move_on(&app, &rep, id, "qualified", ago(10))
        .await
        .expect(StatusCode::OK);
    app.call(Method::POST, &path, &rep, activity(ago(5)))
        .await
        .expect(StatusCode::OK);
    // Last month's visit, entered after this week's: accepted, in its place.
    app.call(Method::POST, &path, &rep, activity(ago(30)))
        .await
        .expect(StatusCode::OK);
    app.call(
        Method::POST,
        &format!("/v1/customers/{id}/purchases"),
        &rep,
        json!({"amount": "1999.00", "category": "软件", "occurred_at": text(ago(20))}),
    )
    .await
    .expect(StatusCode::OK);
    project(&pool).await;
    let mut kinds = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(next) => format!("/v1/customers/{id}/timeline?limit=2&cursor={next}"),
            None => format!("/v1/customers/{id}/timeline?limit=2"),
        };
        let page = app
            .call(Method::GET, &uri, &rep, Value::Null)
            .await
            .expect(StatusCode::OK)
            .body;
        for entry in page["items"].as_array().expect("items") {
            kinds.push((
                entry["kind"].as_str().unwrap_or_default().to_owned(),
                entry["sequence"].as_i64().unwrap_or_default(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        kinds,
        [
            ("activity".to_owned(), 3),
            ("stage_moved".to_owned(), 2),
            ("purchase".to_owned(), 5),
            ("activity".to_owned(), 4),
            ("registered".to_owned(), 1),
        ],
        "newest first by when it happened"
    );
    let detail = app
        .call(
            Method::GET,
            &format!("/v1/customers/{id}"),
            &rep,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    let last_contact: DateTime<Utc> =
        serde_json::from_value(detail["last_contact_at"].clone()).expect("last contact");
    assert!((ago(5) - last_contact).num_seconds().abs() < 60, "{detail}");
    assert_eq!(detail["profile"]["lifecycle"], "new", "{detail}");
}

/// Events recorded before `occurred_at` was kept for every event (here: a
/// stage move without one in its metadata) read as having happened when
/// they were recorded, and later moves are ordered after them.
#[sqlx::test(migrations = "../schema")]
async fn events_without_occurred_at_happened_when_recorded(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-1");
    let id = register_on(&app, &rep, ago(90)).await;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('Customer', $1, 2, 'CustomerStageMoved', '1', $2, $3)",
    )
    .bind(id.to_string())
    .bind(json!({"CustomerStageMoved": {
        "from": "lead", "to": "qualified", "deal_value": "50000.00",
        "probability": 0.2, "reason": null}}))
    .bind(
        json!({"tenant_id": app.tenant.to_string(), "actor": "rep-1", "role": "rep",
                 "command": "MoveStage", "correlation_id": "legacy"}),
    )
    .execute(&pool)
    .await
    .expect("a legacy event");
    let [_, (occurred_at, recorded_at)] = times(&pool, id).await[..] else {
        panic!("two events");
    };
    assert_eq!(occurred_at, recorded_at);
    refused_on_occurred_at(
        move_on(&app, &rep, id, "proposal", ago(1)).await,
        "when the customer entered qualified",
    );
    app.call(
        Method::PUT,
        &format!("/v1/customers/{id}/stage"),
        &rep,
        json!({"stage": "proposal"}),
    )
    .await
    .expect(StatusCode::OK);
}

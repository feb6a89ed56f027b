//! Follow-ups over HTTP against a real database: scheduling and completing
//! (the activity on the customer exactly once), refusals that write
//! nothing, lists and counts by the tenant's day, reminders that fire once
//! with two schedulers (late after an outage, for the new time after a
//! reschedule, never for a closed follow-up), the inbox, and the live feed
//! resuming after `Last-Event-ID` and ending at shutdown.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

use command::follow_up::policy::{activity_key, sweep_once};
use command::follow_up::FollowUpService;
use command::CommandService;
use common::{project, TestApp};
use web::Role;

fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn in_minutes(minutes: i64) -> String {
    rfc3339(Utc::now() + chrono::Duration::minutes(minutes))
}

async fn schedule(app: &TestApp, token: &str, body: Value) -> common::Reply {
    app.call(Method::POST, "/v1/follow-ups", token, body).await
}

async fn schedule_call(app: &TestApp, token: &str, customer: Uuid, due_at: &str) -> Uuid {
    schedule(
        app,
        token,
        json!({"customer_id": customer, "type": "call", "subject": "回访报价", "due_at": due_at}),
    )
    .await
    .expect(StatusCode::CREATED)
    .id()
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

fn service(pool: &PgPool) -> FollowUpService {
    FollowUpService::new(Arc::new(CommandService::new(
        pool.clone(),
        common::test_data_keys(pool),
    )))
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn completing_logs_the_activity_on_the_customer_exactly_once(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-zhang");
    let customer = app.register(&rep, "张三").await;
    let scheduled = schedule(
        &app,
        &rep,
        json!({"customer_id": customer, "type": "visit", "subject": "上门演示",
               "notes": "带上样品", "due_at": in_minutes(60), "remind_before_minutes": 30}),
    )
    .await
    .expect(StatusCode::CREATED);
    let id = scheduled.id();
    assert_eq!(
        scheduled.headers["location"].to_str().expect("location"),
        format!("/v1/follow-ups/{id}")
    );
    let detail = app
        .call(
            Method::GET,
            &format!("/v1/follow-ups/{id}"),
            &rep,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(detail.body["notes"], "带上样品");
    assert_eq!(detail.body["status"], "open");
    assert_eq!(detail.body["remind_before_minutes"], 30);
    let stored: String = sqlx::query_scalar("SELECT notes FROM follow_ups")
        .fetch_one(&pool)
        .await
        .expect("notes");
    assert!(stored.starts_with("sealed:v1:"), "notes are sealed at rest");

    let complete = |key: &'static str| {
        let app = &app;
        let rep = rep.clone();
        async move {
            app.call_with(
                Method::POST,
                &format!("/v1/follow-ups/{id}/complete"),
                &rep,
                json!({"outcome": "客户同意下周签约"}),
                &[("idempotency-key", key)],
            )
            .await
            .expect(StatusCode::OK)
        }
    };
    let first = complete("done-1").await;
    let again = complete("done-2").await;
    assert_eq!(first.version(), 2);
    assert_eq!(again.version(), 2, "completing again changes nothing");
    // A lost bookkeeping row (a crash after the activity's append) and two
    // sweeps racing still log nothing twice.
    sqlx::query("UPDATE follow_ups SET activity_logged_at = NULL")
        .execute(&pool)
        .await
        .expect("reset");
    let service = service(&pool);
    let (one, two) = tokio::join!(sweep_once(&service), sweep_once(&service));
    one.expect("sweep");
    two.expect("sweep");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM events WHERE event_type = 'ActivityLogged'"
        )
        .await,
        1
    );
    let metadata: Value = sqlx::query_scalar(
        "SELECT metadata::jsonb FROM events WHERE event_type = 'ActivityLogged'",
    )
    .fetch_one(&pool)
    .await
    .expect("metadata");
    assert_eq!(metadata["idempotency_key"], activity_key(id));
    assert_eq!(metadata["on_behalf_of"], "rep-zhang");
    assert!(metadata["causation_id"].is_string());
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM follow_ups WHERE activity_logged_at IS NULL"
        )
        .await,
        0
    );

    project(&pool).await;
    let timeline = app
        .call(
            Method::GET,
            &format!("/v1/customers/{customer}/timeline"),
            &rep,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    let activities: Vec<&Value> = timeline.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|entry| entry["kind"] == "activity")
        .collect();
    assert_eq!(activities.len(), 1, "{:#}", timeline.body);
    assert_eq!(activities[0]["details"]["notes"], "客户同意下周签约");
    let done = app
        .call(Method::GET, "/v1/follow-ups?status=done", &rep, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(done.body["items"][0]["outcome"], "客户同意下周签约");
    assert_eq!(done.body["items"][0]["customer_name"], "张三");
    let open = app
        .call(Method::GET, "/v1/follow-ups", &rep, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(open.body["items"], json!([]));
    // Nothing to remind of any more.
    assert_eq!(
        count(&pool, "SELECT count(*) FROM follow_up_reminders").await,
        0
    );
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn bad_input_is_refused_clearly_and_writes_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-zhang");
    let other = app.token(Role::Rep, "rep-li");
    let customer = app.register(&rep, "张三").await;
    let theirs = app.register(&other, "李四").await;
    let open = schedule_call(&app, &rep, customer, &in_minutes(30)).await;
    let before = app.event_count().await;
    let base = json!({"customer_id": customer, "type": "call", "subject": "回访", "due_at": in_minutes(30)});
    let with = |changes: Value| {
        let mut body = base.clone();
        for (key, value) in changes.as_object().expect("object") {
            body[key] = value.clone();
        }
        body
    };
    for (body, status, field) in [
        (
            with(json!({"due_at": in_minutes(-10)})),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("due_at"),
        ),
        (
            with(json!({"due_at": "明天"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("due_at"),
        ),
        (
            with(json!({"type": "lunch"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("type"),
        ),
        (
            with(json!({"subject": ""})),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("subject"),
        ),
        (
            with(json!({"remind_before_minutes": 10081})),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("remind_before_minutes"),
        ),
        (
            with(json!({"customer_id": Uuid::now_v7()})),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            with(json!({"customer_id": theirs})),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            with(json!({"assignee": "rep-li"})),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            with(json!({"colour": "red"})),
            StatusCode::BAD_REQUEST,
            None,
        ),
    ] {
        let reply = schedule(&app, &rep, body.clone()).await.expect(status);
        if let Some(field) = field {
            assert!(
                reply.body["errors"][field].is_array(),
                "{body}: {:#}",
                reply.body
            );
        }
    }
    let path = |action: &str| format!("/v1/follow-ups/{open}/{action}");
    app.call(Method::POST, &path("cancel"), &rep, json!({"reason": ""}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.call(Method::POST, &path("complete"), &other, json!({}))
        .await
        .expect(StatusCode::NOT_FOUND);
    app.call(
        Method::POST,
        &path("reassign"),
        &rep,
        json!({"assignee": "rep-li"}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    app.call(
        Method::POST,
        &path("reschedule"),
        &rep,
        json!({"due_at": in_minutes(-5)}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.call_with(
        Method::POST,
        &path("complete"),
        &rep,
        json!({}),
        &[("if-match", "\"7\"")],
    )
    .await
    .expect(StatusCode::PRECONDITION_FAILED);
    app.call(
        Method::GET,
        &format!("/v1/follow-ups/{open}"),
        &other,
        Value::Null,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let auditor = app.token(Role::Auditor, "audit");
    app.call(Method::POST, &path("complete"), &auditor, json!({}))
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(app.event_count().await, before, "nothing was written");

    app.call(
        Method::POST,
        &path("cancel"),
        &rep,
        json!({"reason": "客户已签约"}),
    )
    .await
    .expect(StatusCode::OK);
    app.call(Method::POST, &path("complete"), &rep, json!({}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let cancelled = app
        .call(
            Method::GET,
            "/v1/follow-ups?status=cancelled",
            &rep,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(cancelled.body["items"][0]["cancel_reason"], "客户已签约");
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn lists_and_counts_follow_the_tenant_day(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    let rep = app.token(Role::Rep, "rep-zhang");
    app.call(
        Method::PUT,
        "/v1/tenant/settings",
        &admin,
        json!({"time_zone": "Mars/Olympus"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.call(
        Method::PUT,
        "/v1/tenant/settings",
        &rep,
        json!({"time_zone": "UTC"}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let saved = app
        .call(
            Method::PUT,
            "/v1/tenant/settings",
            &admin,
            json!({"time_zone": "Europe/Berlin"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(saved.body["time_zone"], "Europe/Berlin");
    let zone = store::tenant_settings::parse_time_zone("Europe/Berlin").expect("zone");
    let now = Utc::now();
    let today_start = store::tenant_settings::day_start(zone, now, 0);
    let tomorrow_start = store::tenant_settings::day_start(zone, now, 1);

    let customer = app.register(&rep, "张三").await;
    // Within the minute's grace, so it may be scheduled, and overdue at once.
    let overdue = schedule_call(
        &app,
        &rep,
        customer,
        &rfc3339(now - chrono::Duration::seconds(30)),
    )
    .await;
    let tomorrow = schedule_call(
        &app,
        &rep,
        customer,
        &rfc3339(tomorrow_start + chrono::Duration::hours(12)),
    )
    .await;
    let later = schedule_call(
        &app,
        &rep,
        customer,
        &rfc3339(tomorrow_start + chrono::Duration::days(3)),
    )
    .await;
    let beyond = schedule_call(
        &app,
        &rep,
        customer,
        &rfc3339(tomorrow_start + chrono::Duration::days(10)),
    )
    .await;
    let ids = |reply: &common::Reply| -> Vec<Uuid> {
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| {
                item["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("id")
            })
            .collect()
    };
    let list = |due: &'static str| {
        let app = &app;
        let rep = rep.clone();
        async move {
            app.call(
                Method::GET,
                &format!("/v1/follow-ups?due={due}"),
                &rep,
                Value::Null,
            )
            .await
            .expect(StatusCode::OK)
        }
    };
    assert_eq!(ids(&list("overdue").await), [overdue]);
    assert_eq!(ids(&list("tomorrow").await), [tomorrow]);
    assert_eq!(ids(&list("week").await), [overdue, tomorrow, later]);
    assert_eq!(ids(&list("all").await), [overdue, tomorrow, later, beyond]);
    assert!(list("overdue").await.body["items"][0]["overdue"] == true);
    let counts = app
        .call(Method::GET, "/v1/follow-ups/counts", &rep, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(counts.body["overdue"], 1);
    assert_eq!(counts.body["tomorrow"], 1);
    assert_eq!(counts.body["week"], 3);
    assert_eq!(counts.body["open"], 4);
    assert_eq!(counts.body["time_zone"], "Europe/Berlin");
    assert_eq!(counts.body["today_starts_at"], json!(today_start));
    // The overdue one was due today (unless this test runs in the first
    // half-minute of Berlin's day).
    if now - today_start > chrono::Duration::minutes(1) {
        assert_eq!(counts.body["today"], 1);
    }

    // Keyset pages.
    let first = app
        .call(Method::GET, "/v1/follow-ups?limit=3", &rep, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&first), [overdue, tomorrow, later]);
    let cursor = first.body["next_cursor"].as_str().expect("cursor");
    let second = app
        .call(
            Method::GET,
            &format!("/v1/follow-ups?limit=3&cursor={cursor}"),
            &rep,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&second), [beyond]);
    assert!(second.body["next_cursor"].is_null());

    // Another rep sees none of them; a manager sees them as its team's.
    let other = app.token(Role::Rep, "rep-li");
    let theirs = app
        .call(
            Method::GET,
            "/v1/follow-ups?scope=team",
            &other,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs.body["items"], json!([]));
    let manager = app.manager();
    let team = app
        .call(
            Method::GET,
            "/v1/follow-ups?scope=team&due=week",
            &manager,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&team).len(), 3);
    let mine = app
        .call(Method::GET, "/v1/follow-ups", &manager, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine.body["items"], json!([]));
    let of_customer = app
        .call(
            Method::GET,
            &format!("/v1/follow-ups?customer_id={customer}&status=all"),
            &manager,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&of_customer).len(), 4);
    app.call(
        Method::GET,
        "/v1/follow-ups?due=yesterday",
        &rep,
        Value::Null,
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn reminders_fire_once_with_two_schedulers_late_after_an_outage(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-zhang");
    let customer = app.register(&rep, "张三").await;
    // Due in 3 minutes with a 5-minute lead: the reminder is due now.
    let body = |subject: String| {
        json!({"customer_id": customer, "type": "call", "subject": subject,
               "due_at": in_minutes(3), "remind_before_minutes": 5})
    };
    for index in 0..40 {
        schedule(&app, &rep, body(format!("回访 {index}")))
            .await
            .expect(StatusCode::CREATED);
    }
    let completed = schedule(&app, &rep, body("已完成".into()))
        .await
        .expect(StatusCode::CREATED)
        .id();
    let cancelled = schedule(&app, &rep, body("已取消".into()))
        .await
        .expect(StatusCode::CREATED)
        .id();
    app.call(
        Method::POST,
        &format!("/v1/follow-ups/{completed}/complete"),
        &rep,
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::POST,
        &format!("/v1/follow-ups/{cancelled}/cancel"),
        &rep,
        json!({"reason": "不需要了"}),
    )
    .await
    .expect(StatusCode::OK);
    // Due next week, then moved to within the lead time: it fires for the new time.
    let moved = schedule(
        &app,
        &rep,
        json!({"customer_id": customer, "type": "email", "subject": "改期的", "due_at": in_minutes(7 * 24 * 60)}),
    )
    .await
    .expect(StatusCode::CREATED)
    .id();
    let not_yet = schedule_call(&app, &rep, customer, &in_minutes(120)).await;
    app.call(
        Method::POST,
        &format!("/v1/follow-ups/{moved}/reschedule"),
        &rep,
        json!({"due_at": in_minutes(2), "remind_before_minutes": 10}),
    )
    .await
    .expect(StatusCode::OK);
    // An outage: this one's reminder was due ten minutes ago.
    let missed = schedule_call(&app, &rep, customer, &in_minutes(30)).await;
    sqlx::query("UPDATE follow_up_reminders SET fire_at = now() - interval '10 minutes' WHERE follow_up_id = $1")
        .bind(missed)
        .execute(&pool)
        .await
        .expect("outage");

    let now = Utc::now();
    let (one, two) = tokio::join!(
        notify::scheduler::fire_due(&pool, now),
        notify::scheduler::fire_due(&pool, now)
    );
    assert_eq!(
        one.expect("fire") + two.expect("fire"),
        42,
        "each due reminder claimed once"
    );
    let (again, _) = tokio::join!(
        notify::scheduler::fire_due(&pool, now),
        notify::scheduler::fire_due(&pool, now)
    );
    assert_eq!(again.expect("fire"), 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM notifications").await, 42);
    assert_eq!(
        count(
            &pool,
            "SELECT count(DISTINCT follow_up_id) FROM notifications"
        )
        .await,
        42
    );
    let fired = |id: Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM notifications WHERE follow_up_id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("count")
        }
    };
    assert_eq!(fired(completed).await, 0);
    assert_eq!(fired(cancelled).await, 0);
    assert_eq!(fired(not_yet).await, 0);
    assert_eq!(fired(moved).await, 1);
    let late: Vec<(Uuid, bool)> =
        sqlx::query_as("SELECT follow_up_id, late FROM notifications WHERE late")
            .fetch_all(&pool)
            .await
            .expect("late");
    assert_eq!(late, [(missed, true)]);

    // The inbox: newest first, unread counted, read one and then all.
    project(&pool).await;
    let inbox = app
        .call(Method::GET, "/v1/notifications?limit=5", &rep, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(inbox.body["unread"], 42);
    let items = inbox.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["kind"], "follow_up_due");
    assert_eq!(items[0]["customer_name"], "张三");
    let newest = items[0]["id"].as_i64().expect("id");
    app.send(
        Method::POST,
        &format!("/v1/notifications/{newest}/read"),
        Some(&rep),
        None,
        &[],
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let other = app.token(Role::Rep, "rep-li");
    app.send(
        Method::POST,
        &format!("/v1/notifications/{newest}/read"),
        Some(&other),
        None,
        &[],
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let unread = app
        .call(
            Method::GET,
            "/v1/notifications?unread=true&limit=100",
            &rep,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(unread.body["unread"], 41);
    assert_eq!(unread.body["items"].as_array().map(Vec::len), Some(41));
    let marked = app
        .send(
            Method::POST,
            "/v1/notifications/read",
            Some(&rep),
            None,
            &[],
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(marked.body["marked"], 41);
    let theirs = app
        .call(Method::GET, "/v1/notifications", &other, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs.body["items"], json!([]));
}

/// Reads SSE frames from `body` until `want` events named `notification`
/// arrived (or `shutdown`), with a deadline.
async fn read_events(body: &mut Body, want: usize, until_shutdown: bool) -> Vec<(String, String)> {
    let mut text = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await;
        let Ok(Some(Ok(frame))) = frame else { break };
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(&format!("{name}:")))
                    .map(|value| value.trim().to_owned())
            };
            if let Some(event) = field("event") {
                events.push((event, field("id").unwrap_or_default()));
            }
        }
        let notifications = events
            .iter()
            .filter(|(event, _)| event == "notification")
            .count();
        if (!until_shutdown && notifications >= want)
            || events.iter().any(|(event, _)| event == "shutdown")
        {
            break;
        }
    }
    events
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn the_live_feed_delivers_resumes_after_the_last_id_and_ends_at_shutdown(pool: PgPool) {
    let helper = TestApp::new(pool.clone());
    let rep = helper.token(Role::Rep, "rep-zhang");
    let mut state = crm::app::AppState::new(
        pool.clone(),
        web::JwtKeys::from_secret(common::SECRET).expect("keys"),
        common::test_data_keys(&pool),
    );
    let (stop_feeds, _) = tokio::sync::watch::channel(false);
    let stop_feeds = Arc::new(stop_feeds);
    state.feeds_shutdown = stop_feeds.clone();
    let (stop_listener, listener_stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(
        state
            .arrivals
            .clone()
            .listen(pool.clone(), listener_stopped),
    );
    let router = crm::app::router(state);
    let open_feed = |last_event_id: Option<String>| {
        let router = router.clone();
        let rep = rep.clone();
        async move {
            let mut request = Request::builder()
                .uri("/v1/notifications/stream")
                .header(header::AUTHORIZATION, format!("Bearer {rep}"));
            if let Some(id) = last_event_id {
                request = request.header("last-event-id", id);
            }
            let response = router
                .oneshot(request.body(Body::empty()).expect("request"))
                .await
                .expect("infallible");
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "text/event-stream"
            );
            response.into_body()
        }
    };
    let mut live = open_feed(None).await;
    let customer = helper.register(&rep, "张三").await;
    for subject in ["第一个", "第二个"] {
        schedule(
            &helper,
            &rep,
            json!({"customer_id": customer, "type": "call", "subject": subject,
                   "due_at": in_minutes(1), "remind_before_minutes": 5}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    // Give the listener time to subscribe before the first notice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    notify::scheduler::fire_due(&pool, Utc::now())
        .await
        .expect("fire");
    let received = read_events(&mut live, 2, false).await;
    let ids: Vec<&str> = received
        .iter()
        .filter(|(event, _)| event == "notification")
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{received:?}");

    // A reconnect after the first id gets the second again, and nothing else.
    let mut resumed = open_feed(Some(ids[0].to_owned())).await;
    let again = read_events(&mut resumed, 1, false).await;
    assert_eq!(
        again
            .iter()
            .filter(|(event, _)| event == "notification")
            .map(|(_, id)| id.as_str())
            .collect::<Vec<_>>(),
        [ids[1]]
    );
    let bad = helper
        .send(
            Method::GET,
            "/v1/notifications/stream",
            Some(&rep),
            None,
            &[("last-event-id", "x")],
        )
        .await;
    bad.expect(StatusCode::BAD_REQUEST);

    // Shutdown ends both feeds with `event: shutdown`.
    let _ = stop_feeds.send(true);
    for body in [&mut live, &mut resumed] {
        let ending = read_events(body, 0, true).await;
        assert!(
            ending.iter().any(|(event, _)| event == "shutdown"),
            "{ending:?}"
        );
        let end = tokio::time::timeout(Duration::from_secs(5), body.frame()).await;
        assert!(matches!(end, Ok(None)), "the stream ends");
    }
    let _ = stop_listener.send(true);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_fired_reminder_is_delivered_to_the_webhooks_that_subscribe(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    for types in [json!(["crm.reminder.due"]), json!(["crm.customer.*"])] {
        app.call(
            Method::POST,
            "/v1/webhooks",
            &admin,
            json!({"url": "https://93.184.216.34/hook", "event_types": types}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let rep = app.token(Role::Rep, "rep-zhang");
    let customer = app.register(&rep, "张三").await;
    let follow_up = schedule(
        &app,
        &rep,
        json!({"customer_id": customer, "type": "call", "subject": "回访",
               "due_at": in_minutes(2), "remind_before_minutes": 5}),
    )
    .await
    .expect(StatusCode::CREATED)
    .id();
    notify::scheduler::fire_due(&pool, Utc::now())
        .await
        .expect("fire");
    notify::scheduler::fire_due(&pool, Utc::now())
        .await
        .expect("fire again");
    let deliveries: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT message_id, ordering_key, body FROM webhook_deliveries WHERE event_type = 'crm.reminder.due'",
    )
    .fetch_all(&pool)
    .await
    .expect("deliveries");
    assert_eq!(deliveries.len(), 1, "one endpoint subscribes, once");
    let (message_id, ordering_key, body) = &deliveries[0];
    assert!(message_id.starts_with("reminder:follow-up:"));
    assert_eq!(ordering_key, &customer.to_string());
    let body: Value = serde_json::from_str(body).expect("json");
    assert_eq!(body["type"], "crm.reminder.due");
    assert_eq!(body["follow_up_id"], json!(follow_up));
    assert_eq!(body["recipient"], "rep-zhang");
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_disabled_webhook_endpoint_reaches_the_admins_inboxes_once(pool: PgPool) {
    use webhooks::AdminAlerts;
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    for (login, role) in [("ann", "admin"), ("rep-zhang", "rep")] {
        app.call(
            Method::POST,
            "/v1/users",
            &admin,
            json!({"login": login, "display_name": format!("{login} 名"), "role": role}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let alert = webhooks::EndpointDisabled {
        tenant_id: app.tenant,
        endpoint_id: Uuid::now_v7(),
        url: "https://93.184.216.34/hook".to_owned(),
        reason: "5 dead letters in a row".to_owned(),
        disabled_at: Utc::now(),
    };
    for _ in 0..2 {
        let mut tx = pool.begin().await.expect("tx");
        notify::InboxAlerts
            .endpoint_disabled(&mut tx, &alert)
            .await
            .expect("alert");
        tx.commit().await.expect("commit");
    }
    let ann = app.token(Role::Admin, "ann");
    let inbox = app
        .call(Method::GET, "/v1/notifications", &ann, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(inbox.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(inbox.body["items"][0]["kind"], "webhook_disabled");
    let rep = app.token(Role::Rep, "rep-zhang");
    let theirs = app
        .call(Method::GET, "/v1/notifications", &rep, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs.body["items"], json!([]));
}

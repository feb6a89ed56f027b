//! Automation rules against a real database: admins switch and configure
//! them (bounds checked, nothing saved on refusal); a silent lead and a
//! customer turned at risk get one follow-up each for their owner, and an
//! overdue follow-up one notification to its assignee's manager — however
//! many passes, also concurrent ones — with the rule as the actor.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use command::follow_up::FollowUpService;
use command::CommandService;
use common::{project, TestApp};
use web::Role;

fn days_ago(days: i64) -> String {
    (Utc::now() - Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn service(pool: &PgPool) -> FollowUpService {
    FollowUpService::new(Arc::new(CommandService::new(
        pool.clone(),
        common::test_data_keys(pool),
    )))
}

async fn enable(app: &TestApp, rule: &str, settings: Value) {
    let admin = app.token(Role::Admin, "boss");
    app.call(
        Method::PUT,
        &format!("/v1/automation/rules/{rule}"),
        &admin,
        json!({"enabled": true, "settings": settings}),
    )
    .await
    .expect(StatusCode::OK);
}

/// Two passes at once, then another: what the rules did in all.
async fn passes(pool: &PgPool) -> (usize, i64) {
    let service = service(pool);
    let now = Utc::now();
    let (one, two) = tokio::join!(
        automation::run_once(&service, now),
        automation::run_once(&service, now)
    );
    let three = automation::run_once(&service, now).await.expect("pass");
    let (one, two) = (one.expect("pass"), two.expect("pass"));
    (
        one.follow_ups + two.follow_ups + three.follow_ups,
        one.notifications + two.notifications + three.notifications,
    )
}

async fn rule_follow_ups(pool: &PgPool, rule: &str) -> Vec<(Uuid, String, Option<String>)> {
    sqlx::query_as(
        "SELECT customer_id, assignee, notes FROM follow_ups WHERE scheduled_by = $1 ORDER BY customer_id",
    )
    .bind(format!("rule:{rule}"))
    .fetch_all(pool)
    .await
    .expect("follow-ups")
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn admins_switch_and_configure_rules_within_bounds(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    let listed = app
        .call(Method::GET, "/v1/automation/rules", &admin, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        listed.body["items"],
        json!([
            {"rule": "uncontacted_lead", "enabled": false, "settings": {"hours": 24}},
            {"rule": "turned_at_risk", "enabled": false, "settings": {}},
            {"rule": "overdue_escalation", "enabled": false, "settings": {"days": 3}},
        ])
    );
    let put = |rule: &'static str, body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.call(
                Method::PUT,
                &format!("/v1/automation/rules/{rule}"),
                &admin,
                body,
            )
            .await
        }
    };
    put(
        "uncontacted_lead",
        json!({"enabled": true, "settings": {"hours": 0}}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    put(
        "uncontacted_lead",
        json!({"enabled": true, "settings": {"hours": 721}}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    put(
        "overdue_escalation",
        json!({"enabled": true, "settings": {"hours": 5}}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    put("silent_to_nowhere", json!({"enabled": true}))
        .await
        .expect(StatusCode::NOT_FOUND);
    put("uncontacted_lead", json!({"enabled": "yes"}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    let saved: i64 = sqlx::query_scalar("SELECT count(*) FROM automation_rules")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(saved, 0, "nothing saved on refusal");
    let on = put(
        "uncontacted_lead",
        json!({"enabled": true, "settings": {"hours": 48}}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        on.body,
        json!({"rule": "uncontacted_lead", "enabled": true, "settings": {"hours": 48}})
    );
    let manager = app.manager();
    app.call(Method::GET, "/v1/automation/rules", &manager, Value::Null)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.call(
        Method::PUT,
        "/v1/automation/rules/turned_at_risk",
        &manager,
        json!({"enabled": true}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_silent_lead_gets_one_follow_up_for_its_owner(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-zhang");
    let register = |name: &'static str, at: String| {
        let app = &app;
        let rep = rep.clone();
        async move {
            app.call(
                Method::POST,
                "/v1/customers",
                &rep,
                json!({"name": name, "occurred_at": at}),
            )
            .await
            .expect(StatusCode::CREATED)
            .id()
        }
    };
    let silent = register("张三", days_ago(2)).await;
    let recent = register("李四", (Utc::now() - Duration::hours(1)).to_rfc3339()).await;
    let contacted = register("王五", days_ago(2)).await;
    app.call(
        Method::POST,
        &format!("/v1/customers/{contacted}/activities"),
        &rep,
        json!({"type": "call"}),
    )
    .await
    .expect(StatusCode::OK);
    project(&pool).await;
    assert_eq!(passes(&pool).await, (0, 0), "the rule is off");
    enable(&app, "uncontacted_lead", json!({"hours": 24})).await;
    assert_eq!(passes(&pool).await, (1, 0));
    let made = rule_follow_ups(&pool, "uncontacted_lead").await;
    assert_eq!(made.len(), 1);
    assert_eq!((made[0].0, made[0].1.as_str()), (silent, "rep-zhang"));
    let _ = recent;
    let metadata: Value = sqlx::query_scalar(
        "SELECT metadata::jsonb FROM events WHERE event_type = 'FollowUpScheduled'",
    )
    .fetch_one(&pool)
    .await
    .expect("metadata");
    assert_eq!(metadata["actor"], "rule:uncontacted_lead");
    // The owner sees it as its own, due now.
    let mine = app
        .call(Method::GET, "/v1/follow-ups?due=today", &rep, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine.body["items"].as_array().map(Vec::len), Some(1));
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_customer_turned_at_risk_gets_one_follow_up_with_its_recommended_actions(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let rep = app.token(Role::Rep, "rep-zhang");
    // Two purchases, the last 130 days ago: recency 1–2, frequency 2.
    let customer = app
        .call(
            Method::POST,
            "/v1/customers",
            &rep,
            json!({"name": "赵六", "occurred_at": days_ago(200)}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    for days in [150, 130] {
        app.call(
            Method::POST,
            &format!("/v1/customers/{customer}/purchases"),
            &rep,
            json!({"amount": "3000", "category": "软件", "occurred_at": days_ago(days)}),
        )
        .await
        .expect(StatusCode::OK);
    }
    project(&pool).await;
    let profile = app
        .call(
            Method::GET,
            &format!("/v1/customers/{customer}/profile"),
            &rep,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(profile.body["lifecycle"], "at_risk", "{:#}", profile.body);
    enable(&app, "turned_at_risk", json!({})).await;
    assert_eq!(passes(&pool).await, (1, 0));
    let made = rule_follow_ups(&pool, "turned_at_risk").await;
    assert_eq!(made.len(), 1);
    let detail = app
        .call(Method::GET, "/v1/follow-ups?due=today", &rep, Value::Null)
        .await
        .expect(StatusCode::OK);
    let notes = detail.body["items"][0]["notes"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let actions: Vec<String> = profile.body["recommended_actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|action| action.as_str().map(str::to_owned))
        .collect();
    assert!(!actions.is_empty());
    assert_eq!(notes, actions.join("\n"));
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn an_overdue_follow_up_notifies_the_assignees_manager_once(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    for (login, role) in [("rep-zhang", "rep"), ("mgr-wang", "manager")] {
        app.call(
            Method::POST,
            "/v1/users",
            &admin,
            json!({"login": login, "display_name": format!("{login} 名"), "role": role}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let team = app
        .call(
            Method::POST,
            "/v1/teams",
            &admin,
            json!({"name": "华东销售一组"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    for (login, role) in [("rep-zhang", "member"), ("mgr-wang", "manager")] {
        app.call(
            Method::PUT,
            &format!("/v1/teams/{team}/members/{login}"),
            &admin,
            json!({"role": role}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let rep = app.token(Role::Rep, "rep-zhang");
    let customer = app.register(&rep, "张三").await;
    let due = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let follow_up = app
        .call(
            Method::POST,
            "/v1/follow-ups",
            &rep,
            json!({"customer_id": customer, "type": "call", "subject": "回访", "due_at": due}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    enable(&app, "overdue_escalation", json!({"days": 3})).await;
    assert_eq!(passes(&pool).await, (0, 0), "not overdue long enough yet");
    // Four days pass.
    sqlx::query("UPDATE follow_ups SET due_at = due_at - interval '4 days'")
        .execute(&pool)
        .await
        .expect("time passes");
    assert_eq!(passes(&pool).await, (0, 1));
    let manager = app.token(Role::Manager, "mgr-wang");
    let inbox = app
        .call(Method::GET, "/v1/notifications", &manager, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(inbox.body["items"][0]["kind"], "follow_up_overdue");
    assert_eq!(inbox.body["items"][0]["follow_up_id"], json!(follow_up));
    let rep_inbox = app
        .call(
            Method::GET,
            "/v1/notifications?unread=true",
            &rep,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert!(rep_inbox.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|item| item["kind"] != "follow_up_overdue"));
}

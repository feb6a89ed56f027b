//! The analysts' stream over HTTP (no Kafka), against a real PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use common::TestApp;
use events::envelope::WITHHELD;
use events::personal::ERASED;
use web::Role;

fn items(body: &Value) -> Vec<Value> {
    body["items"].as_array().cloned().expect("items")
}

async fn wait_for(app: &TestApp, token: &str, count: usize) {
    for _ in 0..1_500 {
        let page = app
            .call(Method::GET, "/v1/events", token, Value::Null)
            .await
            .expect(StatusCode::OK)
            .body;
        if items(&page).len() >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the stream never reached {count} events");
}

#[sqlx::test(migrations = "../schema")]
async fn the_stream_pages_in_commit_order_without_personal_data(pool: PgPool) {
    let mut app = TestApp::new(pool.clone());
    let boss = app.manager();
    let id = app
        .call(
            Method::POST,
            "/v1/customers",
            &boss,
            json!({"name": "张三", "phone": "13800138000", "company": "星辰科技"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    for stage in ["qualified", "proposal"] {
        app.call(
            Method::PUT,
            &format!("/v1/customers/{id}/stage"),
            &boss,
            json!({"stage": stage}),
        )
        .await
        .expect(StatusCode::OK);
    }
    // Tests share one cluster: another test's open transaction holds back what
    // is safe to read, so wait until this test's own events are readable.
    wait_for(&app, &boss, 3).await;
    let first = app
        .call(Method::GET, "/v1/events?limit=2", &boss, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    let page = items(&first);
    assert_eq!(page.len(), 2);
    let registered = &page[0];
    assert_eq!(registered["specversion"], "1.0");
    assert_eq!(registered["type"], "crm.customer.registered.v1");
    assert_eq!(registered["subject"], id.to_string());
    assert_eq!(registered["tenantid"], app.tenant.to_string());
    assert_eq!(
        registered["source"],
        format!("urn:crm:tenant:{}", app.tenant)
    );
    assert_eq!(registered["sequence"], 1);
    assert_eq!(registered["data"]["name"], WITHHELD);
    assert_eq!(registered["data"]["phone"], WITHHELD);
    assert_eq!(registered["data"]["company"], "星辰科技");
    assert_eq!(registered["hash"].as_str().map(str::len), Some(64));
    assert!(!first.to_string().contains("张三"));
    assert_eq!(page[1]["type"], "crm.customer.stage_moved.v1");
    assert_eq!(first["next_after"], page[1]["position"]);

    let rest = app
        .send(
            Method::GET,
            &format!("/v1/events?after={}", first["next_after"]),
            Some(&boss),
            None,
            &[("accept", "application/x-ndjson")],
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(rest.content_type(), "application/x-ndjson");
    // A single line is itself a JSON document, which the test client parses.
    let text = match &rest.body {
        Value::String(text) => text.clone(),
        one => one.to_string(),
    };
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["sequence"], 3);
    assert_eq!(lines[0]["data"]["to"], "proposal");

    // After erasure the stream shows the fields as erased.
    app.call(
        Method::POST,
        &format!("/v1/customers/{id}/forget"),
        &app.token(Role::Admin, "root"),
        json!({"reason": "请求删除"}),
    )
    .await
    .expect(StatusCode::OK);
    wait_for(&app, &boss, 4).await;
    let again = app
        .call(Method::GET, "/v1/events", &boss, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(items(&again)[0]["data"]["name"], ERASED);
    assert_eq!(
        items(&again).last().expect("last")["type"],
        "crm.customer.forgotten.v1"
    );

    for (uri, status) in [
        ("/v1/events?after=999999", StatusCode::BAD_REQUEST),
        ("/v1/events?limit=0", StatusCode::BAD_REQUEST),
        ("/v1/events?after=-1", StatusCode::BAD_REQUEST),
    ] {
        app.call(Method::GET, uri, &boss, Value::Null)
            .await
            .expect(status);
    }
    app.call(
        Method::GET,
        "/v1/events",
        &app.token(Role::Rep, "rep-1"),
        Value::Null,
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    app.tenant = Uuid::new_v4();
    let stranger = app.token(Role::Manager, "boss");
    let nothing = app
        .call(Method::GET, "/v1/events", &stranger, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert!(items(&nothing).is_empty());
    let foreign_position = first["next_after"].to_string();
    app.call(
        Method::GET,
        &format!("/v1/events?after={foreign_position}"),
        &stranger,
        Value::Null,
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrations = "../schema")]
async fn a_late_commit_is_not_skipped_by_the_stream(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let held = app.register(&boss, "迟到").await;
    let other = app.register(&boss, "先到").await;
    wait_for(&app, &boss, 2).await;
    let start = items(
        &app.call(Method::GET, "/v1/events", &boss, Value::Null)
            .await
            .expect(StatusCode::OK)
            .body,
    );
    let after = start.last().expect("events")["position"]
        .as_i64()
        .expect("position");

    let mut slow = pool.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Customer', $1, 2, 'CustomerTagged', '1', $2, $3)",
    )
    .bind(held.to_string())
    .bind(json!({"CustomerTagged": {"tag": "held"}}))
    .bind(json!({"tenant_id": app.tenant.to_string(), "actor": "boss"}))
    .execute(&mut *slow)
    .await
    .expect("held append");
    app.call(
        Method::POST,
        &format!("/v1/customers/{other}/tags"),
        &boss,
        json!({"tag": "fast"}),
    )
    .await
    .expect(StatusCode::OK);
    let during = items(
        &app.call(
            Method::GET,
            &format!("/v1/events?after={after}"),
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body,
    );
    assert!(
        during.is_empty(),
        "the later commit waits behind the open transaction: {during:?}"
    );
    slow.commit().await.expect("commit");

    let mut seen = Vec::new();
    for _ in 0..500 {
        let page = items(
            &app.call(
                Method::GET,
                &format!("/v1/events?after={after}"),
                &boss,
                Value::Null,
            )
            .await
            .expect(StatusCode::OK)
            .body,
        );
        if page.len() == 2 {
            seen = page;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let subjects: Vec<&str> = seen
        .iter()
        .map(|event| event["subject"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        subjects,
        [held.to_string(), other.to_string()],
        "both events, the late one first"
    );
}

#[sqlx::test(migrations = "../schema")]
async fn the_directory_s_events_are_on_the_stream_typed_by_family_without_personal_data(
    pool: PgPool,
) {
    let app = TestApp::new(pool);
    let admin = app.token(Role::Admin, "root");
    let user = app
        .call(
            Method::POST,
            "/v1/users",
            &admin,
            json!({"login": "rep-s", "display_name": "流水", "email": "rep-s@example.com", "role": "rep"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    let team = app
        .call(Method::POST, "/v1/teams", &admin, json!({"name": "流水组"}))
        .await
        .expect(StatusCode::CREATED)
        .id();
    wait_for(&app, &admin, 2).await;
    let page = app
        .call(Method::GET, "/v1/events", &admin, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    let all = items(&page);
    let invited = all
        .iter()
        .find(|event| event["type"] == "crm.user.invited.v1")
        .expect("the invitation");
    assert_eq!(invited["subject"], user.to_string());
    assert_eq!(invited["data"]["login"], "rep-s");
    assert_eq!(invited["data"]["display_name"], WITHHELD);
    assert_eq!(invited["data"]["email"], WITHHELD);
    assert!(!page.to_string().contains("rep-s@example.com"));
    let created = all
        .iter()
        .find(|event| event["type"] == "crm.team.created.v1")
        .expect("the team");
    assert_eq!(created["subject"], team.to_string());
    assert_eq!(created["data"]["name"], "流水组");
    assert!(
        all.iter().all(|event| !event["type"]
            .as_str()
            .unwrap_or_default()
            .starts_with("crm.customer.user")),
        "no user event passes for a customer's"
    );
}

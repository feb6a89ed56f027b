//! Erasure of personal data by crypto-shredding, against a real PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use common::{project, TestApp};
use events::personal::ERASED;
use projector::runner::{rebuild, Projection};
use web::Role;

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("items")
}

#[sqlx::test(migrations = "../schema")]
async fn forgetting_erases_personal_fields_everywhere_and_keeps_the_facts(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let admin = app.token(Role::Admin, "root");
    let auditor = app.token(Role::Auditor, "audit");
    let id = app
        .call(
            Method::POST,
            "/v1/customers",
            &boss,
            json!({"name": "张三丰", "phone": "13800138000", "email": "zhang@example.cn",
                   "company": "星辰科技", "owner_id": "rep-1", "deal_value": "88000"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    let base = format!("/v1/customers/{id}");
    app.call(
        Method::POST,
        &format!("{base}/activities"),
        &boss,
        json!({"type": "call", "subject": "回访", "notes": "私人手机13900000000"}),
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::POST,
        &format!("{base}/purchases"),
        &boss,
        json!({"amount": "1999.00", "category": "软件订阅"}),
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::PUT,
        &format!("{base}/stage"),
        &boss,
        json!({"stage": "proposal"}),
    )
    .await
    .expect(StatusCode::OK);
    let stored_before: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT sequence, hash FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(&pool)
    .await
    .expect("hashes");
    let log_text: String = sqlx::query_scalar("SELECT string_agg(payload::text, ' ') FROM events")
        .fetch_one(&pool)
        .await
        .expect("log");
    assert!(
        !log_text.contains("张三丰") && !log_text.contains("13900000000"),
        "no personal data in clear in the log"
    );
    project(&app.pool).await;

    let detail = app
        .call(Method::GET, &base, &boss, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(detail["name"], "张三丰");
    assert_eq!(detail["phone"], "13800138000");
    let found = app
        .call(
            Method::GET,
            "/v1/customers?q=%E5%BC%A0%E4%B8%89",
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(items(&found).len(), 1);
    let history = app
        .call(
            Method::GET,
            &format!("/v1/audit/customers/{id}/events"),
            &auditor,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(
        items(&history)[0]["payload"]["CustomerRegistered"]["name"],
        "张三丰",
        "auditors read personal data while the key exists"
    );

    // Only an admin, only with a reason.
    let forget = format!("{base}/forget");
    for role in [Role::Manager, Role::Auditor] {
        app.call(
            Method::POST,
            &forget,
            &app.token(role, "boss"),
            json!({"reason": "请求删除"}),
        )
        .await
        .expect(StatusCode::FORBIDDEN);
    }
    app.call(
        Method::POST,
        &forget,
        &app.token(Role::Rep, "rep-1"),
        json!({"reason": "请求删除"}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let no_reason = app
        .call(Method::POST, &forget, &admin, json!({}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.body["errors"]["reason"].is_array());
    app.call(Method::POST, &forget, &admin, json!({"reason": "  "}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let first = app
        .call(
            Method::POST,
            &forget,
            &admin,
            json!({"reason": "客户依据个人信息保护法要求删除"}),
        )
        .await
        .expect(StatusCode::OK);
    let again = app
        .call(
            Method::POST,
            &forget,
            &admin,
            json!({"reason": "客户依据个人信息保护法要求删除"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(first.body, again.body, "forgetting twice changes nothing");
    assert_eq!(first.version(), 5);
    let destroyed: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT wrapped_key FROM customer_keys WHERE customer_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("key row");
    assert!(destroyed.is_none(), "the data key is destroyed");
    project(&app.pool).await;

    // Read models: personal fields erased, every other fact kept.
    let detail = app
        .call(Method::GET, &base, &boss, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(detail["name"], ERASED);
    assert_eq!(detail["phone"], ERASED);
    assert_eq!(detail["email"], ERASED);
    assert_eq!(detail["company"], "星辰科技");
    assert_eq!(detail["stage"], "proposal");
    assert_eq!(detail["deal_value"], "88000.00");
    assert_eq!(detail["purchase_count"], 1);
    assert_eq!(detail["total_amount"], "1999.00");
    let found = app
        .call(
            Method::GET,
            "/v1/customers?q=%E5%BC%A0%E4%B8%89",
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert!(items(&found).is_empty(), "an erased name is not searchable");
    let phone = app
        .call(
            Method::GET,
            "/v1/customers?q=13800138000",
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert!(items(&phone).is_empty());

    let timeline = app
        .call(Method::GET, &format!("{base}/timeline"), &boss, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    let text = timeline.to_string();
    assert!(
        !text.contains("张三丰") && !text.contains("13900000000") && !text.contains("zhang@"),
        "{text}"
    );
    let registered = items(&timeline)
        .iter()
        .find(|e| e["kind"] == "registered")
        .expect("registered");
    assert_eq!(registered["details"]["name"], ERASED);
    assert_eq!(registered["details"]["company"], "星辰科技");
    let activity = items(&timeline)
        .iter()
        .find(|e| e["kind"] == "activity")
        .expect("activity");
    assert_eq!(activity["details"]["notes"], ERASED);
    assert_eq!(activity["details"]["subject"], "回访");
    assert_eq!(items(&timeline)[0]["kind"], "forgotten");

    let history = app
        .send(
            Method::GET,
            &format!("/v1/audit/customers/{id}/events"),
            Some(&auditor),
            None,
            &[("accept", "application/x-ndjson")],
        )
        .await
        .expect(StatusCode::OK);
    let history_text = history.body.as_str().expect("ndjson").to_owned();
    assert!(!history_text.contains("张三丰") && history_text.contains(ERASED));
    assert!(history_text.contains("PurchaseRecorded") && history_text.contains("1999.00"));
    let state = app
        .call(
            Method::GET,
            &format!("/v1/audit/customers/{id}/state?sequence=1"),
            &auditor,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(state["state"]["name"], ERASED);

    // The log itself is untouched, so the chain still verifies.
    let stored_after: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT sequence, hash FROM events WHERE aggregate_id = $1 AND sequence <= 4 ORDER BY sequence")
            .bind(id.to_string())
            .fetch_all(&pool)
            .await
            .expect("hashes");
    assert_eq!(stored_after, stored_before);
    let verify = app
        .call(
            Method::GET,
            &format!("/v1/audit/customers/{id}/verify"),
            &auditor,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(verify["valid"], true);

    // Nothing more can be done with the customer.
    app.call(
        Method::PUT,
        &format!("{base}/stage"),
        &boss,
        json!({"stage": "negotiation"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);

    // Rebuilt from zero, the read models say exactly the same.
    let incremental = common::dump(&pool).await;
    for projection in Projection::ALL {
        rebuild(&pool, &app.data_keys, &[projection], |_, _| {})
            .await
            .expect("rebuild");
    }
    assert_eq!(common::dump(&pool).await, incremental);
}

#[sqlx::test(migrations = "../schema")]
async fn forgetting_an_unknown_or_foreign_customer_is_404(pool: PgPool) {
    let mut app = TestApp::new(pool);
    let boss = app.manager();
    let id = app.register(&boss, "外人").await;
    let admin = app.token(Role::Admin, "root");
    app.call(
        Method::POST,
        &format!("/v1/customers/{}/forget", uuid::Uuid::new_v4()),
        &admin,
        json!({"reason": "x"}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    app.tenant = uuid::Uuid::new_v4();
    let foreign_admin = app.token(Role::Admin, "root");
    app.call(
        Method::POST,
        &format!("/v1/customers/{id}/forget"),
        &foreign_admin,
        json!({"reason": "x"}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

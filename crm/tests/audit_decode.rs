//! Stored events the audit cannot read (an aggregate id that is not a UUID, a
//! payload or metadata that is not JSON it can read) are errors: the audit
//! routes answer a logged 500 problem and the export fails, never showing a
//! nil UUID or `null` in their place.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use common::{Reply, TestApp};
use web::Role;

/// A number PostgreSQL's `json` keeps as written but no f64 holds: valid
/// JSON to the event store, unreadable to the audit.
const OUT_OF_RANGE: &str = "1e400";

/// Appends an event to `aggregate_id`'s stream, past the command service
/// (the trigger still chains it).
async fn append(app: &TestApp, aggregate_id: &str, sequence: i64, payload: &str, metadata: &str) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, tenant_id, occurred_at)
         VALUES ('Customer', $1, $2, 'CustomerTagged', '1', $3::json, $4::json, $5, now())",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .bind(payload)
    .bind(metadata)
    .bind(app.tenant)
    .execute(&app.pool)
    .await
    .expect("append");
}

fn metadata(app: &TestApp) -> String {
    json!({"tenant_id": app.tenant.to_string(), "actor": "legacy-writer"}).to_string()
}

fn tagged(tag: &str) -> String {
    json!({"CustomerTagged": {"tag": tag}}).to_string()
}

/// The customer's history as an auditor, as JSON and as NDJSON.
async fn history(app: &TestApp, customer: Uuid) -> [Reply; 2] {
    let auditor = app.token(Role::Auditor, "auditor-1");
    let uri = format!("/v1/audit/customers/{customer}/events");
    let json = app.call(Method::GET, &uri, &auditor, Value::Null).await;
    let ndjson = app
        .call_with(
            Method::GET,
            &uri,
            &auditor,
            Value::Null,
            &[("accept", "application/x-ndjson")],
        )
        .await;
    [json, ndjson]
}

#[test]
fn the_out_of_range_number_is_json_the_audit_cannot_read() {
    assert!(serde_json::from_str::<Value>(OUT_OF_RANGE).is_err());
}

#[sqlx::test(migrations = "../schema")]
async fn an_unreadable_payload_is_a_500_not_null(pool: PgPool) {
    let app = TestApp::new(pool);
    let id = app.register(&app.manager(), "坏载荷").await;
    let [json, ndjson] = history(&app, id).await;
    json.expect(StatusCode::OK);
    ndjson.expect(StatusCode::OK);

    let payload = format!(r#"{{"CustomerTagged": {{"tag": {OUT_OF_RANGE}}}}}"#);
    append(&app, &id.to_string(), 2, &payload, &metadata(&app)).await;
    for reply in history(&app, id).await {
        let reply = reply.expect(StatusCode::INTERNAL_SERVER_ERROR);
        assert!(reply.body.get("items").is_none(), "{}", reply.body);
    }
}

#[sqlx::test(migrations = "../schema")]
async fn unreadable_metadata_is_a_500_not_null(pool: PgPool) {
    let app = TestApp::new(pool);
    let id = app.register(&app.manager(), "坏元数据").await;
    let metadata = format!(
        r#"{{"tenant_id": "{}", "actor": "legacy-writer", "weight": {OUT_OF_RANGE}}}"#,
        app.tenant
    );
    append(&app, &id.to_string(), 2, &tagged("重点客户"), &metadata).await;
    for reply in history(&app, id).await {
        reply.expect(StatusCode::INTERNAL_SERVER_ERROR);
    }
    // The state as of an event that reads still answers; past it, a 500.
    let auditor = app.token(Role::Auditor, "auditor-1");
    let state = |sequence: i64| format!("/v1/audit/customers/{id}/state?sequence={sequence}");
    app.call(Method::GET, &state(1), &auditor, Value::Null)
        .await
        .expect(StatusCode::OK);
    app.call(Method::GET, &state(2), &auditor, Value::Null)
        .await
        .expect(StatusCode::INTERNAL_SERVER_ERROR);
}

#[sqlx::test(migrations = "../schema")]
async fn an_aggregate_id_that_is_not_a_uuid_fails_the_export(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let id = app.register(&app.manager(), "正常").await;
    append(&app, "not-a-uuid", 1, &tagged("孤儿"), &metadata(&app)).await;

    let mut exported = Vec::new();
    let error = query::audit::export(&pool, &app.data_keys, app.tenant, None, &mut exported)
        .await
        .expect_err("the export fails on the unreadable id");
    let message = error.to_string();
    assert!(
        message.contains("not-a-uuid") && message.contains("aggregate id"),
        "{message}"
    );
    let exported = String::from_utf8(exported).expect("UTF-8");
    assert!(
        !exported.contains(&Uuid::nil().to_string()),
        "no nil UUID stands in for the id: {exported}"
    );

    // The readable customer alone still exports.
    let mut exported = Vec::new();
    let written = query::audit::export(&pool, &app.data_keys, app.tenant, Some(id), &mut exported)
        .await
        .expect("export of a readable stream");
    assert_eq!(written, 1);
}

//! Audit routes and tools against a real PostgreSQL: roles, history, state as
//! of any instant, tamper evidence.

mod common;

use axum::http::{header, Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use common::{project, TestApp};
use web::Role;

/// Decimal strings compared by value (PostgreSQL returns a zero without its scale).
fn canonical(mut row: Value) -> Value {
    for field in ["deal_value", "probability", "total_amount"] {
        if let Some(text) = row[field].as_str() {
            let value = rust_decimal::Decimal::from_str_exact(text)
                .expect("decimal")
                .normalize();
            row[field] = Value::String(value.to_string());
        }
    }
    row
}

fn ndjson(body: &Value) -> Vec<Value> {
    body.as_str()
        .expect("ndjson text")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect()
}

#[sqlx::test(migrations = "../schema")]
async fn only_auditors_and_admins_use_the_audit_routes(pool: PgPool) {
    let app = TestApp::new(pool);
    let boss = app.manager();
    let id = app.register(&boss, "审计").await;
    for route in ["events", "state", "verify"] {
        let uri = format!("/v1/audit/customers/{id}/{route}");
        for role in [Role::Rep, Role::Manager] {
            app.call(Method::GET, &uri, &app.token(role, "boss"), Value::Null)
                .await
                .expect(StatusCode::FORBIDDEN);
        }
        for role in [Role::Auditor, Role::Admin] {
            app.call(Method::GET, &uri, &app.token(role, "someone"), Value::Null)
                .await
                .expect(StatusCode::OK);
        }
        app.send(Method::GET, &uri, None, None, &[])
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
}

#[sqlx::test(migrations = "../schema")]
async fn history_lists_every_event_with_its_chain(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let id = app.register(&boss, "历史").await;
    app.call_with(
        Method::PUT,
        &format!("/v1/customers/{id}/stage"),
        &boss,
        json!({"stage": "qualified"}),
        &[("idempotency-key", "k-1"), ("x-request-id", "req-42")],
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::POST,
        &format!("/v1/customers/{id}/purchases"),
        &boss,
        json!({"amount": 10, "category": "培训"}),
    )
    .await
    .expect(StatusCode::OK);
    let auditor = app.token(Role::Auditor, "auditor-1");
    let page = app
        .call(
            Method::GET,
            &format!("/v1/audit/customers/{id}/events?limit=2"),
            &auditor,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(page["next_after_sequence"], 2);
    let second = &items[1];
    assert_eq!(second["sequence"], 2);
    assert_eq!(second["type"], "CustomerStageMoved");
    assert_eq!(second["version"], "1");
    assert_eq!(second["actor"], "boss");
    assert_eq!(second["role"], "manager");
    assert_eq!(second["command"], "MoveStage");
    assert_eq!(second["correlation_id"], "req-42");
    assert_eq!(second["idempotency_key"], "k-1");
    assert_eq!(second["payload"]["CustomerStageMoved"]["to"], "qualified");
    assert_eq!(second["prev_hash"], items[0]["hash"]);
    assert!(items[0]["prev_hash"].is_null());
    for field in ["occurred_at", "recorded_at", "event_id", "position"] {
        assert!(!second[field].is_null(), "{field}");
    }
    let rest = app
        .call(
            Method::GET,
            &format!("/v1/audit/customers/{id}/events?after_sequence=2"),
            &auditor,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(rest["items"][0]["sequence"], 3);
    assert!(rest["next_after_sequence"].is_null());

    let whole = app
        .send(
            Method::GET,
            &format!("/v1/audit/customers/{id}/events"),
            Some(&auditor),
            None,
            &[("accept", "application/x-ndjson")],
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(whole.content_type(), "application/x-ndjson");
    let lines = ndjson(&whole.body);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1], *second);

    // The CLI export writes the same lines.
    let mut exported = Vec::new();
    let written = query::audit::export(&pool, &app.data_keys, app.tenant, Some(id), &mut exported)
        .await
        .expect("export");
    assert_eq!(written, 3);
    let exported: Vec<Value> = String::from_utf8(exported)
        .expect("utf8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("line"))
        .collect();
    assert_eq!(exported, lines);
}

#[sqlx::test(migrations = "../schema")]
async fn state_as_of_every_event_equals_the_incremental_read_model(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let id = app.register(&boss, "长流").await;
    let base = format!("/v1/customers/{id}");
    let stages = [
        "qualified",
        "proposal",
        "negotiation",
        "closed_lost",
        "lead",
    ];
    let mut snapshots: Vec<Value> = Vec::new();
    let snapshot = |pool: PgPool| async move {
        let row: projector::customers::CustomerRow = sqlx::query_as("SELECT * FROM rm_customers")
            .fetch_one(&pool)
            .await
            .expect("row");
        canonical(serde_json::to_value(row).expect("json"))
    };
    project(&pool).await;
    snapshots.push(snapshot(pool.clone()).await);
    for step in 0..40 {
        let (method, uri, body) = match step % 8 {
            0 => (
                Method::POST,
                format!("{base}/activities"),
                json!({"type": "call", "subject": format!("第{step}次回访")}),
            ),
            1 => (
                Method::POST,
                format!("{base}/purchases"),
                json!({"amount": 100 + step, "category": if step % 3 == 0 { "培训" } else { "软件订阅" }}),
            ),
            2 => (
                Method::POST,
                format!("{base}/tags"),
                json!({"tag": format!("标签{step}")}),
            ),
            3 => (
                Method::PATCH,
                base.clone(),
                json!({"company": format!("公司{step}"), "deal_value": 1000 * step}),
            ),
            4 => (
                Method::PUT,
                format!("{base}/owner"),
                json!({"owner_id": format!("rep-{step}")}),
            ),
            5 => {
                let stage = stages[(step / 8) % stages.len()];
                (
                    Method::PUT,
                    format!("{base}/stage"),
                    json!({"stage": stage, "reason": "复盘"}),
                )
            }
            6 => (
                Method::DELETE,
                format!("{base}/tags/%E6%A0%87%E7%AD%BE{}", step - 4),
                Value::Null,
            ),
            _ => (
                Method::POST,
                format!("{base}/activities"),
                json!({"type": "meeting"}),
            ),
        };
        app.call(method, &uri, &boss, body)
            .await
            .expect(StatusCode::OK);
        project(&pool).await;
        snapshots.push(snapshot(pool.clone()).await);
    }
    let auditor = app.token(Role::Auditor, "auditor-1");
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
    let events = ndjson(&history.body);
    assert_eq!(events.len(), snapshots.len());
    for (index, expected) in snapshots.iter().enumerate() {
        let sequence = index + 1;
        let by_sequence = app
            .call(
                Method::GET,
                &format!("/v1/audit/customers/{id}/state?sequence={sequence}"),
                &auditor,
                Value::Null,
            )
            .await
            .expect(StatusCode::OK)
            .body;
        assert_eq!(by_sequence["version"], sequence);
        assert_eq!(
            &canonical(by_sequence["state"].clone()),
            expected,
            "state after event {sequence}"
        );
        let recorded = events[index]["recorded_at"]
            .as_str()
            .expect("recorded_at")
            .replace('+', "%2B");
        let by_instant = app
            .call(
                Method::GET,
                &format!("/v1/audit/customers/{id}/state?as_of={recorded}"),
                &auditor,
                Value::Null,
            )
            .await
            .expect(StatusCode::OK)
            .body;
        assert_eq!(
            by_instant["state"], by_sequence["state"],
            "as_of the instant of event {sequence}"
        );
        assert_eq!(by_instant["profile"], by_sequence["profile"]);
    }
    // Before registration there is nothing to show.
    app.call(
        Method::GET,
        &format!("/v1/audit/customers/{id}/state?as_of=2000-01-01T00:00:00Z"),
        &auditor,
        Value::Null,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../schema")]
async fn tampering_is_found_at_its_exact_sequence(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let id = app.register(&boss, "篡改").await;
    let untouched = app.register(&boss, "完好").await;
    for stage in ["qualified", "proposal", "negotiation"] {
        app.call(
            Method::PUT,
            &format!("/v1/customers/{id}/stage"),
            &boss,
            json!({"stage": stage}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let auditor = app.token(Role::Auditor, "auditor-1");
    let verify = |id: Uuid| {
        let app = &app;
        let auditor = auditor.clone();
        async move {
            app.call(
                Method::GET,
                &format!("/v1/audit/customers/{id}/verify"),
                &auditor,
                Value::Null,
            )
            .await
            .expect(StatusCode::OK)
            .body
        }
    };
    let before = verify(id).await;
    assert_eq!(before["valid"], true);
    assert_eq!(before["events"], 4);
    let report = query::audit::verify_tenant(&pool, app.tenant)
        .await
        .expect("verify tenant");
    assert_eq!(
        (report.events, report.streams, report.breaks.len()),
        (5, 2, 0)
    );

    let mut tx = pool.begin().await.expect("tx");
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await
        .expect("disable");
    sqlx::query("UPDATE events SET payload = replace(payload::text, 'proposal', 'negotiation')::json WHERE aggregate_id = $1 AND sequence = 3")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .expect("tamper");
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await
        .expect("enable");
    tx.commit().await.expect("commit");

    let after = verify(id).await;
    assert_eq!(after["valid"], false);
    assert_eq!(after["broken_at"], 3);
    assert!(after["reason"].as_str().is_some_and(|r| r.contains("hash")));
    assert_eq!(verify(untouched).await["valid"], true);
    let report = query::audit::verify_tenant(&pool, app.tenant)
        .await
        .expect("verify tenant");
    assert_eq!(report.breaks.len(), 1);
    assert_eq!(report.breaks[0].0, id.to_string());
    assert_eq!(report.breaks[0].1.sequence, 3);
}

#[sqlx::test(migrations = "../schema")]
async fn bad_audit_input_is_a_clear_problem(pool: PgPool) {
    let mut app = TestApp::new(pool);
    let boss = app.manager();
    let id = app.register(&boss, "输入").await;
    let auditor = app.token(Role::Auditor, "auditor-1");
    let state = format!("/v1/audit/customers/{id}/state");
    for (uri, status) in [
        (format!("{state}?as_of=yesterday"), StatusCode::BAD_REQUEST),
        (format!("{state}?sequence=0"), StatusCode::BAD_REQUEST),
        (
            format!("{state}?sequence=1&as_of=2026-01-01T00:00:00Z"),
            StatusCode::BAD_REQUEST,
        ),
        (format!("{state}?colour=red"), StatusCode::BAD_REQUEST),
        (
            format!("/v1/audit/customers/{}/state", Uuid::new_v4()),
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/audit/customers/not-a-uuid/verify".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/audit/customers/{id}/events?limit=0"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        app.call(Method::GET, &uri, &auditor, Value::Null)
            .await
            .expect(status);
    }
    app.tenant = Uuid::new_v4();
    let foreign = app.token(Role::Auditor, "auditor-1");
    for route in ["events", "state", "verify"] {
        app.call(
            Method::GET,
            &format!("/v1/audit/customers/{id}/{route}"),
            &foreign,
            Value::Null,
        )
        .await
        .expect(StatusCode::NOT_FOUND);
    }
    let _ = header::ACCEPT;
}

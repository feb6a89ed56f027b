//! The command API against a real PostgreSQL: every route's success and error
//! statuses, tenancy, roles, concurrency, idempotency and the hash chain.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use common::{Reply, TestApp, SECRET};
use web::auth::Claims;
use web::Role;

async fn payload_of(pool: &PgPool, id: Uuid, sequence: i64) -> Value {
    sqlx::query_scalar::<_, Value>(
        "SELECT payload::jsonb FROM events WHERE aggregate_id = $1 AND sequence = $2",
    )
    .bind(id.to_string())
    .bind(sequence)
    .fetch_one(pool)
    .await
    .expect("event")
}

#[sqlx::test(migrations = "../schema")]
async fn register_answers_id_version_position(pool: PgPool) {
    let app = TestApp::new(pool);
    let rep = app.token(Role::Rep, "rep-1");
    let reply = app
        .call(
            Method::POST,
            "/v1/customers",
            &rep,
            json!({
                "name": "  张三 ", "phone": "13800138000", "email": "zhang@example.cn",
                "company": "星辰科技", "industry": "科技", "position": "总经理", "source": "展会",
                "tags": ["重点客户", "重点客户"], "deal_value": 12000.5
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(reply.version(), 1);
    assert!(reply.position() > 0);
    assert_eq!(reply.headers[header::ETAG], "\"1\"");
    let id = reply.id();
    assert_eq!(
        reply.headers[header::LOCATION].to_str().expect("location"),
        format!("/v1/customers/{id}")
    );
    let payload = payload_of(&app.pool, id, 1).await;
    let registered = &payload["CustomerRegistered"];
    // Personal fields are stored sealed with the customer's data key.
    let stored_text: String =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE aggregate_id = $1")
            .bind(id.to_string())
            .fetch_one(&app.pool)
            .await
            .expect("payload");
    for clear in ["张三", "13800138000", "zhang@example.cn"] {
        assert!(
            !stored_text.contains(clear),
            "{clear} stored in clear: {stored_text}"
        );
    }
    let name: events::personal::Personal<events::values::CustomerName> =
        serde_json::from_value(registered["name"].clone()).expect("personal");
    let key = app
        .data_keys
        .load(&[id])
        .await
        .expect("keys")
        .remove(&id)
        .flatten();
    assert_eq!(name.reveal(key.as_ref(), id).as_deref(), Some("张三"));
    assert_eq!(
        registered["company"], "星辰科技",
        "business facts stay in clear"
    );
    assert_eq!(registered["owner_id"], "rep-1", "a rep becomes the owner");
    assert_eq!(registered["tags"], json!(["重点客户"]));
    assert_eq!(registered["deal_value"], "12000.50");
    let metadata: Value =
        sqlx::query_scalar("SELECT metadata::jsonb FROM events WHERE aggregate_id = $1")
            .bind(id.to_string())
            .fetch_one(&app.pool)
            .await
            .expect("metadata");
    assert_eq!(metadata["tenant_id"], app.tenant.to_string());
    assert_eq!(metadata["actor"], "rep-1");
    assert_eq!(metadata["role"], "rep");
    assert_eq!(metadata["command"], "RegisterCustomer");
    assert!(metadata["correlation_id"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    assert!(metadata["occurred_at"].as_str().is_some());
}

#[sqlx::test(migrations = "../schema")]
async fn every_command_route_succeeds_in_turn(pool: PgPool) {
    let app = TestApp::new(pool);
    let boss = app.manager();
    let days_ago = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    // A customer of last month, entered today, with a meeting of last week.
    let id = app
        .call(
            Method::POST,
            "/v1/customers",
            &boss,
            json!({"name": "李四", "company": "星辰科技", "occurred_at": days_ago(30)}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    let base = format!("/v1/customers/{id}");
    let steps: Vec<(Method, String, Value)> = vec![
        (
            Method::PATCH,
            base.clone(),
            json!({"company": "云帆软件", "phone": null, "deal_value": "80000"}),
        ),
        (
            Method::PUT,
            format!("{base}/owner"),
            json!({"owner_id": "rep-2"}),
        ),
        (
            Method::PUT,
            format!("{base}/stage"),
            json!({"stage": "proposal", "probability": 0.45}),
        ),
        (
            Method::POST,
            format!("{base}/activities"),
            json!({"type": "meeting", "subject": "方案讲解", "notes": "客户关注价格", "occurred_at": days_ago(7), "value": 0}),
        ),
        (
            Method::POST,
            format!("{base}/purchases"),
            json!({"amount": "1999.00", "category": "软件订阅", "order_ref": "PO-1"}),
        ),
        (
            Method::POST,
            format!("{base}/tags"),
            json!({"tag": "决策人"}),
        ),
        (
            Method::DELETE,
            format!("{base}/tags/%E5%86%B3%E7%AD%96%E4%BA%BA"),
            Value::Null,
        ),
        (
            Method::DELETE,
            format!("{base}?reason=%E9%87%8D%E5%A4%8D"),
            Value::Null,
        ),
    ];
    let mut previous_position = 0;
    for (index, (method, uri, body)) in steps.into_iter().enumerate() {
        let reply = app
            .call(method, &uri, &boss, body)
            .await
            .expect(StatusCode::OK);
        assert_eq!(reply.version(), index as u64 + 2, "{uri}");
        assert!(reply.position() > previous_position);
        previous_position = reply.position();
    }
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(&app.pool)
    .await
    .expect("types");
    assert_eq!(
        types,
        [
            "CustomerRegistered",
            "CustomerProfileUpdated",
            "CustomerAssigned",
            "CustomerStageMoved",
            "ActivityLogged",
            "PurchaseRecorded",
            "CustomerTagged",
            "CustomerUntagged",
            "CustomerArchived"
        ]
    );
    let archived = app
        .call(
            Method::PUT,
            &format!("{base}/stage"),
            &boss,
            json!({"stage": "qualified"}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(archived.body["detail"], "customer is archived");
}

#[sqlx::test(migrations = "../schema")]
async fn bad_input_is_a_clear_problem_and_writes_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let boss = app.manager();
    let id = app.register(&boss, "王五").await;
    let stage = format!("/v1/customers/{id}/stage");
    let before = app.event_count().await;

    let raw = |body: &str| Some(Body::from(body.to_owned()));
    let cases: Vec<(&str, Reply, StatusCode)> = vec![
        (
            "malformed JSON",
            app.send(Method::PUT, &stage, Some(&boss), raw("{\"stage\": "), &[])
                .await,
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong type",
            app.call(Method::PUT, &stage, &boss, json!({"stage": 3}))
                .await,
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown field",
            app.call(
                Method::PUT,
                &stage,
                &boss,
                json!({"stage": "proposal", "colour": "red"}),
            )
            .await,
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing field",
            app.call(
                Method::POST,
                "/v1/customers",
                &boss,
                json!({"company": "x"}),
            )
            .await,
            StatusCode::BAD_REQUEST,
        ),
        (
            "body over 64 KiB",
            app.call(
                Method::POST,
                "/v1/customers",
                &boss,
                json!({"name": "x", "company": "y".repeat(70_000)}),
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "no JSON content type",
            app.send(Method::PUT, &stage, Some(&boss), None, &[]).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "path id not a UUID",
            app.call(
                Method::PUT,
                "/v1/customers/not-a-uuid/stage",
                &boss,
                json!({"stage": "proposal"}),
            )
            .await,
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown stage",
            app.call(Method::PUT, &stage, &boss, json!({"stage": "won"}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "same stage",
            app.call(Method::PUT, &stage, &boss, json!({"stage": "lead"}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "probability above 1",
            app.call(
                Method::PUT,
                &stage,
                &boss,
                json!({"stage": "proposal", "probability": 1.5}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "negative deal value",
            app.call(
                Method::PUT,
                &stage,
                &boss,
                json!({"stage": "proposal", "deal_value": -1}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "zero purchase",
            app.call(
                Method::POST,
                &format!("/v1/customers/{id}/purchases"),
                &boss,
                json!({"amount": 0, "category": "软件"}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "purchase over a trillion",
            app.call(
                Method::POST,
                &format!("/v1/customers/{id}/purchases"),
                &boss,
                json!({"amount": "1000000000000.01", "category": "软件"}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "future activity",
            app.call(
                Method::POST,
                &format!("/v1/customers/{id}/activities"),
                &boss,
                json!({"type": "call", "occurred_at": "2999-01-01T00:00:00Z"}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad phone and email",
            app.call(
                Method::POST,
                "/v1/customers",
                &boss,
                json!({"name": "赵六", "phone": "12345", "email": "nope"}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "long tag",
            app.call(
                Method::POST,
                &format!("/v1/customers/{id}/tags"),
                &boss,
                json!({"tag": "t".repeat(33)}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "empty profile update",
            app.call(
                Method::PATCH,
                &format!("/v1/customers/{id}"),
                &boss,
                json!({}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown route",
            app.call(Method::GET, "/v1/nothing-here", &boss, Value::Null)
                .await,
            StatusCode::NOT_FOUND,
        ),
        (
            "wrong method",
            app.call(Method::PATCH, &stage, &boss, json!({})).await,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (case, reply, status) in cases {
        assert_eq!(reply.status, status, "{case}: {}", reply.body);
        reply.expect(status);
    }
    let fields = app
        .call(
            Method::POST,
            "/v1/customers",
            &boss,
            json!({"name": "赵六", "phone": "12345", "email": "nope"}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(fields.body["errors"]["phone"].is_array(), "{}", fields.body);
    assert!(fields.body["errors"]["email"].is_array(), "{}", fields.body);
    assert_eq!(app.event_count().await, before, "nothing was written");
}

fn signed(claims: &Claims, algorithm: Algorithm, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("encode")
}

#[sqlx::test(migrations = "../schema")]
async fn bad_tokens_are_401_and_forbidden_roles_403(pool: PgPool) {
    let app = TestApp::new(pool);
    let boss = app.manager();
    let id = app.register(&boss, "孙七").await;
    let before = app.event_count().await;
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| Claims {
        tid: app.tenant,
        sub: "boss".into(),
        role: Role::Manager,
        exp,
        iat: now,
        iss: web::auth::ISSUER.into(),
        aud: web::auth::AUDIENCE.into(),
        jti: "t".into(),
    };
    let expired = signed(&claims(now - 3600), Algorithm::HS256, SECRET);
    let elsewhere = Claims {
        aud: "another-service".into(),
        ..claims(now + 3600)
    };
    let wrong_audience = signed(&elsewhere, Algorithm::HS256, SECRET);
    let forged = signed(
        &claims(now + 3600),
        Algorithm::HS256,
        b"not-the-secret-not-the-secret-!!",
    );
    let wrong_algorithm = signed(&claims(now + 3600), Algorithm::HS384, SECRET);
    let body = || Some(Body::from(json!({"stage": "proposal"}).to_string()));
    let uri = format!("/v1/customers/{id}/stage");
    let no_token = app.send(Method::PUT, &uri, None, body(), &[]).await;
    assert_eq!(no_token.headers[header::WWW_AUTHENTICATE], "Bearer");
    no_token.expect(StatusCode::UNAUTHORIZED);
    for token in [
        expired.as_str(),
        forged.as_str(),
        wrong_algorithm.as_str(),
        wrong_audience.as_str(),
        "garbage",
    ] {
        app.send(Method::PUT, &uri, Some(token), body(), &[])
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    let not_bearer = app
        .send(
            Method::PUT,
            &uri,
            None,
            body(),
            &[("authorization", "Basic Ym9zczpwdw==")],
        )
        .await;
    not_bearer.expect(StatusCode::UNAUTHORIZED);

    let rep = app.token(Role::Rep, "rep-1");
    app.call(
        Method::PUT,
        &format!("/v1/customers/{id}/owner"),
        &boss,
        json!({"owner_id": "rep-1"}),
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::PUT,
        &format!("/v1/customers/{id}/owner"),
        &rep,
        json!({"owner_id": "rep-1"}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let auditor = app.token(Role::Auditor, "audit");
    app.call(Method::PUT, &uri, &auditor, json!({"stage": "proposal"}))
        .await
        .expect(StatusCode::FORBIDDEN);
    app.call(
        Method::POST,
        "/v1/customers",
        &rep,
        json!({"name": "周八", "owner_id": "rep-9"}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    assert_eq!(
        app.event_count().await,
        before + 1,
        "only the manager's reassignment was written"
    );
}

#[sqlx::test(migrations = "../schema")]
async fn other_tenants_and_other_reps_get_404(pool: PgPool) {
    let mut app = TestApp::new(pool);
    let rep1 = app.token(Role::Rep, "rep-1");
    let id = app.register(&rep1, "吴九").await;
    let stage = format!("/v1/customers/{id}/stage");
    app.call(
        Method::PUT,
        &stage,
        &app.token(Role::Rep, "rep-2"),
        json!({"stage": "qualified"}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    app.call(
        Method::PUT,
        &format!("/v1/customers/{}/stage", Uuid::new_v4()),
        &rep1,
        json!({"stage": "qualified"}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let home = app.tenant;
    app.tenant = Uuid::new_v4();
    let foreign_admin = app.token(Role::Admin, "boss");
    let foreign = app
        .call(
            Method::PUT,
            &stage,
            &foreign_admin,
            json!({"stage": "qualified"}),
        )
        .await
        .expect(StatusCode::NOT_FOUND);
    // Even with If-Match, another tenant learns nothing about the version.
    let with_if_match = app
        .call_with(
            Method::PUT,
            &stage,
            &foreign_admin,
            json!({"stage": "qualified"}),
            &[("if-match", "\"7\"")],
        )
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(foreign.body, with_if_match.body);
    app.tenant = home;
    app.call(Method::PUT, &stage, &rep1, json!({"stage": "qualified"}))
        .await
        .expect(StatusCode::OK);
}

#[sqlx::test(migrations = "../schema")]
async fn if_match_mismatch_is_412(pool: PgPool) {
    let app = TestApp::new(pool);
    let boss = app.manager();
    let id = app.register(&boss, "郑十").await;
    let stage = format!("/v1/customers/{id}/stage");
    app.call_with(
        Method::PUT,
        &stage,
        &boss,
        json!({"stage": "qualified"}),
        &[("if-match", "\"0\"")],
    )
    .await
    .expect(StatusCode::PRECONDITION_FAILED);
    app.call_with(
        Method::PUT,
        &stage,
        &boss,
        json!({"stage": "qualified"}),
        &[("if-match", "one")],
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    let reply = app
        .call_with(
            Method::PUT,
            &stage,
            &boss,
            json!({"stage": "qualified"}),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply.version(), 2);
}

#[sqlx::test(migrations = "../schema")]
async fn fifty_concurrent_moves_never_lose_an_update(pool: PgPool) {
    let app = std::sync::Arc::new(TestApp::new(pool));
    let boss = app.manager();
    let id = app.register(&boss, "钱多多").await;
    let stages = ["qualified", "proposal", "negotiation"];
    let tasks: Vec<_> = (0..50)
        .map(|index| {
            let app = app.clone();
            let boss = boss.clone();
            tokio::spawn(async move {
                let body = json!({"stage": stages[index % 3], "deal_value": index});
                app.call(
                    Method::PUT,
                    &format!("/v1/customers/{id}/stage"),
                    &boss,
                    body,
                )
                .await
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let reply = task.await.expect("task");
        match reply.status {
            StatusCode::OK => won.push((reply.version(), reply.position())),
            StatusCode::CONFLICT => {
                reply.expect(StatusCode::CONFLICT);
                conflicts += 1;
            }
            // Saw the latest state and asked for the stage it was already in: not a race loss.
            StatusCode::UNPROCESSABLE_ENTITY => {}
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert!(conflicts > 0, "50 racing writers must produce conflicts");
    let stored: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT sequence, global_position FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id.to_string())
    .fetch_all(&app.pool)
    .await
    .expect("stream");
    let sequences: Vec<i64> = stored.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        sequences,
        (1..=stored.len() as i64).collect::<Vec<_>>(),
        "contiguous"
    );
    assert_eq!(
        stored.len(),
        won.len() + 1,
        "every 2xx is one stored event, nothing else"
    );
    let stored_moves: BTreeSet<(u64, i64)> = stored
        .iter()
        .skip(1)
        .map(|(s, p)| (*s as u64, *p))
        .collect();
    assert_eq!(
        stored_moves,
        won.into_iter().collect(),
        "every 2xx matches its stored event"
    );
}

#[sqlx::test(migrations = "../schema")]
async fn idempotent_retries_answer_like_the_first(pool: PgPool) {
    let app = std::sync::Arc::new(TestApp::new(pool));
    let boss = app.manager();
    let body = json!({"name": "冯一", "company": "鑫源物流"});
    let key = [("idempotency-key", "register-feng-1")];
    let first = app
        .call_with(Method::POST, "/v1/customers", &boss, body.clone(), &key)
        .await
        .expect(StatusCode::CREATED);
    let again = app
        .call_with(Method::POST, "/v1/customers", &boss, body.clone(), &key)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(first.body, again.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.event_count().await, 1);
    // Same key, different body.
    app.call_with(
        Method::POST,
        "/v1/customers",
        &boss,
        json!({"name": "冯二"}),
        &key,
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    // Concurrent retries of one purchase: one append, one answer.
    let id = first.id();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let app = app.clone();
            let boss = boss.clone();
            tokio::spawn(async move {
                app.call_with(
                    Method::POST,
                    &format!("/v1/customers/{id}/purchases"),
                    &boss,
                    json!({"amount": 88, "category": "培训"}),
                    &[("idempotency-key", "purchase-42")],
                )
                .await
            })
        })
        .collect();
    let mut bodies = BTreeSet::new();
    for task in tasks {
        let reply = task.await.expect("task").expect(StatusCode::OK);
        bodies.insert(reply.body.to_string());
    }
    assert_eq!(
        bodies.len(),
        1,
        "every retry got the first answer: {bodies:?}"
    );
    assert_eq!(app.event_count().await, 2);
    // A rejected command is remembered too.
    let archived_key = [("idempotency-key", "bad-stage")];
    let stage = format!("/v1/customers/{id}/stage");
    let refused = app
        .call_with(
            Method::PUT,
            &stage,
            &boss,
            json!({"stage": "lead"}),
            &archived_key,
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let replayed = app
        .call_with(
            Method::PUT,
            &stage,
            &boss,
            json!({"stage": "lead"}),
            &archived_key,
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body, replayed.body);
}

#[sqlx::test(migrations = "../schema")]
async fn a_keyed_append_whose_record_was_lost_is_not_repeated(pool: PgPool) {
    let app = TestApp::new(pool);
    let boss = app.manager();
    let id = app.register(&boss, "陈二").await;
    let key = [("idempotency-key", "crash-window")];
    let uri = format!("/v1/customers/{id}/activities");
    let first = app
        .call_with(Method::POST, &uri, &boss, json!({"type": "call"}), &key)
        .await
        .expect(StatusCode::OK);
    // Simulate a crash between the append and the idempotency record.
    sqlx::query("DELETE FROM idempotency_keys")
        .execute(&app.pool)
        .await
        .expect("delete");
    let retry = app
        .call_with(Method::POST, &uri, &boss, json!({"type": "call"}), &key)
        .await
        .expect(StatusCode::OK);
    assert_eq!(first.body, retry.body);
    assert_eq!(app.event_count().await, 2);
}

#[sqlx::test(migrations = "../schema")]
async fn a_repeated_order_ref_appends_nothing_and_answers_like_the_first(pool: PgPool) {
    let app = TestApp::new(pool);
    let boss = app.manager();
    let id = app.register(&boss, "褚三").await;
    let uri = format!("/v1/customers/{id}/purchases");
    let order = json!({"amount": "500", "category": "硬件设备", "order_ref": "SO-2026-001"});
    let first = app
        .call(Method::POST, &uri, &boss, order.clone())
        .await
        .expect(StatusCode::OK);
    app.call(
        Method::POST,
        &format!("/v1/customers/{id}/tags"),
        &boss,
        json!({"tag": "vip"}),
    )
    .await
    .expect(StatusCode::OK);
    let again = app
        .call(Method::POST, &uri, &boss, order)
        .await
        .expect(StatusCode::OK);
    assert_eq!(first.body, again.body);
    assert_eq!(app.event_count().await, 3);
}

#[sqlx::test(migrations = "../schema")]
async fn the_hash_chain_verifies_and_the_log_cannot_be_rewritten(pool: PgPool) {
    let app = TestApp::new(pool);
    let boss = app.manager();
    let id = app.register(&boss, "卫四").await;
    for stage in ["qualified", "proposal", "negotiation", "closed_won"] {
        app.call(
            Method::PUT,
            &format!("/v1/customers/{id}/stage"),
            &boss,
            json!({"stage": stage}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let stream = store::chain::load_stream(&app.pool, "Customer", &id.to_string())
        .await
        .expect("stream");
    assert_eq!(stream.len(), 5);
    store::chain::verify_stream(&stream).expect("chain verifies");
    for pair in stream.windows(2) {
        assert_eq!(pair[1].prev_hash.as_deref(), Some(pair[0].hash.as_slice()));
    }
    let update = sqlx::query("UPDATE events SET payload = '{}' WHERE aggregate_id = $1")
        .bind(id.to_string())
        .execute(&app.pool)
        .await;
    assert!(update.is_err_and(|e| e.to_string().contains("append-only")));
    let delete = sqlx::query("DELETE FROM events WHERE aggregate_id = $1")
        .bind(id.to_string())
        .execute(&app.pool)
        .await;
    assert!(delete.is_err_and(|e| e.to_string().contains("append-only")));
    let truncate = sqlx::query("TRUNCATE events").execute(&app.pool).await;
    assert!(truncate.is_err());

    // Tampering (as a superuser with the trigger off) is detected at that sequence.
    let mut tx = app.pool.begin().await.expect("tx");
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await
        .expect("disable");
    sqlx::query("UPDATE events SET payload = replace(payload::text, 'negotiation', 'proposal')::json WHERE aggregate_id = $1 AND sequence = 4")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .expect("tamper");
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await
        .expect("enable");
    tx.commit().await.expect("commit");
    let stream = store::chain::load_stream(&app.pool, "Customer", &id.to_string())
        .await
        .expect("stream");
    let broken = store::chain::verify_stream(&stream).expect_err("tampering detected");
    assert_eq!(broken.sequence, 4);
}

#[sqlx::test(migrations = "../schema")]
async fn health_readiness_and_openapi(pool: PgPool) {
    let app = TestApp::new(pool);
    let health = app
        .send(Method::GET, "/healthz", None, None, &[])
        .await
        .expect(StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    app.send(Method::GET, "/readyz", None, None, &[])
        .await
        .expect(StatusCode::OK);
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&app.pool)
    .await
    .expect("forget a migration");
    let not_ready = app.send(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(not_ready.status, StatusCode::SERVICE_UNAVAILABLE);
}

//! Signing in with a password: sessions, refresh rotation with reuse
//! detection, sign-out, attempt limits, deactivated users.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use common::TestApp;
use web::Role;

/// Invites `login` as an admin and answers its one-time password.
async fn invited(app: &TestApp, login: &str, role: &str) -> (uuid::Uuid, String) {
    let admin = app.token(Role::Admin, "boss");
    let reply = app
        .call(
            Method::POST,
            "/v1/users",
            &admin,
            json!({"login": login, "display_name": login, "role": role}),
        )
        .await
        .expect(StatusCode::CREATED);
    let password = reply.body["one_time_password"]
        .as_str()
        .expect("password")
        .to_owned();
    (reply.id(), password)
}

async fn post(app: &TestApp, uri: &str, body: Value) -> common::Reply {
    app.send(
        Method::POST,
        uri,
        None,
        Some(axum::body::Body::from(body.to_string())),
        &[],
    )
    .await
}

async fn login(app: &TestApp, login: &str, password: &str) -> common::Reply {
    post(
        app,
        "/v1/auth/login",
        json!({"tenant_id": app.tenant, "login": login, "password": password}),
    )
    .await
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_user_signs_in_and_its_token_works(pool: PgPool) {
    let app = TestApp::new(pool);
    let (_, password) = invited(&app, "rep-1", "rep").await;
    let session = login(&app, "rep-1", &password).await.expect(StatusCode::OK);
    assert_eq!(session.body["token_type"], "Bearer");
    assert_eq!(session.body["expires_in"], 900);
    assert_eq!(session.body["role"], "rep");
    assert_eq!(session.body["must_change_password"], true);
    let access = session.body["access_token"].as_str().expect("access");
    let me = app
        .call(Method::GET, "/v1/me", access, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.body["login"], "rep-1");
    assert_eq!(me.body["role"], "rep");
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn wrong_logins_and_passwords_answer_alike(pool: PgPool) {
    let app = TestApp::new(pool);
    let (_, password) = invited(&app, "rep-1", "rep").await;
    let wrong_password = login(&app, "rep-1", "not the password")
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let wrong_login = login(&app, "rep-2", &password)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let malformed_login = login(&app, "", &password)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.body, wrong_login.body);
    assert_eq!(wrong_password.body, malformed_login.body);
    let mut other = TestApp::new(app.pool.clone());
    other.tenant = uuid::Uuid::new_v4();
    let wrong_tenant = login(&other, "rep-1", &password)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.body, wrong_tenant.body);
    // Not JSON, or missing fields: a 400.
    post(&app, "/v1/auth/login", json!({"login": "rep-1"}))
        .await
        .expect(StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_login_is_locked_out_after_five_attempts(pool: PgPool) {
    let app = TestApp::new(pool);
    let (_, password) = invited(&app, "rep-1", "rep").await;
    for _ in 0..5 {
        login(&app, "rep-1", "guess guess guess")
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    let locked = login(&app, "rep-1", &password)
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = locked.headers["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    // Another login is not locked.
    let (_, other) = invited(&app, "rep-2", "rep").await;
    login(&app, "rep-2", &other).await.expect(StatusCode::OK);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_session(pool: PgPool) {
    let app = TestApp::new(pool);
    let (_, password) = invited(&app, "rep-1", "rep").await;
    let first = login(&app, "rep-1", &password).await.expect(StatusCode::OK);
    let first_refresh = first.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let second = post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": first_refresh}),
    )
    .await
    .expect(StatusCode::OK);
    let second_refresh = second.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(first_refresh, second_refresh);
    // The first token again: it leaked. It is refused and so is its successor.
    post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": first_refresh}),
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
    post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": second_refresh}),
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
    // A fresh session signs out: its refresh token stops working.
    let third = login(&app, "rep-1", &password).await.expect(StatusCode::OK);
    let third_refresh = third.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let out = post(
        &app,
        "/v1/auth/logout",
        json!({"refresh_token": third_refresh}),
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": third_refresh}),
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
    post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": "made-up"}),
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_deactivated_user_is_shut_out(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let (id, password) = invited(&app, "rep-1", "rep").await;
    let session = login(&app, "rep-1", &password).await.expect(StatusCode::OK);
    let access = session.body["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = session.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let admin = app.token(Role::Admin, "boss");
    app.call(
        Method::POST,
        &format!("/v1/users/{id}/deactivate"),
        &admin,
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    login(&app, "rep-1", &password)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    post(&app, "/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    // What the service's background refresher does every 30 seconds.
    let revoked = command::http::sessions::deactivated(&pool)
        .await
        .expect("deactivated");
    app.jwt.revocations().replace(revoked);
    app.call(Method::GET, "/v1/me", &access, Value::Null)
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

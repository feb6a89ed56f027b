//! WeChat sign-in against a local stand-in for `jscode2session`: bind once
//! after a password sign-in, then sign in with a `wx.login` code; one account
//! per user per tenant; unbinding, deactivation and erasure shut it out;
//! WeChat's failures are 503s with `Retry-After`; nothing secret is logged.

mod common;
mod wechat_stand_in;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use common::{Reply, TestApp};
use web::Role;
use wechat_stand_in::{app_with, closed_url, Mode, StandIn, SESSION_KEY};

/// Invites `login` (by an admin of the app's tenant) and signs it in with
/// its password: its user id and access token.
async fn signed_in(app: &TestApp, login: &str) -> (Uuid, String) {
    let admin = app.token(Role::Admin, "boss");
    let invited = app
        .call(
            Method::POST,
            "/v1/users",
            &admin,
            json!({"login": login, "display_name": login, "role": "rep"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let password = invited.body["one_time_password"]
        .as_str()
        .expect("password");
    let session = post(
        app,
        "/v1/auth/login",
        json!({"tenant_id": app.tenant, "login": login, "password": password}),
    )
    .await
    .expect(StatusCode::OK);
    let access = session.body["access_token"].as_str().expect("access");
    (invited.id(), access.to_owned())
}

async fn post(app: &TestApp, uri: &str, body: Value) -> Reply {
    let body = axum::body::Body::from(body.to_string());
    app.send(Method::POST, uri, None, Some(body), &[]).await
}

async fn wechat_sign_in(app: &TestApp, code: &str) -> Reply {
    post(
        app,
        "/v1/auth/wechat",
        json!({"tenant_id": app.tenant, "code": code}),
    )
    .await
}

async fn bind(app: &TestApp, token: &str, code: &str) -> Reply {
    app.call(Method::PUT, "/v1/me/wechat", token, json!({"code": code}))
        .await
}

async fn wechat_bound(app: &TestApp, token: &str) -> Value {
    app.call(Method::GET, "/v1/me", token, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body["wechat_bound"]
        .clone()
}

fn retry_after(reply: &Reply) -> u64 {
    reply.headers["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds")
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn an_account_bound_to_no_one_cannot_sign_in(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = wechat.app(pool);
    signed_in(&app, "rep-1").await;
    let refused = wechat_sign_in(&app, &wechat.code_for("o-stranger"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let detail = refused.body["detail"].as_str().expect("detail");
    assert!(detail.contains("no active user"), "{detail}");
    assert!(detail.contains("bind WeChat"), "{detail}");
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_user_binds_once_then_signs_in_from_wechat_and_refreshes(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = wechat.app(pool);
    let (user_id, access) = signed_in(&app, "rep-1").await;
    assert_eq!(wechat_bound(&app, &access).await, false);
    let bound = bind(&app, &access, &wechat.code_for("o-rep-1"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(bound.id(), user_id);
    assert_eq!(wechat_bound(&app, &access).await, true);

    let session = wechat_sign_in(&app, &wechat.code_for("o-rep-1"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(session.body["login"], "rep-1");
    assert_eq!(session.body["role"], "rep");
    assert_eq!(session.body["token_type"], "Bearer");
    assert!(!session.body.to_string().contains(SESSION_KEY));
    let access = session.body["access_token"].as_str().expect("access");
    let me = app
        .call(Method::GET, "/v1/me", access, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.body["login"], "rep-1");
    assert_eq!(me.body["wechat_bound"], true);

    // The session is an ordinary one: it refreshes, and a reused refresh
    // token ends it.
    let refresh = session.body["refresh_token"].as_str().expect("refresh");
    let renewed = post(&app, "/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(renewed.body["login"], "rep-1");
    post(&app, "/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_code_works_once(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = wechat.app(pool);
    let (_, access) = signed_in(&app, "rep-1").await;
    bind(&app, &access, &wechat.code_for("o-rep-1"))
        .await
        .expect(StatusCode::OK);
    let code = wechat.code_for("o-rep-1");
    wechat_sign_in(&app, &code).await.expect(StatusCode::OK);
    let used = wechat_sign_in(&app, &code)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let detail = used.body["detail"].as_str().expect("detail");
    assert!(detail.contains("not valid or was used"), "{detail}");
    // Binding with a used code is refused the same way.
    bind(&app, &access, &code)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    // A code that cannot be one never reaches WeChat.
    let calls = wechat.calls();
    wechat_sign_in(&app, "has spaces in it")
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wechat.calls(), calls);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_replayed_bind_answers_as_the_first_without_spending_a_code(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = wechat.app(pool);
    let (_, access) = signed_in(&app, "rep-1").await;
    let code = wechat.code_for("o-rep-1");
    let key = [("Idempotency-Key", "bind-1")];
    let body = json!({"code": code});
    let first = app
        .call_with(Method::PUT, "/v1/me/wechat", &access, body.clone(), &key)
        .await
        .expect(StatusCode::OK);
    let again = app
        .call_with(Method::PUT, "/v1/me/wechat", &access, body, &key)
        .await
        .expect(StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    assert_eq!(wechat.calls(), 1);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn an_account_binds_one_user_per_tenant(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = wechat.app(pool.clone());
    let (_, ann) = signed_in(&app, "ann").await;
    let (_, bob) = signed_in(&app, "bob").await;
    bind(&app, &ann, &wechat.code_for("o-shared"))
        .await
        .expect(StatusCode::OK);
    let taken = bind(&app, &bob, &wechat.code_for("o-shared"))
        .await
        .expect(StatusCode::CONFLICT);
    assert!(taken.body["detail"]
        .as_str()
        .is_some_and(|detail| detail.contains("another user")));
    assert_eq!(wechat_bound(&app, &bob).await, false);

    // The same person in another tenant (same mini-program, same openid).
    let mut other = wechat.app(pool);
    other.tenant = Uuid::new_v4();
    let (_, carol) = signed_in(&other, "carol").await;
    bind(&other, &carol, &wechat.code_for("o-shared"))
        .await
        .expect(StatusCode::OK);
    let here = wechat_sign_in(&app, &wechat.code_for("o-shared"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(here.body["login"], "ann");
    let there = wechat_sign_in(&other, &wechat.code_for("o-shared"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(there.body["login"], "carol");

    // Binding again replaces the account: ann moves to a new one.
    bind(&app, &ann, &wechat.code_for("o-ann-new"))
        .await
        .expect(StatusCode::OK);
    wechat_sign_in(&app, &wechat.code_for("o-shared"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    bind(&app, &bob, &wechat.code_for("o-shared"))
        .await
        .expect(StatusCode::OK);
    let now = wechat_sign_in(&app, &wechat.code_for("o-shared"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(now.body["login"], "bob");
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn unbinding_ends_wechat_sign_in(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = wechat.app(pool);
    let (_, access) = signed_in(&app, "rep-1").await;
    let bound = bind(&app, &access, &wechat.code_for("o-rep-1"))
        .await
        .expect(StatusCode::OK);
    let unbound = app
        .call(Method::DELETE, "/v1/me/wechat", &access, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(unbound.version(), bound.version() + 1);
    assert_eq!(wechat_bound(&app, &access).await, false);
    wechat_sign_in(&app, &wechat.code_for("o-rep-1"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    // Unbinding with nothing bound changes nothing (the rule appends no event).
    let again = app
        .call(Method::DELETE, "/v1/me/wechat", &access, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(again.version(), unbound.version());
    // A token for a login outside the directory has nothing to unbind.
    let outsider = app.token(Role::Rep, "not-in-directory");
    app.call(Method::DELETE, "/v1/me/wechat", &outsider, Value::Null)
        .await
        .expect(StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_deactivated_user_is_answered_as_an_unbound_account(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = wechat.app(pool);
    let (user_id, access) = signed_in(&app, "rep-1").await;
    bind(&app, &access, &wechat.code_for("o-rep-1"))
        .await
        .expect(StatusCode::OK);
    let admin = app.token(Role::Admin, "boss");
    let deactivate = format!("/v1/users/{user_id}/deactivate");
    app.call(Method::POST, &deactivate, &admin, json!({}))
        .await
        .expect(StatusCode::OK);
    let deactivated = wechat_sign_in(&app, &wechat.code_for("o-rep-1"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let unbound = wechat_sign_in(&app, &wechat.code_for("o-nobody"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(deactivated.body, unbound.body);
    // Erasing the user takes the binding with it.
    let forget = format!("/v1/users/{user_id}/forget");
    app.call(Method::POST, &forget, &admin, json!({"reason": "离职"}))
        .await
        .expect(StatusCode::OK);
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM wechat_bindings")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(kept, 0);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn wechat_failures_are_503_with_retry_after_never_500(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = wechat.app(pool.clone());
    let (_, access) = signed_in(&app, "rep-1").await;
    for mode in [
        Mode::Errcode(-1),
        Mode::Garbage,
        Mode::Slow,
        Mode::Errcode(40125),
    ] {
        wechat.set(mode);
        let failed = wechat_sign_in(&app, &wechat.code_for("o-rep-1"))
            .await
            .expect(StatusCode::SERVICE_UNAVAILABLE);
        assert!(retry_after(&failed) >= 1, "{mode:?}");
        let failed = bind(&app, &access, &wechat.code_for("o-rep-1"))
            .await
            .expect(StatusCode::SERVICE_UNAVAILABLE);
        assert!(retry_after(&failed) >= 1, "{mode:?}");
    }
    // WeChat's own refusals of the person are the person's.
    wechat.set(Mode::Errcode(45011));
    let limited = wechat_sign_in(&app, &wechat.code_for("o-rep-1"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&limited), 60);
    wechat.set(Mode::Errcode(40226));
    wechat_sign_in(&app, &wechat.code_for("o-rep-1"))
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(wechat_bound(&app, &access).await, false);

    let mut down = app_with(pool, Some(StandIn::client_for(&closed_url().await)), None);
    down.tenant = app.tenant;
    let failed = wechat_sign_in(&down, "081unreachable")
        .await
        .expect(StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after(&failed) >= 1);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn without_an_app_id_and_secret_wechat_sign_in_is_501(pool: PgPool) {
    let app = app_with(pool, None, None);
    let (_, access) = signed_in(&app, "rep-1").await;
    for reply in [
        wechat_sign_in(&app, "081whatever").await,
        bind(&app, &access, "081whatever").await,
    ] {
        let reply = reply.expect(StatusCode::NOT_IMPLEMENTED);
        assert!(reply.headers.get("retry-after").is_none());
        let detail = reply.body["detail"].as_str().expect("detail");
        assert!(detail.contains("not configured"), "{detail}");
    }
    // Unbinding needs no word from WeChat.
    app.call(Method::DELETE, "/v1/me/wechat", &access, Value::Null)
        .await
        .expect(StatusCode::OK);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn wechat_sign_ins_count_against_the_address_limit(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = app_with(pool, Some(StandIn::client_for(&wechat.url)), Some(3));
    for _ in 0..3 {
        wechat_sign_in(&app, &wechat.code_for("o-nobody"))
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    let calls = wechat.calls();
    let limited = wechat_sign_in(&app, &wechat.code_for("o-nobody"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=300).contains(&retry_after(&limited)));
    assert_eq!(wechat.calls(), calls, "a refused attempt reaches no WeChat");
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn the_log_records_the_binding_never_the_account(pool: PgPool) {
    let wechat = StandIn::start().await;
    let app = wechat.app(pool.clone());
    let (user_id, access) = signed_in(&app, "rep-1").await;
    let openid = "o-secret-openid-1024";
    bind(&app, &access, &wechat.code_for(openid))
        .await
        .expect(StatusCode::OK);
    app.call(Method::DELETE, "/v1/me/wechat", &access, Value::Null)
        .await
        .expect(StatusCode::OK);
    let history: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT event_type, payload::text, metadata::text FROM events
          WHERE aggregate_type = 'User' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(user_id.to_string())
    .fetch_all(&pool)
    .await
    .expect("history");
    let kinds: Vec<&str> = history.iter().map(|(kind, _, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["UserInvited", "UserWeChatBound", "UserWeChatUnbound"]
    );
    let (_, payload, metadata) = &history[1];
    assert!(metadata.contains("BindUserWeChat"), "{metadata}");
    assert!(metadata.contains("rep-1"), "{metadata}");
    for (_, payload_text, metadata_text) in &history {
        for secret in [openid, SESSION_KEY] {
            assert!(!payload_text.contains(secret) && !metadata_text.contains(secret));
        }
    }
    let payload: Value = serde_json::from_str(payload).expect("payload");
    assert_eq!(payload, json!({"UserWeChatBound": {}}));
    // Nor anywhere else outside the bindings table: not in an event, not in
    // a recorded answer.
    let leaks: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'
                                          OR metadata::text LIKE '%' || $1 || '%')
              + (SELECT count(*) FROM idempotency_keys WHERE response_body::text LIKE '%' || $1 || '%')",
    )
    .bind(openid)
    .fetch_one(&pool)
    .await
    .expect("leaks");
    assert_eq!(leaks, 0);
}

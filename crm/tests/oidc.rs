//! Signing in with an external OpenID Connect identity provider: its RS256
//! and ES256 access tokens are accepted on the real routes with the mapped
//! tenant, user and role; tokens failing a check, and every algorithm
//! confusion, are a 401; its keys follow a rotation and survive its outage.
//! The provider is a small HTTP server on 127.0.0.1 publishing the fixture
//! key set (`fixtures/oidc/`, test-only keys).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::sync::watch;

use common::{Reply, TestApp, SECRET};
use crm::app::{router, AppState};
use web::auth::{ExternalIdp, IdpSettings};
use web::Role;

const ISSUER: &str = "https://sso.example.com/realms/acme";
const AUDIENCE: &str = "crm-backend";
const ROLE_MAP: &str = "sales=rep,sales-leads=manager,crm-auditors=auditor";

const RSA_PEM: &[u8] = include_bytes!("fixtures/oidc/rsa.pem");
const RSA_PUBLIC_PEM: &[u8] = include_bytes!("fixtures/oidc/rsa.pub.pem");
const RSA_NEXT_PEM: &[u8] = include_bytes!("fixtures/oidc/rsa-next.pem");
const EC_PEM: &[u8] = include_bytes!("fixtures/oidc/ec.pem");
const JWKS: &str = include_str!("fixtures/oidc/jwks.json");
const JWKS_ROTATED: &str = include_str!("fixtures/oidc/jwks-rotated.json");

/// The least time between two fetches of the keys in these tests (the
/// service's default is 10 s).
const SPACING: Duration = Duration::from_millis(300);

/// The provider's key set endpoint; an empty document answers 503.
struct FakeIdp {
    url: String,
    jwks: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

type Published = (Arc<Mutex<String>>, Arc<AtomicUsize>);

async fn certs(State((jwks, fetches)): State<Published>) -> Response {
    fetches.fetch_add(1, Ordering::SeqCst);
    let body = jwks.lock().expect("jwks").clone();
    if body.is_empty() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl FakeIdp {
    async fn start(jwks: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let published: Published = (
            Arc::new(Mutex::new(jwks.to_owned())),
            Arc::new(AtomicUsize::new(0)),
        );
        let server = Router::new()
            .route("/realms/acme/protocol/openid-connect/certs", get(certs))
            .with_state(published.clone());
        tokio::spawn(async move { axum::serve(listener, server).await });
        FakeIdp {
            url: format!("http://{address}/realms/acme/protocol/openid-connect/certs"),
            jwks: published.0,
            fetches: published.1,
        }
    }

    fn publish(&self, jwks: &str) {
        *self.jwks.lock().expect("jwks") = jwks.to_owned();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// The app with the provider configured as `crm serve` does it, its key
/// refresher running until `_stop` is dropped (bind it, not `..`).
struct OidcApp {
    app: TestApp,
    idp: FakeIdp,
    _stop: watch::Sender<bool>,
}

async fn with_provider(pool: PgPool) -> OidcApp {
    let idp = FakeIdp::start(JWKS).await;
    let mut settings = IdpSettings::new(ISSUER, AUDIENCE, idp.url.clone());
    settings.role_claim = "groups".into();
    settings.role_map = ROLE_MAP.parse().expect("role map");
    settings.refetch_spacing = SPACING;
    let external = ExternalIdp::new(settings).expect("provider");
    let mut app = TestApp::new(pool.clone());
    app.jwt = app.jwt.clone().with_external(external.clone());
    app.router = router(AppState::new(pool, app.jwt.clone(), app.data_keys.clone()));
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(external.clone().keep_keys_current(stopped));
    eventually("the first fetch of the keys", || async {
        external.key_count() == 2
    })
    .await;
    OidcApp {
        app,
        idp,
        _stop: stop,
    }
}

/// Polls `check` every 20 ms until it holds, for at most 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn claims(app: &TestApp, extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now,
        "sub": "alice", "tid": app.tenant, "groups": ["sales"],
        "preferred_username": "alice", "email": "alice@example.com",
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    claims
}

fn signed(algorithm: Algorithm, kid: &str, pem: &[u8], claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    let key = match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem).expect("EC key"),
        _ => EncodingKey::from_rsa_pem(pem).expect("RSA key"),
    };
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn rs256(claims: &Value) -> String {
    signed(Algorithm::RS256, "rsa-1", RSA_PEM, claims)
}

fn es256(claims: &Value) -> String {
    signed(Algorithm::ES256, "ec-1", EC_PEM, claims)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with exactly `header`, its signature an HMAC-SHA256 with `secret`.
fn hmac_signed(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("hmac");
    format!("{message}.{signature}")
}

async fn me(app: &TestApp, token: &str) -> Reply {
    app.send(Method::GET, "/v1/me", Some(token), None, &[])
        .await
}

async fn accepted(app: &TestApp, token: &str) -> Value {
    me(app, token).await.expect(StatusCode::OK).body
}

async fn refused(app: &TestApp, token: &str, words: &str) {
    let reply = me(app, token).await.expect(StatusCode::UNAUTHORIZED);
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(words), "{detail:?} lacks {words:?}");
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn the_providers_rs256_and_es256_tokens_work_as_the_mapped_caller(pool: PgPool) {
    let OidcApp { app, _stop, .. } = with_provider(pool).await;
    let lead = rs256(&claims(&app, json!({"groups": ["sales", "sales-leads"]})));
    let who = accepted(&app, &lead).await;
    assert_eq!(who["tenant_id"], app.tenant.to_string());
    assert_eq!(who["login"], "alice");
    assert_eq!(who["role"], "manager");
    assert_eq!(who["user"], Value::Null, "not in the directory");

    let auditor = es256(&claims(
        &app,
        json!({"sub": "bob", "groups": ["crm-auditors"], "aud": ["account", AUDIENCE]}),
    ));
    let who = accepted(&app, &auditor).await;
    assert_eq!(
        (&who["login"], &who["role"]),
        (&json!("bob"), &json!("auditor"))
    );

    // Commands and queries take the mapped caller as any other.
    let id = app.register(&lead, "张三").await;
    common::project(&app.pool).await;
    let list = |token: String| {
        let app = &app;
        async move {
            app.call(Method::GET, "/v1/customers", &token, Value::Null)
                .await
                .expect(StatusCode::OK)
                .body["items"]
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    assert_eq!(list(lead.clone()).await, 1, "a manager sees the tenant");
    let rep = rs256(&claims(&app, json!({"sub": "carol"})));
    assert_eq!(list(rep).await, 0, "a rep sees only its own");
    app.call(
        Method::GET,
        &format!("/v1/customers/{id}"),
        &auditor,
        Value::Null,
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::POST,
        "/v1/customers",
        &auditor,
        json!({"name": "李四"}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    // The service's own tokens keep working beside them.
    accepted(&app, &app.token(Role::Admin, "ann")).await;
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn tokens_failing_the_providers_checks_are_refused(pool: PgPool) {
    let OidcApp { app, _stop, .. } = with_provider(pool).await;
    let now = chrono::Utc::now().timestamp();
    let token = |extra: Value| rs256(&claims(&app, extra));
    refused(
        &app,
        &token(json!({"iss": "https://evil.example.com"})),
        "identity provider",
    )
    .await;
    refused(&app, &token(json!({"iss": "crm"})), "identity provider").await;
    refused(
        &app,
        &token(json!({"aud": "account"})),
        "not meant for this service",
    )
    .await;
    let mut without_aud = claims(&app, json!({}));
    without_aud
        .as_object_mut()
        .map(|claims| claims.remove("aud"));
    refused(&app, &rs256(&without_aud), "lacks a required claim").await;
    refused(&app, &token(json!({"exp": now - 60})), "expired").await;
    refused(
        &app,
        &token(json!({"groups": ["marketing"]})),
        "no value that maps",
    )
    .await;
    refused(
        &app,
        &token(json!({"sub": "two\nlines"})),
        "not a valid user id",
    )
    .await;
    refused(&app, &token(json!({"tid": "acme"})), "not a tenant id").await;
    let unknown = signed(Algorithm::RS256, "rsa-9", RSA_PEM, &claims(&app, json!({})));
    refused(&app, &unknown, "not one the identity provider publishes").await;
    // Another RSA key presenting the published key's id.
    let impostor = signed(
        Algorithm::RS256,
        "rsa-1",
        RSA_NEXT_PEM,
        &claims(&app, json!({})),
    );
    refused(&app, &impostor, "signature is invalid").await;
    // An EC signature naming the RSA key, and the other way round.
    let mixed = signed(Algorithm::ES256, "rsa-1", EC_PEM, &claims(&app, json!({})));
    refused(&app, &mixed, "not an EC P-256 key").await;
    let mixed = signed(Algorithm::RS256, "ec-1", RSA_PEM, &claims(&app, json!({})));
    refused(&app, &mixed, "not an RSA key").await;
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn algorithm_confusion_is_refused(pool: PgPool) {
    let OidcApp { app, _stop, .. } = with_provider(pool).await;
    let admin = claims(
        &app,
        json!({"groups": ["admin"], "role": "admin", "jti": "j"}),
    );
    assert_eq!(
        accepted(&app, &rs256(&admin)).await["role"],
        "admin",
        "the claims themselves are fine"
    );
    let jwks: Value = serde_json::from_str(JWKS).expect("jwks");
    let modulus = jwks["keys"][0]["n"].as_str().expect("n");
    let modulus_bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(modulus)
        .expect("n bytes");
    for public in [RSA_PUBLIC_PEM, modulus_bytes.as_slice(), modulus.as_bytes()] {
        // HS256 with the public key as its secret, by header or by kid.
        let hs = json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"});
        refused(
            &app,
            &hmac_signed(&hs, &admin, public),
            "signature is invalid",
        )
        .await;
        // An RS256 header over an HMAC with it.
        let rs = json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"});
        refused(
            &app,
            &hmac_signed(&rs, &admin, public),
            "signature is invalid",
        )
        .await;
    }
    // An RS256 header over an HMAC with the service's own secret, with the
    // provider's claims and with the service's.
    let rs = json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"});
    refused(
        &app,
        &hmac_signed(&rs, &admin, SECRET),
        "signature is invalid",
    )
    .await;
    let own = json!({
        "iss": web::auth::ISSUER, "aud": web::auth::AUDIENCE, "tid": app.tenant,
        "sub": "alice", "role": "admin", "jti": "j",
        "exp": chrono::Utc::now().timestamp() + 300,
    });
    refused(
        &app,
        &hmac_signed(&rs, &own, SECRET),
        "signature is invalid",
    )
    .await;
    // The service's own valid token with its header turned into RS256.
    let token = app.token(Role::Admin, "alice");
    let (_, rest) = token.split_once('.').expect("token");
    let rewritten = format!("{}.{rest}", b64(rs.to_string().as_bytes()));
    refused(&app, &rewritten, "signature is invalid").await;
    // The provider's claims HMAC-signed with the service's secret take the
    // service's path, which wants its own issuer.
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    refused(
        &app,
        &hmac_signed(&hs, &admin, SECRET),
        "not issued by this service",
    )
    .await;
    // No signature.
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "JWT"});
        let unsigned = format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(admin.to_string().as_bytes())
        );
        refused(&app, &unsigned, "unsupported algorithm").await;
    }
    // Algorithms neither path admits.
    for alg in ["HS512", "RS512", "PS256", "ES384"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "rsa-1"});
        refused(
            &app,
            &hmac_signed(&header, &admin, SECRET),
            "HS256, RS256 or ES256",
        )
        .await;
    }
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn without_a_provider_only_the_services_own_tokens_are_accepted(pool: PgPool) {
    let app = TestApp::new(pool);
    let caller = claims(&app, json!({"role": "admin"}));
    refused(&app, &rs256(&caller), "must be signed with HS256").await;
    refused(&app, &es256(&caller), "must be signed with HS256").await;
    accepted(&app, &app.token(Role::Rep, "alice")).await;
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_key_rotated_in_is_picked_up_after_a_token_names_it(pool: PgPool) {
    let OidcApp { app, idp, _stop } = with_provider(pool).await;
    let token = signed(
        Algorithm::RS256,
        "rsa-2",
        RSA_NEXT_PEM,
        &claims(&app, json!({})),
    );
    refused(&app, &token, "not one the identity provider publishes").await;
    idp.publish(JWKS_ROTATED);
    let before = idp.fetches();
    eventually("the rotated key", || async {
        me(&app, &token).await.status == StatusCode::OK
    })
    .await;
    assert!(idp.fetches() > before, "fetched again on demand");
    // The keys held before the rotation still work.
    accepted(&app, &rs256(&claims(&app, json!({})))).await;
    accepted(&app, &es256(&claims(&app, json!({})))).await;
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_spacing(pool: PgPool) {
    let OidcApp { app, idp, _stop } = with_provider(pool).await;
    let before = idp.fetches();
    let flood = SPACING * 5;
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < flood {
        let kid = format!("bogus-{sent}");
        let token = signed(Algorithm::RS256, &kid, RSA_PEM, &claims(&app, json!({})));
        me(&app, &token).await.expect(StatusCode::UNAUTHORIZED);
        sent += 1;
        if sent % 20 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // The last permit may still be waiting for its spacing.
    tokio::time::sleep(SPACING * 2).await;
    let fetched = idp.fetches() - before;
    // One fetch per spacing from the flood's start, and one more at the edge.
    let allowed =
        usize::try_from(started.elapsed().as_millis() / SPACING.as_millis()).expect("small") + 1;
    assert!(sent >= 50, "only {sent} tokens sent");
    assert!(
        (1..=allowed).contains(&fetched),
        "{fetched} fetches for {sent} tokens (at most {allowed})"
    );
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_failed_fetch_keeps_the_keys_held(pool: PgPool) {
    let OidcApp { app, idp, _stop } = with_provider(pool).await;
    let external = app.jwt.external().expect("provider").clone();
    for broken in [
        "",
        "not json",
        r#"{"keys": []}"#,
        r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#,
    ] {
        idp.publish(broken);
        assert!(external.refresh_keys().await.is_err(), "{broken:?}");
        assert_eq!(external.key_count(), 2, "{broken:?}");
    }
    accepted(&app, &rs256(&claims(&app, json!({})))).await;
    accepted(&app, &es256(&claims(&app, json!({})))).await;
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn deactivated_users_of_the_provider_are_refused(pool: PgPool) {
    let OidcApp { app, _stop, .. } = with_provider(pool).await;
    let token = es256(&claims(&app, json!({})));
    accepted(&app, &token).await;
    app.jwt
        .revocations()
        .replace([(app.tenant, "alice".to_owned())].into());
    refused(&app, &token, "deactivated").await;
}

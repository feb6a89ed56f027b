use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{json, Value};

use super::keys::KeySet;
use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

const RSA_PEM: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crm/tests/fixtures/oidc/rsa.pem"
));
const RSA_PUBLIC_PEM: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crm/tests/fixtures/oidc/rsa.pub.pem"
));
const EC_PEM: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crm/tests/fixtures/oidc/ec.pem"
));
const JWKS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crm/tests/fixtures/oidc/jwks.json"
));

const IDP_ISSUER: &str = "https://sso.example.com/realms/acme";
const IDP_AUDIENCE: &str = "crm-backend";

#[test]
fn short_secrets_are_refused() {
    assert!(JwtKeys::from_secret(b"short").is_err());
}

#[test]
fn issued_tokens_verify() {
    let keys = JwtKeys::from_secret(SECRET).expect("keys");
    let tenant = Uuid::new_v4();
    let token = keys.issue(tenant, "u1", Role::Manager, Duration::from_secs(60));
    let caller = keys.verify(&token).expect("valid");
    assert_eq!(caller.tenant_id, tenant);
    assert_eq!(caller.role, Role::Manager);
}

#[test]
fn other_algorithms_and_secrets_are_refused() {
    let keys = JwtKeys::from_secret(SECRET).expect("keys");
    let claims = Claims {
        tid: Uuid::new_v4(),
        sub: "u1".into(),
        role: Role::Admin,
        exp: chrono::Utc::now().timestamp() + 60,
        iat: 0,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        jti: "j".into(),
    };
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("encode");
    assert!(keys.verify(&hs512).is_err());
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
    )
    .expect("encode");
    assert!(keys.verify(&forged).is_err());
}

#[test]
fn tokens_of_another_issuer_or_audience_or_without_them_are_refused() {
    let keys = JwtKeys::from_secret(SECRET).expect("keys");
    let sign = |claims: Value| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode")
    };
    let exp = chrono::Utc::now().timestamp() + 60;
    let tid = Uuid::new_v4();
    let base = json!({"tid": tid, "sub": "u1", "role": "rep", "exp": exp, "jti": "j"});
    let with = |extra: Value| merged(&base, extra);
    assert!(keys
        .verify(&sign(with(json!({"iss": ISSUER, "aud": AUDIENCE}))))
        .is_ok());
    for claims in [
        with(json!({"iss": ISSUER})),
        with(json!({"aud": AUDIENCE})),
        with(json!({"iss": "someone-else", "aud": AUDIENCE})),
        with(json!({"iss": ISSUER, "aud": "another-api"})),
    ] {
        assert!(keys.verify(&sign(claims.clone())).is_err(), "{claims}");
    }
}

#[test]
fn revoked_users_tokens_are_refused() {
    let keys = JwtKeys::from_secret(SECRET).expect("keys");
    let tenant = Uuid::new_v4();
    let token = keys.issue(tenant, "u1", Role::Rep, Duration::from_secs(60));
    keys.revocations()
        .replace(HashSet::from([(tenant, "u1".to_owned())]));
    assert!(keys.verify(&token).is_err());
    keys.revocations().replace(HashSet::new());
    assert!(keys.verify(&token).is_ok());
}

fn merged(base: &Value, extra: Value) -> Value {
    let mut claims = base.clone();
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    claims
}

/// The service's keys with a provider holding the fixture key set.
fn with_provider(adjust: impl FnOnce(&mut IdpSettings)) -> JwtKeys {
    let mut settings = IdpSettings::new(IDP_ISSUER, IDP_AUDIENCE, "https://sso.example.com/jwks");
    settings.role_claim = "groups".into();
    settings.role_map = "sales=rep,sales-leads=manager".parse().expect("role map");
    adjust(&mut settings);
    let idp = ExternalIdp::new(settings).expect("provider");
    let (keys, skipped) = KeySet::parse(JWKS).expect("fixture key set");
    assert!(skipped.is_empty(), "{skipped:?}");
    idp.install(keys);
    JwtKeys::from_secret(SECRET)
        .expect("keys")
        .with_external(idp)
}

fn idp_claims(tenant: Uuid, extra: Value) -> Value {
    let exp = chrono::Utc::now().timestamp() + 300;
    merged(
        &json!({
            "iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "exp": exp, "iat": exp - 300,
            "sub": "alice", "tid": tenant, "groups": ["sales"],
        }),
        extra,
    )
}

fn signed(algorithm: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PEM).expect("RSA key"),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PEM).expect("EC key"),
        _ => EncodingKey::from_secret(SECRET),
    };
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with exactly this header, signed over with HMAC-SHA256 and `secret`.
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

#[track_caller]
fn refused(keys: &JwtKeys, token: &str, words: &str) {
    match keys.verify(token) {
        Err(ApiError::Unauthorized(reason)) => {
            assert!(reason.contains(words), "{reason:?} lacks {words:?}")
        }
        other => panic!("expected a 401 with {words:?}, got {other:?}"),
    }
}

#[test]
fn the_providers_rs256_and_es256_tokens_map_to_callers() {
    let keys = with_provider(|_| {});
    let tenant = Uuid::new_v4();
    let lead = idp_claims(
        tenant,
        json!({"groups": ["offline_access", "sales", "sales-leads"]}),
    );
    let caller = keys
        .verify(&signed(Algorithm::RS256, Some("rsa-1"), &lead))
        .expect("RS256");
    assert_eq!(
        caller,
        Caller {
            tenant_id: tenant,
            user_id: "alice".into(),
            role: Role::Manager
        }
    );
    let auditor = idp_claims(
        tenant,
        json!({"groups": "auditor", "aud": ["other", IDP_AUDIENCE]}),
    );
    let caller = keys
        .verify(&signed(Algorithm::ES256, Some("ec-1"), &auditor))
        .expect("ES256");
    assert_eq!(caller.role, Role::Auditor);
    // No kid: the one key of the algorithm's kind.
    assert!(keys
        .verify(&signed(Algorithm::ES256, None, &auditor))
        .is_ok());
    // The service's own tokens still work beside them.
    assert!(keys
        .verify(&keys.issue(tenant, "bob", Role::Rep, Duration::from_secs(60)))
        .is_ok());
}

#[test]
fn claim_names_and_a_fixed_tenant_are_configurable() {
    let fixed = Uuid::new_v4();
    let keys = with_provider(|settings| {
        settings.tenant = TenantSource::Fixed(fixed);
        settings.user_claim = "preferred_username".into();
        settings.role_claim = "realm_access.roles".into();
    });
    let claims = json!({
        "iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "exp": chrono::Utc::now().timestamp() + 60,
        "sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "preferred_username": "zhang.wei",
        "realm_access": {"roles": ["default-roles-acme", "sales-leads"]},
    });
    let caller = keys
        .verify(&signed(Algorithm::RS256, Some("rsa-1"), &claims))
        .expect("valid");
    assert_eq!(caller.tenant_id, fixed);
    assert_eq!(caller.user_id, "zhang.wei");
    assert_eq!(caller.role, Role::Manager);
}

#[test]
fn tokens_failing_a_claim_check_are_refused_with_the_reason() {
    let keys = with_provider(|_| {});
    let tenant = Uuid::new_v4();
    let now = chrono::Utc::now().timestamp();
    let rs = |extra: Value| signed(Algorithm::RS256, Some("rsa-1"), &idp_claims(tenant, extra));
    refused(
        &keys,
        &rs(json!({"groups": ["marketing"]})),
        "no value that maps",
    );
    refused(
        &keys,
        &rs(json!({"groups": ["sales", "auditor"]})),
        "conflict",
    );
    refused(&keys, &rs(json!({"sub": "a\nb"})), "not a valid user id");
    refused(
        &keys,
        &rs(json!({"sub": "x".repeat(65)})),
        "not a valid user id",
    );
    refused(&keys, &rs(json!({"tid": "acme"})), "not a tenant id");
    refused(
        &keys,
        &rs(json!({"iss": "https://evil.example.com"})),
        "identity provider",
    );
    refused(
        &keys,
        &rs(json!({"aud": "another-api"})),
        "not meant for this service",
    );
    refused(&keys, &rs(json!({"exp": now - 60})), "expired");
    refused(&keys, &rs(json!({"nbf": now + 600})), "not valid yet");
    let mut no_aud = idp_claims(tenant, json!({}));
    no_aud.as_object_mut().map(|claims| claims.remove("aud"));
    refused(
        &keys,
        &signed(Algorithm::RS256, Some("rsa-1"), &no_aud),
        "lacks a required claim",
    );
    let mut no_role = idp_claims(tenant, json!({}));
    no_role
        .as_object_mut()
        .map(|claims| claims.remove("groups"));
    refused(
        &keys,
        &signed(Algorithm::ES256, Some("ec-1"), &no_role),
        "lacks the `groups` claim",
    );
}

#[test]
fn keys_are_chosen_by_kid_and_kind() {
    let keys = with_provider(|_| {});
    let claims = idp_claims(Uuid::new_v4(), json!({}));
    refused(
        &keys,
        &signed(Algorithm::RS256, Some("rsa-9"), &claims),
        "not one the identity provider publishes",
    );
    refused(
        &keys,
        &signed(Algorithm::RS256, Some("ec-1"), &claims),
        "not an RSA key",
    );
    refused(
        &keys,
        &signed(Algorithm::ES256, Some("rsa-1"), &claims),
        "not an EC P-256 key",
    );
}

#[tokio::test]
async fn an_unknown_kid_asks_the_refresher_for_a_fetch() {
    let keys = with_provider(|_| {});
    let idp = keys.external().expect("provider").clone();
    let claims = idp_claims(Uuid::new_v4(), json!({}));
    assert!(keys
        .verify(&signed(Algorithm::RS256, Some("new"), &claims))
        .is_err());
    tokio::time::timeout(Duration::from_secs(1), idp.0.wanted.notified())
        .await
        .expect("a fetch was asked for");
}

#[test]
fn without_a_provider_only_hs256_is_accepted() {
    let keys = JwtKeys::from_secret(SECRET).expect("keys");
    let claims = idp_claims(Uuid::new_v4(), json!({}));
    refused(
        &keys,
        &signed(Algorithm::RS256, Some("rsa-1"), &claims),
        "HS256",
    );
    refused(
        &keys,
        &signed(Algorithm::ES256, Some("ec-1"), &claims),
        "HS256",
    );
}

#[test]
fn algorithm_confusion_is_refused() {
    let keys = with_provider(|_| {});
    let tenant = Uuid::new_v4();
    let claims = idp_claims(tenant, json!({}));
    let jwks: Value = serde_json::from_slice(JWKS).expect("jwks");
    let modulus = jwks["keys"][0]["n"].as_str().expect("n");
    let modulus_bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(modulus)
        .expect("n bytes");
    // HS256 "signed" with what anyone can read: the public key.
    for secret in [RSA_PUBLIC_PEM, modulus.as_bytes(), modulus_bytes.as_slice()] {
        let hs = json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"});
        assert!(keys.verify(&hmac_signed(&hs, &claims, secret)).is_err());
        let rs = json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"});
        refused(
            &keys,
            &hmac_signed(&rs, &claims, secret),
            "signature is invalid",
        );
    }
    // An RS256 header over an HMAC with the service's own secret.
    let own = merged(
        &claims,
        json!({"iss": ISSUER, "aud": AUDIENCE, "role": "admin"}),
    );
    let rs = json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"});
    assert!(keys.verify(&hmac_signed(&rs, &own, SECRET)).is_err());
    // A valid own token whose header is rewritten to RS256.
    let token = keys.issue(tenant, "alice", Role::Admin, Duration::from_secs(60));
    let (_, rest) = token.split_once('.').expect("token");
    let rewritten = format!("{}.{rest}", b64(rs.to_string().as_bytes()));
    assert!(keys.verify(&rewritten).is_err());
    // The provider's claims HMAC-signed with the service's secret go the own
    // path, which wants its own issuer.
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let complete = merged(&claims, json!({"role": "admin", "jti": "j"}));
    refused(
        &keys,
        &hmac_signed(&hs, &complete, SECRET),
        "not issued by this service",
    );
    // No signature at all.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    refused(&keys, &none, "unsupported algorithm");
    // An algorithm neither path admits.
    let ps = json!({"alg": "PS256", "typ": "JWT", "kid": "rsa-1"});
    refused(
        &keys,
        &hmac_signed(&ps, &claims, SECRET),
        "HS256, RS256 or ES256",
    );
}

#[test]
fn revocations_apply_to_the_providers_callers() {
    let keys = with_provider(|_| {});
    let tenant = Uuid::new_v4();
    let token = signed(
        Algorithm::ES256,
        Some("ec-1"),
        &idp_claims(tenant, json!({})),
    );
    assert!(keys.verify(&token).is_ok());
    keys.revocations()
        .replace(HashSet::from([(tenant, "alice".to_owned())]));
    refused(&keys, &token, "deactivated");
}

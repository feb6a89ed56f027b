//! Bearer JWT authentication: HS256 only; claims `tid`, `sub`, `role`, `exp`,
//! `iat`, `jti`, and `iss`/`aud`, which must name this service. Tokens of
//! users deactivated since they were issued are refused as soon as the
//! [`Revocations`] set hears of it (the service refreshes it in the
//! background, so no request reads the database to check).

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use events::Role;

use crate::problem::ApiError;

/// The shortest secret accepted: HS256 is only as strong as its key.
pub const MIN_SECRET_BYTES: usize = 32;
/// Who issues the service's tokens (`iss`).
pub const ISSUER: &str = "crm";
/// Whom they are for (`aud`).
pub const AUDIENCE: &str = "crm-api";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Tenant id.
    pub tid: Uuid,
    /// User id.
    pub sub: String,
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    /// The token's own id.
    pub jti: String,
}

/// Who is making a request, taken from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub user_id: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes (got {0})")]
    TooShort(usize),
}

/// Signing and verification keys derived from one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys(Arc<KeysInner>);

struct KeysInner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    revocations: Revocations,
}

/// The users (tenant, login) whose tokens are refused before they expire:
/// deactivated ones. Kept current by whoever knows the directory.
#[derive(Clone, Default)]
pub struct Revocations(Arc<RwLock<HashSet<(Uuid, String)>>>);

impl Revocations {
    /// Replaces the whole set.
    pub fn replace(&self, revoked: HashSet<(Uuid, String)>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = revoked;
    }

    pub fn is_revoked(&self, tenant_id: Uuid, user_id: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&(tenant_id, user_id.to_owned()))
    }
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    pub fn from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::TooShort(secret.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        Ok(Self(Arc::new(KeysInner {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            revocations: Revocations::default(),
        })))
    }

    /// The set of users whose tokens this verifier refuses.
    pub fn revocations(&self) -> &Revocations {
        &self.0.revocations
    }

    /// Signs a token valid for `ttl` from now.
    pub fn issue(&self, tenant_id: Uuid, user_id: &str, role: Role, ttl: Duration) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            tid: tenant_id,
            sub: user_id.to_owned(),
            role,
            exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            iat: now,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            jti: Uuid::now_v7().to_string(),
        };
        // HS256 signing of a serialisable struct cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .unwrap_or_default()
    }

    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                let reason = match error.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::InvalidAlgorithm => "the token must be signed with HS256",
                    ErrorKind::InvalidSignature => "the token signature is invalid",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                    ErrorKind::InvalidIssuer => "the token was not issued by this service",
                    ErrorKind::InvalidAudience => "the token is not meant for this service",
                    _ => "the token is malformed",
                };
                ApiError::Unauthorized(reason.to_owned())
            })?;
        let claims = data.claims;
        // The rule every user id follows (1–64 characters of one line).
        let sub = events::values::UserId::parse(&claims.sub).map_err(|error| {
            ApiError::Unauthorized(format!("the token's sub is not a valid user id: {error}"))
        })?;
        if self.0.revocations.is_revoked(claims.tid, sub.as_str()) {
            return Err(ApiError::Unauthorized(
                "the user was deactivated; sign in again".into(),
            ));
        }
        Ok(Caller {
            tenant_id: claims.tid,
            user_id: sub.into(),
            role: claims.role,
        })
    }
}

impl<S> FromRequestParts<S> for Caller
where
    JwtKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A middleware that already verified the token (the read cache) leaves the caller here.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer token".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?;
        JwtKeys::from_ref(state).verify(token)
    }
}

impl Caller {
    /// Refuses the request unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "role {} may not do this (allowed: {})",
                self.role,
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

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
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .expect("encode")
        };
        let exp = chrono::Utc::now().timestamp() + 60;
        let tid = Uuid::new_v4();
        let base =
            serde_json::json!({"tid": tid, "sub": "u1", "role": "rep", "exp": exp, "jti": "j"});
        let with = |extra: serde_json::Value| {
            let mut claims = base.clone();
            if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
                claims.extend(extra.clone());
            }
            claims
        };
        assert!(keys
            .verify(&sign(with(
                serde_json::json!({"iss": ISSUER, "aud": AUDIENCE})
            )))
            .is_ok());
        for claims in [
            with(serde_json::json!({"iss": ISSUER})),
            with(serde_json::json!({"aud": AUDIENCE})),
            with(serde_json::json!({"iss": "someone-else", "aud": AUDIENCE})),
            with(serde_json::json!({"iss": ISSUER, "aud": "another-api"})),
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
}

//! Bearer JWT authentication.
//!
//! The service's own tokens are HS256 with claims `tid`, `sub`, `role`,
//! `exp`, `iat`, `jti`, and `iss`/`aud`, which must name this service. When
//! an external OpenID Connect identity provider is configured
//! ([`ExternalIdp`]), its RS256 and ES256 access tokens are accepted too,
//! checked against the keys it publishes (JWKS) and mapped to a tenant, user
//! and role. The token header's `alg` picks the path and each path admits
//! only its own algorithms, so an HMAC is never checked against a public key
//! and a public-key signature never against the secret (algorithm confusion).
//!
//! Tokens of users deactivated since they were issued are refused as soon as
//! the [`Revocations`] set hears of it (the service refreshes it in the
//! background, so no request reads the database to check).

mod external;
mod keys;
mod mapping;
mod refresh;
mod revocations;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use events::Role;
pub use external::{ExternalIdp, IdpError, IdpSettings};
pub use mapping::{RoleMap, RoleMapError, TenantSource};
pub use refresh::FetchError;
pub use revocations::Revocations;

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

/// Signing and verification keys derived from one HS256 secret, and the
/// external identity provider whose tokens are accepted too, if any.
#[derive(Clone)]
pub struct JwtKeys(Arc<KeysInner>);

struct KeysInner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    revocations: Revocations,
    external: Option<ExternalIdp>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

/// Whose token a refusal is about, for the reason it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signer {
    Service,
    Provider,
}

pub(crate) fn unauthorized(reason: impl Into<String>) -> ApiError {
    ApiError::Unauthorized(reason.into())
}

/// The caller-facing reason a token failed `jsonwebtoken`'s checks.
pub(crate) fn refusal(error: &jsonwebtoken::errors::Error, signer: Signer) -> ApiError {
    use jsonwebtoken::errors::ErrorKind;
    let reason = match (error.kind(), signer) {
        (ErrorKind::ExpiredSignature, _) => "the token has expired",
        (ErrorKind::ImmatureSignature, _) => "the token is not valid yet (nbf)",
        (ErrorKind::InvalidAlgorithm, Signer::Service) => "the token must be signed with HS256",
        (ErrorKind::InvalidAlgorithm, Signer::Provider) => {
            "the token's algorithm does not match its key"
        }
        (ErrorKind::InvalidSignature, _) => "the token signature is invalid",
        (ErrorKind::MissingRequiredClaim(_), _) => "the token lacks a required claim",
        (ErrorKind::InvalidIssuer, Signer::Service) => "the token was not issued by this service",
        (ErrorKind::InvalidIssuer, Signer::Provider) => {
            "the token was not issued by the configured identity provider"
        }
        (ErrorKind::InvalidAudience, _) => "the token is not meant for this service",
        _ => "the token is malformed",
    };
    unauthorized(reason)
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
            external: None,
        })))
    }

    /// These keys, also accepting `idp`'s RS256 and ES256 access tokens. The
    /// revocation set stays the same one, shared with every clone made before.
    pub fn with_external(self, idp: ExternalIdp) -> Self {
        Self(Arc::new(KeysInner {
            encoding: self.0.encoding.clone(),
            decoding: self.0.decoding.clone(),
            validation: self.0.validation.clone(),
            revocations: self.0.revocations.clone(),
            external: Some(idp),
        }))
    }

    /// The external identity provider, when one is configured (whoever runs
    /// the service keeps its keys current: [`ExternalIdp::keep_keys_current`]).
    pub fn external(&self) -> Option<&ExternalIdp> {
        self.0.external.as_ref()
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
        // The header is read unverified only to pick the path; each path then
        // admits exactly its own algorithms, so what the header claims cannot
        // make one kind of key check the other kind's signature.
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            unauthorized("the token is malformed or names an unsupported algorithm")
        })?;
        let caller = match (header.alg, &self.0.external) {
            (Algorithm::HS256, _) => self.verify_own(token)?,
            (Algorithm::RS256 | Algorithm::ES256, Some(idp)) => idp.verify(token, &header)?,
            (_, Some(_)) => {
                return Err(unauthorized(
                    "the token must be signed with HS256, RS256 or ES256",
                ))
            }
            (_, None) => return Err(unauthorized("the token must be signed with HS256")),
        };
        if self
            .0
            .revocations
            .is_revoked(caller.tenant_id, &caller.user_id)
        {
            return Err(unauthorized("the user was deactivated; sign in again"));
        }
        Ok(caller)
    }

    /// The service's own HS256 tokens.
    fn verify_own(&self, token: &str) -> Result<Caller, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map_err(|error| refusal(&error, Signer::Service))?;
        let claims = data.claims;
        // The rule every user id follows (1–64 characters of one line).
        let sub = events::values::UserId::parse(&claims.sub).map_err(|error| {
            unauthorized(format!("the token's sub is not a valid user id: {error}"))
        })?;
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

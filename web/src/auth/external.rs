//! An external OpenID Connect identity provider whose RS256 and ES256 access
//! tokens the service accepts besides its own.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use super::keys::{KeyKind, KeySet, Selection};
use super::mapping::{self, RoleMap, TenantSource};
use super::{refusal, unauthorized, Caller, Signer, ISSUER};
use crate::problem::ApiError;

/// What identifies the provider's tokens and how their claims map to a
/// caller.
#[derive(Debug, Clone)]
pub struct IdpSettings {
    /// The provider's `iss`, compared exactly.
    pub issuer: String,
    /// The `aud` the provider gives tokens meant for this service.
    pub audience: String,
    /// Where the provider publishes its signing keys (JWKS).
    pub jwks_url: String,
    pub tenant: TenantSource,
    /// The claim naming the user (its value must be a valid user id).
    pub user_claim: String,
    /// The claim holding the provider's role or roles (a string or an array
    /// of strings, such as groups).
    pub role_claim: String,
    pub role_map: RoleMap,
    /// How often the keys are fetched again without being asked to.
    pub refresh_every: Duration,
    /// The least time between two fetches, however many tokens with unknown
    /// keys arrive.
    pub refetch_spacing: Duration,
    /// How long one fetch may take.
    pub fetch_timeout: Duration,
}

impl IdpSettings {
    pub const DEFAULT_REFRESH: Duration = Duration::from_secs(600);
    pub const DEFAULT_REFETCH_SPACING: Duration = Duration::from_secs(10);
    pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

    /// Settings with the usual OIDC claims: tenant `tid`, user `sub`, role
    /// `role` (whose CRM role names map to themselves).
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks_url: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: jwks_url.into(),
            tenant: TenantSource::default(),
            user_claim: "sub".to_owned(),
            role_claim: "role".to_owned(),
            role_map: RoleMap::default(),
            refresh_every: Self::DEFAULT_REFRESH,
            refetch_spacing: Self::DEFAULT_REFETCH_SPACING,
            fetch_timeout: Self::DEFAULT_FETCH_TIMEOUT,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    #[error("the issuer must not be empty")]
    EmptyIssuer,
    #[error("the issuer must not be {ISSUER:?}, which names the service's own tokens")]
    OwnIssuer,
    #[error("the audience must not be empty")]
    EmptyAudience,
    #[error("the JWKS URL {0:?} is not a URL: {1}")]
    BadUrl(String, String),
    #[error(
        "the JWKS URL {0} must use https (http only for this machine): whoever can alter the keys on the way can sign tokens"
    )]
    InsecureUrl(String),
    #[error("the JWKS URL must not carry credentials: the key set is public")]
    UrlCredentials,
    #[error("the {0} claim's name must not be empty")]
    EmptyClaim(&'static str),
    #[error("the {0} must be at least one second")]
    TooShort(&'static str),
    #[error("cannot build the HTTP client for the JWKS: {0}")]
    Client(String),
}

/// The provider: its settings and the keys last fetched from it. Clones
/// share the keys, so the refresher's fetches reach every verifier.
#[derive(Clone)]
pub struct ExternalIdp(pub(super) Arc<Inner>);

pub(super) struct Inner {
    pub(super) settings: IdpSettings,
    pub(super) url: reqwest::Url,
    pub(super) client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// Woken by a token whose key is not held, so the refresher fetches
    /// soon; one stored permit however many such tokens arrive.
    pub(super) wanted: Notify,
    rs256: Validation,
    es256: Validation,
}

impl fmt::Debug for ExternalIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalIdp")
            .field("issuer", &self.0.settings.issuer)
            .field("jwks_url", &self.0.url.as_str())
            .field("keys", &self.key_count())
            .finish_non_exhaustive()
    }
}

impl ExternalIdp {
    /// Checks the settings; holds no keys until the first fetch
    /// ([`ExternalIdp::keep_keys_current`] or [`ExternalIdp::refresh_keys`]).
    pub fn new(settings: IdpSettings) -> Result<Self, IdpError> {
        if settings.issuer.trim().is_empty() {
            return Err(IdpError::EmptyIssuer);
        }
        if settings.issuer == ISSUER {
            return Err(IdpError::OwnIssuer);
        }
        if settings.audience.trim().is_empty() {
            return Err(IdpError::EmptyAudience);
        }
        if let TenantSource::Claim(name) = &settings.tenant {
            if name.is_empty() {
                return Err(IdpError::EmptyClaim("tenant"));
            }
        }
        if settings.user_claim.is_empty() {
            return Err(IdpError::EmptyClaim("user"));
        }
        if settings.role_claim.is_empty() {
            return Err(IdpError::EmptyClaim("role"));
        }
        for (name, value) in [
            ("refresh interval", settings.refresh_every),
            ("fetch timeout", settings.fetch_timeout),
        ] {
            if value < Duration::from_secs(1) {
                return Err(IdpError::TooShort(name));
            }
        }
        let url = jwks_url(&settings.jwks_url)?;
        let client = reqwest::Client::builder()
            .timeout(settings.fetch_timeout)
            .connect_timeout(settings.fetch_timeout)
            // A redirect must not take an https fetch to plain http.
            .https_only(url.scheme() == "https")
            .user_agent(concat!("crm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| IdpError::Client(error.to_string()))?;
        Ok(Self(Arc::new(Inner {
            rs256: validation(Algorithm::RS256, &settings),
            es256: validation(Algorithm::ES256, &settings),
            settings,
            url,
            client,
            keys: RwLock::new(Arc::new(KeySet::default())),
            wanted: Notify::new(),
        })))
    }

    pub fn settings(&self) -> &IdpSettings {
        &self.0.settings
    }

    /// How many usable keys are held now.
    pub fn key_count(&self) -> usize {
        self.current().len()
    }

    fn current(&self) -> Arc<KeySet> {
        Arc::clone(
            &self
                .0
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub(super) fn install(&self, keys: KeySet) {
        *self
            .0
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
    }

    /// Checks a token whose header says RS256 or ES256 against the held keys
    /// (never the network) and maps its claims.
    pub(super) fn verify(&self, token: &str, header: &Header) -> Result<Caller, ApiError> {
        let Some(kind) = KeyKind::for_algorithm(header.alg) else {
            return Err(unauthorized(
                "the token must be signed with HS256, RS256 or ES256",
            ));
        };
        let keys = self.current();
        let key = match keys.select(header.kid.as_deref(), kind) {
            Selection::Found(key) => key,
            Selection::Unknown => {
                // Perhaps rotated in since the last fetch: the refresher
                // fetches soon, no sooner than its spacing allows.
                self.0.wanted.notify_one();
                return Err(unauthorized(if keys.is_empty() {
                    "the identity provider's keys have not been fetched yet; retry shortly"
                } else {
                    "the token's signing key is not one the identity provider publishes (if it was just rotated in, retry in a few seconds)"
                }));
            }
            Selection::WrongKind => {
                return Err(unauthorized(format!(
                    "the token's key (kid) is not {}, which {:?} needs",
                    kind.describe(),
                    header.alg
                )))
            }
            Selection::Ambiguous => {
                return Err(unauthorized(
                    "the token names no key (kid) and the identity provider publishes several",
                ))
            }
        };
        let validation = match kind {
            KeyKind::Rsa => &self.0.rs256,
            KeyKind::EcP256 => &self.0.es256,
        };
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
            .map_err(|error| refusal(&error, Signer::Provider))?
            .claims;
        let settings = &self.0.settings;
        Ok(Caller {
            tenant_id: mapping::tenant(&claims, &settings.tenant).map_err(unauthorized)?,
            user_id: mapping::user(&claims, &settings.user_claim).map_err(unauthorized)?,
            role: mapping::role(&claims, &settings.role_claim, &settings.role_map)
                .map_err(unauthorized)?,
        })
    }
}

/// Exactly one algorithm per validation: the key's kind was chosen by it.
fn validation(algorithm: Algorithm, settings: &IdpSettings) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.algorithms = vec![algorithm];
    validation.leeway = 5;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation
}

fn jwks_url(raw: &str) -> Result<reqwest::Url, IdpError> {
    let url = reqwest::Url::parse(raw)
        .map_err(|error| IdpError::BadUrl(raw.to_owned(), error.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IdpError::UrlCredentials);
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(IdpError::InsecureUrl(url.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let ok = IdpSettings::new(
            "https://sso.example.com",
            "crm",
            "https://sso.example.com/jwks",
        );
        assert!(ExternalIdp::new(ok.clone()).is_ok());
        for url in [
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/jwks",
        ] {
            let settings = IdpSettings {
                jwks_url: url.into(),
                ..ok.clone()
            };
            assert!(ExternalIdp::new(settings).is_ok(), "{url}");
        }
        let refused = |settings: IdpSettings| ExternalIdp::new(settings).is_err();
        assert!(refused(IdpSettings {
            issuer: " ".into(),
            ..ok.clone()
        }));
        assert!(refused(IdpSettings {
            issuer: ISSUER.into(),
            ..ok.clone()
        }));
        assert!(refused(IdpSettings {
            audience: String::new(),
            ..ok.clone()
        }));
        for url in [
            "sso.example.com/jwks",
            "http://sso.example.com/jwks",
            "ftp://sso.example.com/jwks",
            "https://user:pw@sso.example.com/jwks",
        ] {
            let settings = IdpSettings {
                jwks_url: url.into(),
                ..ok.clone()
            };
            assert!(refused(settings), "{url}");
        }
        assert!(refused(IdpSettings {
            role_claim: String::new(),
            ..ok.clone()
        }));
        assert!(refused(IdpSettings {
            tenant: TenantSource::Claim(String::new()),
            ..ok.clone()
        }));
        assert!(refused(IdpSettings {
            refresh_every: Duration::ZERO,
            ..ok
        }));
    }
}

//! Settings of the external OpenID Connect identity provider whose RS256 and
//! ES256 access tokens `crm serve` accepts besides its own.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use uuid::Uuid;
use web::auth::{ExternalIdp, IdpSettings, RoleMap, TenantSource};

/// External sign-in is on when the issuer, the audience and the JWKS URL are
/// all set; none of these settings may be given without them.
#[derive(Debug, Clone, Default, Args)]
pub struct OidcArgs {
    /// Issuer of the identity provider's access tokens, compared exactly with
    /// their `iss` (e.g. https://sso.example.com/realms/acme).
    #[arg(long, env = "CRM_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The `aud` the provider gives access tokens meant for this service.
    #[arg(long, env = "CRM_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,

    /// Where the provider publishes its signing keys (JWKS); https, or http
    /// to this machine only.
    #[arg(long, env = "CRM_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,

    /// The claim holding the tenant id, a UUID [default: tid]. Dotted names
    /// reach into nested claims when no claim has the whole name.
    #[arg(long, env = "CRM_OIDC_TENANT_CLAIM")]
    pub oidc_tenant_claim: Option<String>,

    /// One tenant for every token of the provider (a provider dedicated to
    /// one company), instead of CRM_OIDC_TENANT_CLAIM.
    #[arg(long, env = "CRM_OIDC_TENANT")]
    pub oidc_tenant: Option<Uuid>,

    /// The claim naming the user; its value must be a valid user id (1–64
    /// characters, one line) [default: sub].
    #[arg(long, env = "CRM_OIDC_USER_CLAIM")]
    pub oidc_user_claim: Option<String>,

    /// The claim holding the provider's role or roles, a string or an array
    /// of strings such as groups (`realm_access.roles` for Keycloak's realm
    /// roles) [default: role].
    #[arg(long, env = "CRM_OIDC_ROLE_CLAIM")]
    pub oidc_role_claim: Option<String>,

    /// Provider values and the CRM roles they grant, `value=role,…` (e.g.
    /// `sales=rep,sales-leads=manager`; `value=none` grants nothing). Values
    /// named rep, manager, admin or auditor grant that role unless mapped.
    /// When several map, the role including all the others wins (admin over
    /// any, manager over rep); an auditor that is also a rep or manager is
    /// refused.
    #[arg(long, env = "CRM_OIDC_ROLE_MAP")]
    pub oidc_role_map: Option<RoleMap>,

    /// How often the provider's keys are fetched again, in seconds (also
    /// soon after a token names an unknown key, at most once per 10 s)
    /// [default: 600].
    #[arg(long, env = "CRM_OIDC_JWKS_REFRESH_SECS",
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub oidc_jwks_refresh_secs: Option<u64>,
}

impl OidcArgs {
    /// The provider, when configured; a partial configuration is an error
    /// rather than silently no external sign-in.
    pub fn identity_provider(&self) -> anyhow::Result<Option<ExternalIdp>> {
        let required = [
            ("CRM_OIDC_ISSUER", &self.oidc_issuer),
            ("CRM_OIDC_AUDIENCE", &self.oidc_audience),
            ("CRM_OIDC_JWKS_URL", &self.oidc_jwks_url),
        ];
        let optional = [
            ("CRM_OIDC_TENANT_CLAIM", self.oidc_tenant_claim.is_some()),
            ("CRM_OIDC_TENANT", self.oidc_tenant.is_some()),
            ("CRM_OIDC_USER_CLAIM", self.oidc_user_claim.is_some()),
            ("CRM_OIDC_ROLE_CLAIM", self.oidc_role_claim.is_some()),
            ("CRM_OIDC_ROLE_MAP", self.oidc_role_map.is_some()),
            (
                "CRM_OIDC_JWKS_REFRESH_SECS",
                self.oidc_jwks_refresh_secs.is_some(),
            ),
        ];
        let missing: Vec<&str> = required
            .iter()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| *name)
            .collect();
        let (Some(issuer), Some(audience), Some(jwks_url)) =
            (&self.oidc_issuer, &self.oidc_audience, &self.oidc_jwks_url)
        else {
            let given: Vec<&str> = optional
                .iter()
                .filter(|(_, set)| *set)
                .map(|(name, _)| *name)
                .collect();
            if missing.len() == required.len() && given.is_empty() {
                return Ok(None);
            }
            anyhow::bail!(
                "external sign-in (OIDC) needs CRM_OIDC_ISSUER, CRM_OIDC_AUDIENCE and \
                 CRM_OIDC_JWKS_URL together; missing: {}",
                missing.join(", ")
            );
        };
        let mut settings = IdpSettings::new(issuer, audience, jwks_url);
        settings.tenant = match (&self.oidc_tenant_claim, self.oidc_tenant) {
            (Some(_), Some(_)) => anyhow::bail!(
                "set CRM_OIDC_TENANT_CLAIM or CRM_OIDC_TENANT, not both: the tenant comes \
                 either from a claim or is fixed"
            ),
            (None, Some(tenant)) => TenantSource::Fixed(tenant),
            (Some(claim), None) => TenantSource::Claim(claim.clone()),
            (None, None) => TenantSource::default(),
        };
        if let Some(claim) = &self.oidc_user_claim {
            settings.user_claim.clone_from(claim);
        }
        if let Some(claim) = &self.oidc_role_claim {
            settings.role_claim.clone_from(claim);
        }
        if let Some(map) = &self.oidc_role_map {
            settings.role_map = map.clone();
        }
        if let Some(seconds) = self.oidc_jwks_refresh_secs {
            settings.refresh_every = Duration::from_secs(seconds);
        }
        ExternalIdp::new(settings)
            .map(Some)
            .context("external sign-in (CRM_OIDC_* settings)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> OidcArgs {
        OidcArgs {
            oidc_issuer: Some("https://sso.example.com/realms/acme".into()),
            oidc_audience: Some("crm-backend".into()),
            oidc_jwks_url: Some("https://sso.example.com/realms/acme/certs".into()),
            ..OidcArgs::default()
        }
    }

    #[test]
    fn nothing_set_is_no_provider_and_all_three_are_one() {
        assert!(OidcArgs::default()
            .identity_provider()
            .expect("valid")
            .is_none());
        let idp = complete().identity_provider().expect("valid").expect("on");
        assert_eq!(idp.settings().tenant, TenantSource::Claim("tid".into()));
        assert_eq!(idp.settings().user_claim, "sub");
        assert_eq!(idp.settings().role_claim, "role");
        assert_eq!(idp.settings().refresh_every, Duration::from_secs(600));
    }

    #[test]
    fn partial_or_contradictory_settings_refuse_to_start() {
        let error = |args: OidcArgs| {
            format!(
                "{:#}",
                args.identity_provider().expect_err("refused to start")
            )
        };
        let no_audience = OidcArgs {
            oidc_audience: None,
            ..complete()
        };
        assert!(error(no_audience).contains("missing: CRM_OIDC_AUDIENCE"));
        let only_map = OidcArgs {
            oidc_role_map: Some("sales=rep".parse().expect("map")),
            ..OidcArgs::default()
        };
        assert!(error(only_map).contains("needs CRM_OIDC_ISSUER"));
        let both_tenants = OidcArgs {
            oidc_tenant_claim: Some("org".into()),
            oidc_tenant: Some(Uuid::new_v4()),
            ..complete()
        };
        assert!(error(both_tenants).contains("not both"));
        let plain_http = OidcArgs {
            oidc_jwks_url: Some("http://sso.example.com/certs".into()),
            ..complete()
        };
        assert!(error(plain_http).contains("https"));
    }

    #[test]
    fn flags_and_variables_parse() {
        use clap::Parser;
        let cli = crate::config::Cli::try_parse_from([
            "crm",
            "serve",
            "--oidc-issuer",
            "https://sso.example.com",
            "--oidc-audience",
            "crm",
            "--oidc-jwks-url",
            "https://sso.example.com/jwks",
            "--oidc-role-map",
            "sales=rep,sales-leads=manager",
            "--oidc-tenant",
            "3f0c0e52-8a4e-4a0e-9a8c-0d8f5d2b6a11",
        ])
        .expect("parses");
        let crate::config::Command::Serve(args) = cli.command else {
            panic!("serve");
        };
        let idp = args.oidc.identity_provider().expect("valid").expect("on");
        assert!(matches!(idp.settings().tenant, TenantSource::Fixed(_)));
        assert!(crate::config::Cli::try_parse_from([
            "crm",
            "serve",
            "--oidc-role-map",
            "sales=boss"
        ])
        .is_err());
    }
}

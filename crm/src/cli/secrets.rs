//! The JWT secret and the master key. Configuration wins; otherwise they are
//! kept in owner-only files of the data folder, so that `crm serve` works on
//! first run and later runs (and `crm token`) agree with it. Also the
//! external identity provider whose keys `crm serve` verifies tokens with
//! besides the secret.

use std::path::Path;

use anyhow::Context;
use events::personal::MasterKey;
use rand::RngCore;
use web::auth::ExternalIdp;
use web::JwtKeys;

use crate::config::{DatabaseArgs, OidcArgs, Secret};

const SECRET_FILE: &str = "jwt_secret";
const MASTER_KEY_FILE: &str = "master_key";

/// The configured secret, else the one kept in the data folder (generated on
/// first `serve`, readable only by its owner).
pub(super) fn jwt_keys(
    configured: Option<&Secret>,
    data_dir: &Path,
    generate: bool,
) -> anyhow::Result<JwtKeys> {
    if let Some(secret) = configured {
        return JwtKeys::from_secret(secret.expose().as_bytes()).context("CRM_JWT_SECRET");
    }
    let path = data_dir.join(SECRET_FILE);
    let secret = kept_secret(data_dir, &path, generate, "CRM_JWT_SECRET")?;
    JwtKeys::from_secret(secret.as_bytes()).with_context(|| format!("secret in {}", path.display()))
}

/// The configured external identity provider, checked before anything
/// starts; `crm serve` verifies its tokens beside the secret's
/// ([`JwtKeys::with_external`]) and keeps its keys current
/// ([`web::auth::ExternalIdp::keep_keys_current`]).
pub(super) fn identity_provider(oidc: &OidcArgs) -> anyhow::Result<Option<ExternalIdp>> {
    let idp = oidc.identity_provider()?;
    if let Some(idp) = &idp {
        let settings = idp.settings();
        tracing::info!(
            issuer = %settings.issuer,
            audience = %settings.audience,
            jwks_url = %settings.jwks_url,
            "accepting the external identity provider's RS256 and ES256 tokens"
        );
    }
    Ok(idp)
}

/// The master key from configuration, else the one kept in the data folder.
pub(super) fn master_key(database: &DatabaseArgs) -> anyhow::Result<MasterKey> {
    let text = match &database.master_key {
        Some(configured) => configured.expose().to_owned(),
        None => kept_secret(
            &database.data_dir,
            &database.data_dir.join(MASTER_KEY_FILE),
            true,
            "CRM_MASTER_KEY",
        )?,
    };
    MasterKey::from_hex(&text).map_err(|error| anyhow::anyhow!("CRM_MASTER_KEY: {error}"))
}

/// A secret kept in a 0600 file of the data folder, generated (32 random
/// bytes, hex) the first time when `generate` is set.
fn kept_secret(
    data_dir: &Path,
    path: &Path,
    generate: bool,
    variable: &str,
) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(secret) => Ok(secret.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && generate => {
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            let secret = hex::encode(bytes);
            write_private(data_dir, path, &secret)?;
            tracing::info!(path = %path.display(), "generated a secret ({variable})");
            Ok(secret)
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "no secret: set {variable}, or run `crm serve` once so it generates {}",
                path.display()
            )
        }),
    }
}

fn write_private(dir: &Path, path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

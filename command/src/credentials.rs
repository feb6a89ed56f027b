//! Passwords: the rule a new one must satisfy, argon2id hashes, and one-time
//! passwords for new users and resets.
//!
//! Hashing is deliberately slow (argon2id with OWASP's recommended
//! parameters: 19 MiB, 2 iterations, 1 lane — the `argon2` crate's
//! defaults), so it runs on tokio's blocking pool behind a semaphore of one
//! permit per two cores (at least one): a burst of sign-ins queues for the
//! hasher instead of taking the cores the other requests need
//! (BENCHMARKS.md, "Sign-in").

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use tokio::sync::Semaphore;

use events::values::InvalidValue;

/// The shortest password accepted (NIST SP 800-63B asks for at least 8).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: argon2 takes any length, but a megabyte password is an attack.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password someone chose, checked against the length rule. Never logged.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let count = raw.chars().count();
        if count < MIN_PASSWORD_CHARS {
            return Err(InvalidValue(format!(
                "password must be at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        if count > MAX_PASSWORD_CHARS {
            return Err(InvalidValue(format!(
                "password must be at most {MAX_PASSWORD_CHARS} characters"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A random one-time password: 16 URL-safe characters (96 bits).
    pub fn one_time() -> Self {
        let mut bytes = [0_u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The password itself, to show once to whoever must pass it on.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

/// An argon2id hash in PHC string form (it names its own parameters and salt).
#[derive(Clone)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

static HASHERS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    Semaphore::new((cores / 2).max(1))
});

impl PasswordHash {
    /// Hashes `password` with a fresh salt.
    pub async fn of(password: &Password) -> Result<Self, HashError> {
        let password = password.0.clone();
        run_hasher(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| Self(hash.to_string()))
                .map_err(|error| HashError(error.to_string()))
        })
        .await?
    }

    /// A stored hash, as read back from `user_credentials`.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `password` matches. A malformed stored hash matches nothing.
    pub async fn verify(&self, password: String) -> Result<bool, HashError> {
        let phc = self.0.clone();
        run_hasher(move || {
            let Ok(parsed) = argon2::password_hash::PasswordHash::new(&phc) else {
                return false;
            };
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .await
    }
}

async fn run_hasher<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashError> {
    let _permit = HASHERS
        .acquire()
        .await
        .map_err(|error| HashError(error.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| HashError(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_has_ten_to_128_characters() {
        assert!(Password::parse("123456789").is_err());
        assert!(Password::parse("1234567890").is_ok());
        assert!(
            Password::parse("密码密码密码密码密码").is_ok(),
            "characters, not bytes"
        );
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn one_time_passwords_are_sixteen_characters_and_differ() {
        let (a, b) = (Password::one_time(), Password::one_time());
        assert_eq!(a.reveal().len(), 16);
        assert_ne!(a.reveal(), b.reveal());
        assert!(Password::parse(a.reveal()).is_ok());
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let password = Password::parse("correct horse battery").expect("password");
        let hash = PasswordHash::of(&password).await.expect("hash");
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hash
            .verify("correct horse battery".into())
            .await
            .expect("verify"));
        assert!(!hash
            .verify("correct horse battery!".into())
            .await
            .expect("verify"));
        let garbage = PasswordHash::from_stored("not a hash".into());
        assert!(!garbage.verify("anything".into()).await.expect("verify"));
    }
}

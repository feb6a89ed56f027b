//! Signing as the Standard Webhooks specification says: the signed content
//! is `{webhook-id}.{webhook-timestamp}.{body}`, the signature the standard
//! base64 of its HMAC-SHA256 under the endpoint's key, sent as `v1,<sig>`;
//! several signatures (during a secret rotation) are separated by spaces.
//! The secret an admin is shown is `whsec_` + base64 of the key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What every secret shown to an admin starts with.
pub const SECRET_PREFIX: &str = "whsec_";
/// Key bytes of a generated secret (the specification asks for 24 to 64).
pub const KEY_BYTES: usize = 32;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// An endpoint's signing key. Debug never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; KEY_BYTES];
        rand::thread_rng().fill_bytes(&mut bytes);
        SigningKey(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        SigningKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `whsec_<base64>`: the form receivers configure.
    pub fn to_secret(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `v1,<base64>` signature of one delivery attempt.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        // HMAC accepts keys of any length: this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per key (the current one
/// first), separated by spaces.
pub fn signature_header(
    keys: &[SigningKey],
    message_id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    keys.iter()
        .map(|key| key.sign(message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (standard-webhooks, "Verifying"):
    /// this pins the signed content's layout and the base64 alphabet.
    #[test]
    fn signs_the_specifications_example() {
        let secret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = SigningKey::from_bytes(STANDARD.decode(secret).expect("base64"));
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_every_key() {
        let (new, old) = (SigningKey::generate(), SigningKey::generate());
        let header = signature_header(&[new.clone(), old.clone()], "id", 1, "{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts, [new.sign("id", 1, "{}"), old.sign("id", 1, "{}")]);
        assert!(new.to_secret().starts_with("whsec_"));
        assert_eq!(
            STANDARD
                .decode(new.to_secret().trim_start_matches(SECRET_PREFIX))
                .expect("base64")
                .len(),
            KEY_BYTES
        );
        assert!(!format!("{new:?}").contains(&new.to_secret()[6..]));
    }
}

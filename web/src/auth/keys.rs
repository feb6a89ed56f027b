//! The identity provider's published keys (its JWKS), reduced to those that
//! can check an RS256 or ES256 signature, and how a token's header picks one.

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// The kinds of key the external path verifies with: exactly one per
/// algorithm it admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    /// An RSA key, for RS256.
    Rsa,
    /// An EC key on P-256, for ES256.
    EcP256,
}

impl KeyKind {
    pub(super) fn for_algorithm(algorithm: Algorithm) -> Option<Self> {
        match algorithm {
            Algorithm::RS256 => Some(KeyKind::Rsa),
            Algorithm::ES256 => Some(KeyKind::EcP256),
            _ => None,
        }
    }

    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            KeyKind::Rsa => KeyAlgorithm::RS256,
            KeyKind::EcP256 => KeyAlgorithm::ES256,
        }
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            KeyKind::Rsa => "an RSA key",
            KeyKind::EcP256 => "an EC P-256 key",
        }
    }
}

#[derive(Clone)]
struct VerifyingKey {
    kid: Option<String>,
    kind: KeyKind,
    key: DecodingKey,
}

/// The usable keys of one JWKS document.
#[derive(Clone, Default)]
pub(super) struct KeySet {
    keys: Vec<VerifyingKey>,
}

/// What a token's header finds in a [`KeySet`].
pub(super) enum Selection<'a> {
    Found(&'a DecodingKey),
    /// No key of that id (or, without an id, none of the kind): perhaps one
    /// rotated in since the set was fetched.
    Unknown,
    /// The named key is of another kind than the header's algorithm needs.
    WrongKind,
    /// No id, and several keys of the kind.
    Ambiguous,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Reads a JWKS document. Keys that cannot check an RS256 or ES256
    /// signature are left out with the reason why: encryption keys, other
    /// curves and algorithms, and above all symmetric (`oct`) keys, which
    /// would let whoever can read the set forge tokens.
    pub(super) fn parse(body: &[u8]) -> Result<(KeySet, Vec<String>), serde_json::Error> {
        let document: Document = serde_json::from_slice(body)?;
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, raw) in document.keys.into_iter().enumerate() {
            let kid = raw.get("kid").and_then(|kid| kid.as_str()).unwrap_or("");
            match usable(&raw) {
                Ok(key) => keys.push(key),
                Err(reason) => skipped.push(format!("key {index} (kid {kid:?}): {reason}")),
            }
        }
        Ok((KeySet { keys }, skipped))
    }

    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key a token with this `kid` and algorithm kind is checked with.
    pub(super) fn select(&self, kid: Option<&str>, kind: KeyKind) -> Selection<'_> {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|key| key.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Selection::Unknown;
                }
                named
                    .find(|key| key.kind == kind)
                    .map_or(Selection::WrongKind, |key| Selection::Found(&key.key))
            }
            None => {
                let mut of_kind = self.keys.iter().filter(|key| key.kind == kind);
                match (of_kind.next(), of_kind.next()) {
                    (Some(key), None) => Selection::Found(&key.key),
                    (None, _) => Selection::Unknown,
                    (Some(_), Some(_)) => Selection::Ambiguous,
                }
            }
        }
    }
}

fn usable(raw: &serde_json::Value) -> Result<VerifyingKey, String> {
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|error| error.to_string())?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err("not a signature key (use)".to_owned()),
    }
    if let Some(operations) = &jwk.common.key_operations {
        if !operations.contains(&KeyOperations::Verify) {
            return Err("not for verifying (key_ops)".to_owned());
        }
    }
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => {
            KeyKind::EcP256
        }
        AlgorithmParameters::EllipticCurve(_) => return Err("an EC curve other than P-256".into()),
        AlgorithmParameters::OctetKey(_) => return Err("a symmetric key, never trusted".into()),
        AlgorithmParameters::OctetKeyPair(_) => return Err("an OKP key (EdDSA)".into()),
    };
    // A key bound to another algorithm (PS256 on an RSA key) is not one a
    // token may use with RS256 or ES256.
    if let Some(algorithm) = &jwk.common.key_algorithm {
        if *algorithm != kind.key_algorithm() {
            return Err(format!("bound to {algorithm:?}"));
        }
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|error| error.to_string())?;
    Ok(VerifyingKey {
        kid: jwk.common.key_id,
        kind,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crm/tests/fixtures/oidc/jwks.json"
    ));

    fn fixture_key(kid: &str) -> serde_json::Value {
        let document: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture");
        document["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|key| key["kid"] == kid))
            .cloned()
            .expect("fixture key")
    }

    fn set(keys: Vec<serde_json::Value>) -> (KeySet, Vec<String>) {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).expect("parse")
    }

    #[test]
    fn only_signature_keys_for_rs256_and_es256_are_kept() {
        let rsa = fixture_key("rsa-1");
        let ec = fixture_key("ec-1");
        let with = |mut key: serde_json::Value, field: &str, value: serde_json::Value| {
            key[field] = value;
            key
        };
        let (keys, skipped) = set(vec![
            rsa.clone(),
            ec.clone(),
            json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
            with(rsa.clone(), "use", json!("enc")),
            with(rsa.clone(), "alg", json!("PS256")),
            with(rsa.clone(), "key_ops", json!(["encrypt"])),
            with(ec.clone(), "alg", json!("RS256")),
            json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"}),
            json!({"kty": "RSA", "kid": "broken"}),
            json!({"kty": "unknown"}),
        ]);
        assert_eq!(keys.len(), 2, "{skipped:?}");
        assert_eq!(skipped.len(), 9, "{skipped:?}");
    }

    #[test]
    fn a_kid_picks_its_key_of_the_right_kind() {
        let (keys, _) = set(vec![fixture_key("rsa-1"), fixture_key("ec-1")]);
        assert!(matches!(
            keys.select(Some("rsa-1"), KeyKind::Rsa),
            Selection::Found(_)
        ));
        assert!(matches!(
            keys.select(Some("ec-1"), KeyKind::EcP256),
            Selection::Found(_)
        ));
        assert!(matches!(
            keys.select(Some("ec-1"), KeyKind::Rsa),
            Selection::WrongKind
        ));
        assert!(matches!(
            keys.select(Some("rsa-9"), KeyKind::Rsa),
            Selection::Unknown
        ));
        // Without a kid: the one key of the kind, if there is exactly one.
        assert!(matches!(
            keys.select(None, KeyKind::Rsa),
            Selection::Found(_)
        ));
        let mut second = fixture_key("rsa-1");
        second["kid"] = json!("rsa-2");
        let (two, _) = set(vec![fixture_key("rsa-1"), second]);
        assert!(matches!(
            two.select(None, KeyKind::Rsa),
            Selection::Ambiguous
        ));
        assert!(matches!(
            two.select(None, KeyKind::EcP256),
            Selection::Unknown
        ));
    }
}

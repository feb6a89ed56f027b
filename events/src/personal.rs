//! Personal data (names, phones, e-mails, free-text notes) inside events.
//!
//! In the process a field is `Clear`; before an event is stored the command
//! service seals it with the customer's data key (AES-256-GCM), so the log
//! only ever holds ciphertext. Destroying the key erases the data everywhere
//! (crypto-shredding) without rewriting the append-only log or its hash chain.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

/// What read models and audit views show for personal data whose key is gone.
pub const ERASED: &str = "[已删除]";
/// What stands in for a personal field in the analysts' stream while the
/// customer's key exists: analysts never receive personal data in clear.
pub const WITHHELD: &str = "[personal data withheld]";
/// What every sealed value starts with.
pub const SEALED_PREFIX: &str = "sealed:v1:";
const NONCE_BYTES: usize = 12;

/// Ciphertext of one personal field: `sealed:v1:` + base64(nonce ‖ ciphertext ‖ tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sealed(String);

impl Sealed {
    pub fn is_sealed(text: &str) -> bool {
        text.starts_with(SEALED_PREFIX)
    }
}

impl TryFrom<String> for Sealed {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if Sealed::is_sealed(&value) {
            Ok(Sealed(value))
        } else {
            Err("not a sealed value".to_owned())
        }
    }
}

impl From<Sealed> for String {
    fn from(value: Sealed) -> String {
        value.0
    }
}

/// A personal field: sealed in the store, clear in the process that holds the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Personal<T> {
    Sealed(Sealed),
    Clear(T),
}

impl<T> Personal<T>
where
    T: Clone + Into<String> + TryFrom<String>,
{
    /// Seals a clear value with `key` (bound to `customer`); sealed values stay as they are.
    pub fn seal(&mut self, key: &DataKey, customer: Uuid) {
        if let Personal::Clear(value) = self {
            *self = Personal::Sealed(key.seal(&value.clone().into(), customer));
        }
    }

    /// The clear text, opening a sealed value with `key`; `None` when the key
    /// is gone (erased) or does not open it.
    pub fn reveal(&self, key: Option<&DataKey>, customer: Uuid) -> Option<String> {
        match self {
            Personal::Clear(value) => Some(value.clone().into()),
            Personal::Sealed(sealed) => key.and_then(|key| key.open(sealed, customer)),
        }
    }
}

/// A personal text field as a read model stores it (a sealed value, or a
/// clear one stored before sealing), in clear with `key`; `None` once the
/// key is destroyed.
pub fn reveal_stored(stored: &str, key: Option<&DataKey>, customer: Uuid) -> Option<String> {
    match Sealed::try_from(stored.to_owned()) {
        Ok(sealed) => key.and_then(|key| key.open(&sealed, customer)),
        Err(_) => Some(stored.to_owned()),
    }
}

/// A customer's 256-bit data key.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

fn encrypt(key: &[u8; 32], plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce: [u8; NONCE_BYTES] = random();
    let mut out = nonce.to_vec();
    // Encryption with a valid key and nonce length cannot fail.
    out.extend(
        cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .unwrap_or_default(),
    );
    out
}

fn decrypt(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_BYTES {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

impl DataKey {
    pub fn generate() -> Self {
        DataKey(random())
    }

    /// Seals `plain` for `customer` (the id is authenticated: a ciphertext
    /// copied into another customer's stream does not open).
    pub fn seal(&self, plain: &str, customer: Uuid) -> Sealed {
        let bytes = encrypt(&self.0, plain.as_bytes(), customer.as_bytes());
        Sealed(format!("{SEALED_PREFIX}{}", STANDARD.encode(bytes)))
    }

    pub fn open(&self, sealed: &Sealed, customer: Uuid) -> Option<String> {
        let encoded = sealed.0.strip_prefix(SEALED_PREFIX)?;
        let bytes = STANDARD.decode(encoded).ok()?;
        let plain = decrypt(&self.0, &bytes, customer.as_bytes())?;
        // Authenticated, so written by this service; should another writer
        // have sealed bytes that are not UTF-8, they read as U+FFFD rather
        // than as erased.
        Some(String::from_utf8_lossy(&plain).into_owned())
    }

    /// Opens every sealed string inside a JSON value (audit and timeline views);
    /// without a key they read as [`ERASED`].
    pub fn reveal_json(key: Option<&DataKey>, customer: Uuid, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) if Sealed::is_sealed(text) => {
                let opened = key.and_then(|key| key.open(&Sealed(text.clone()), customer));
                *text = opened.unwrap_or_else(|| ERASED.to_owned());
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    DataKey::reveal_json(key, customer, item);
                }
            }
            serde_json::Value::Object(fields) => {
                for field in fields.values_mut() {
                    DataKey::reveal_json(key, customer, field);
                }
            }
            _ => {}
        }
    }
}

/// The key that wraps every data key, from configuration.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// From 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the master key must be 64 hexadecimal characters (32 bytes)".to_owned());
        }
        let mut key = [0u8; 32];
        for (index, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16)
                .map_err(|_| "the master key must be hexadecimal".to_owned())?;
        }
        Ok(MasterKey(key))
    }

    pub fn generate_hex() -> String {
        random::<32>()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    pub fn wrap(&self, key: &DataKey, customer: Uuid) -> Vec<u8> {
        encrypt(&self.0, &key.0, customer.as_bytes())
    }

    pub fn unwrap_key(&self, wrapped: &[u8], customer: Uuid) -> Option<DataKey> {
        let bytes = decrypt(&self.0, wrapped, customer.as_bytes())?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(DataKey)
    }

    /// Seals a service secret (a webhook endpoint's signing key) for storage,
    /// bound to `purpose` and `owner`: a sealed secret copied to another row,
    /// or passed off as a wrapped data key, does not open.
    pub fn seal_secret(&self, secret: &[u8], purpose: &str, owner: Uuid) -> Vec<u8> {
        encrypt(&self.0, secret, &secret_aad(purpose, owner))
    }

    /// The secret [`MasterKey::seal_secret`] sealed; `None` with another
    /// master key, purpose or owner.
    pub fn open_secret(&self, sealed: &[u8], purpose: &str, owner: Uuid) -> Option<Vec<u8>> {
        decrypt(&self.0, sealed, &secret_aad(purpose, owner))
    }
}

fn secret_aad(purpose: &str, owner: Uuid) -> Vec<u8> {
    let mut aad = format!("secret:{purpose}:").into_bytes();
    aad.extend_from_slice(owner.as_bytes());
    aad
}

/// The wire form of a [`Personal`] field in an envelope's `data`: it never
/// travels in clear; on Kafka it is the stored ciphertext, on the HTTP stream
/// a marker. (The payload structs point their personal fields here with
/// `#[schema(value_type = PersonalField)]`.)
pub enum PersonalField {}

impl PartialSchema for PersonalField {
    fn schema() -> RefOr<Schema> {
        let marker = |value: &str, description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
                .enum_values(Some([value]))
        };
        OneOfBuilder::new()
            .description(Some(
                "A personal field (name, phone, e-mail, activity notes). Never in clear: sealed \
                 on the Kafka topic, a marker on the HTTP stream.",
            ))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(
                        "Sealed (Kafka): AES-256-GCM with the customer's data key, bound to the \
                         customer id; `sealed:v1:` + base64(nonce ‖ ciphertext ‖ tag). Reads as \
                         erased once the key is destroyed.",
                    ))
                    .pattern(Some(format!("^{SEALED_PREFIX}[A-Za-z0-9+/]+={{0,2}}$"))),
            )
            .item(marker(
                WITHHELD,
                "Withheld (HTTP stream) while the customer's key exists.",
            ))
            .item(marker(
                ERASED,
                "Erased (HTTP stream): the customer was forgotten and its key destroyed.",
            ))
            .into()
    }
}
impl ToSchema for PersonalField {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::CustomerName;

    #[test]
    fn sealed_fields_open_only_with_their_key_and_customer() {
        let key = DataKey::generate();
        let customer = Uuid::new_v4();
        let mut name = Personal::Clear(CustomerName::parse("张三").expect("name"));
        name.seal(&key, customer);
        let json = serde_json::to_string(&name).expect("json");
        assert!(json.contains("sealed:v1:") && !json.contains("张三"));
        let back: Personal<CustomerName> = serde_json::from_str(&json).expect("parse");
        assert_eq!(back.reveal(Some(&key), customer).as_deref(), Some("张三"));
        assert_eq!(back.reveal(Some(&DataKey::generate()), customer), None);
        assert_eq!(
            back.reveal(Some(&key), Uuid::new_v4()),
            None,
            "bound to the customer"
        );
        assert_eq!(back.reveal(None, customer), None);
        let clear: Personal<CustomerName> = serde_json::from_str("\"李四\"").expect("clear");
        assert_eq!(clear.reveal(None, customer).as_deref(), Some("李四"));
    }

    #[test]
    fn sealed_bytes_that_are_not_utf8_open_lossily() {
        let key = DataKey::generate();
        let customer = Uuid::new_v4();
        let bytes = encrypt(&key.0, b"a\xffb", customer.as_bytes());
        let sealed = Sealed(format!("{SEALED_PREFIX}{}", STANDARD.encode(bytes)));
        assert_eq!(key.open(&sealed, customer).as_deref(), Some("a\u{fffd}b"));
    }

    #[test]
    fn data_keys_are_wrapped_by_the_master_key() {
        let master = MasterKey::from_hex(&MasterKey::generate_hex()).expect("master");
        let customer = Uuid::new_v4();
        let key = DataKey::generate();
        let wrapped = master.wrap(&key, customer);
        let unwrapped = master.unwrap_key(&wrapped, customer).expect("unwrap");
        let sealed = key.seal("13800138000", customer);
        assert_eq!(
            unwrapped.open(&sealed, customer).as_deref(),
            Some("13800138000")
        );
        assert!(master.unwrap_key(&wrapped, Uuid::new_v4()).is_none());
        assert!(MasterKey::from_hex("short").is_err());
    }

    #[test]
    fn sealed_secrets_open_only_for_their_purpose_and_owner() {
        let master = MasterKey::from_hex(&MasterKey::generate_hex()).expect("master");
        let owner = Uuid::new_v4();
        let sealed = master.seal_secret(b"signing key", "webhook", owner);
        assert_eq!(
            master.open_secret(&sealed, "webhook", owner).as_deref(),
            Some(&b"signing key"[..])
        );
        assert!(master
            .open_secret(&sealed, "webhook", Uuid::new_v4())
            .is_none());
        assert!(master.open_secret(&sealed, "other", owner).is_none());
        assert!(master.unwrap_key(&sealed, owner).is_none());
        let other = MasterKey::from_hex(&MasterKey::generate_hex()).expect("master");
        assert!(other.open_secret(&sealed, "webhook", owner).is_none());
    }

    #[test]
    fn json_views_reveal_or_erase() {
        let key = DataKey::generate();
        let customer = Uuid::new_v4();
        let sealed = String::from(key.seal("王五", customer));
        let mut view = serde_json::json!({"name": sealed, "stage": "lead", "nested": [sealed]});
        let mut erased = view.clone();
        DataKey::reveal_json(Some(&key), customer, &mut view);
        assert_eq!(
            view,
            serde_json::json!({"name": "王五", "stage": "lead", "nested": ["王五"]})
        );
        DataKey::reveal_json(None, customer, &mut erased);
        assert_eq!(erased["name"], ERASED);
        assert_eq!(erased["stage"], "lead");
    }
}

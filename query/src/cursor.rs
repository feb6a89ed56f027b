//! Opaque keyset cursors: the last row's sort key and id, hex-encoded JSON.

use serde::de::DeserializeOwned;
use serde::Serialize;
use web::ApiError;

pub fn encode<T: Serialize>(key: &T) -> String {
    hex::encode(serde_json::to_vec(key).unwrap_or_default())
}

pub fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    hex::decode(raw.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "cursor is not one this API returned (or belongs to another sort)".to_owned(),
            )
        })
}

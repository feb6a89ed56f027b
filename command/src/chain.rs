//! The per-stream SHA-256 hash chain, recomputed in Rust.
//!
//! The canonical form (version 1) is defined once in SQL by
//! `event_canonical_form` (schema/0001_event_store.sql), which the insert
//! trigger hashes; [`canonical_form`] must produce the same bytes. A test
//! compares both on stored events.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// One stored event as the chain sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChainedEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub event_id: uuid::Uuid,
    pub recorded_at: DateTime<Utc>,
    /// The stored JSON text, byte for byte.
    pub payload: String,
    pub metadata: String,
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Vec<u8>,
}

/// Where a stream's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub sequence: i64,
    pub reason: String,
}

/// The text whose SHA-256 is an event's hash, given the previous event's hash.
pub fn canonical_form(event: &ChainedEvent, prev_hash: &[u8]) -> String {
    [
        "crm-event-v1".to_owned(),
        hex::encode(prev_hash),
        event.aggregate_type.clone(),
        event.aggregate_id.clone(),
        event.sequence.to_string(),
        event.event_type.clone(),
        event.event_version.clone(),
        event.event_id.hyphenated().to_string(),
        event.recorded_at.timestamp_micros().to_string(),
        event.payload.clone(),
        event.metadata.clone(),
    ]
    .join("\n")
}

pub fn hash_of(event: &ChainedEvent, prev_hash: &[u8]) -> [u8; 32] {
    Sha256::digest(canonical_form(event, prev_hash).as_bytes()).into()
}

/// Checks a stream's events, in sequence order, against their stored hashes.
pub fn verify_stream(events: &[ChainedEvent]) -> Result<(), ChainBreak> {
    let mut previous: Vec<u8> = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let expected_sequence = i64::try_from(index).unwrap_or(i64::MAX) + 1;
        let broken = |reason: String| ChainBreak {
            sequence: event.sequence,
            reason,
        };
        if event.sequence != expected_sequence {
            return Err(broken(format!(
                "expected sequence {expected_sequence}, found {}",
                event.sequence
            )));
        }
        let stored_prev = event.prev_hash.clone().unwrap_or_default();
        if stored_prev != previous {
            return Err(broken(
                "prev_hash does not match the previous event's hash".to_owned(),
            ));
        }
        if hash_of(event, &previous)[..] != event.hash[..] {
            return Err(broken(
                "hash does not match the event's content (payload, metadata or header changed)"
                    .to_owned(),
            ));
        }
        previous.clone_from(&event.hash);
    }
    Ok(())
}

/// Loads one stream in sequence order, with the JSON as stored text.
pub async fn load_stream(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<ChainedEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, event_id,
                recorded_at, payload::text AS payload, metadata::text AS metadata, prev_hash, hash
           FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2
          ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_all(pool)
    .await
}

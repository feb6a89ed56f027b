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
    let mut verifier = ChainVerifier::default();
    for event in events {
        verifier.check(event);
    }
    match verifier.breaks.into_iter().next() {
        Some((_, broken)) => Err(broken),
        None => Ok(()),
    }
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

/// Verifies many streams from events in any interleaving that keeps each
/// stream's sequence order (e.g. global position order): remembers only each
/// stream's last sequence and hash.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    streams: std::collections::HashMap<(String, String), (i64, Vec<u8>)>,
    events: u64,
    breaks: Vec<(String, ChainBreak)>,
}

impl ChainVerifier {
    pub fn check(&mut self, event: &ChainedEvent) {
        self.events += 1;
        let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
        let (last_sequence, previous) = self.streams.get(&key).cloned().unwrap_or((0, Vec::new()));
        if last_sequence < 0 {
            return; // already broken: report only the first break of a stream
        }
        let reason = if event.sequence != last_sequence + 1 {
            Some(format!(
                "expected sequence {}, found {}",
                last_sequence + 1,
                event.sequence
            ))
        } else if event.prev_hash.clone().unwrap_or_default() != previous {
            Some("prev_hash does not match the previous event's hash".to_owned())
        } else if hash_of(event, &previous)[..] != event.hash[..] {
            Some(
                "hash does not match the event's content (payload, metadata or header changed)"
                    .to_owned(),
            )
        } else {
            None
        };
        match reason {
            Some(reason) => {
                self.breaks.push((
                    event.aggregate_id.clone(),
                    ChainBreak {
                        sequence: event.sequence,
                        reason,
                    },
                ));
                self.streams.insert(key, (-1, Vec::new()));
            }
            None => {
                self.streams
                    .insert(key, (event.sequence, event.hash.clone()));
            }
        }
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    /// The first break of each broken stream: (aggregate id, break).
    pub fn breaks(&self) -> &[(String, ChainBreak)] {
        &self.breaks
    }
}

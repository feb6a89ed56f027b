//! Loading and appending any aggregate's stream inside the caller's
//! transaction.
//!
//! The Customer aggregate goes through cqrs-es, which opens its own
//! transaction. The directory's aggregates (users, teams) come here instead:
//! their read model is updated in the same transaction as the append (see
//! docs/design.md, "People"), so a login is taken, a role changed or a user
//! deactivated at the instant the event commits. Both paths write the same
//! rows: the `events_chain` trigger fills tenant, instants and the hash chain.

use std::collections::HashMap;

use cqrs_es::DomainEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::PgConnection;

/// Why a stream could not be appended to.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer appended to the stream first.
    #[error("the stream was changed concurrently")]
    Conflict,
    #[error("an event could not be serialised: {0}")]
    Serialise(#[from] serde_json::Error),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for AppendError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                AppendError::Conflict
            }
            _ => AppendError::Database(error),
        }
    }
}

/// Why a stream could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("stored event {aggregate_type}/{aggregate_id}#{sequence} does not decode: {source}")]
    Undecodable {
        aggregate_type: String,
        aggregate_id: String,
        sequence: i64,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Every event of one stream, in order.
pub async fn load<E: DeserializeOwned>(
    conn: &mut PgConnection,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<E>, LoadError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT sequence, payload::text FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2
          ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(sequence, payload)| {
            serde_json::from_str(&payload).map_err(|source| LoadError::Undecodable {
                aggregate_type: aggregate_type.to_owned(),
                aggregate_id: aggregate_id.to_owned(),
                sequence,
                source,
            })
        })
        .collect()
}

/// Appends `events` after `version` (the number of events the caller folded)
/// and answers the global position of the last one. The metadata must carry
/// `tenant_id` (the trigger refuses events without one).
pub async fn append<E: DomainEvent + Serialize>(
    conn: &mut PgConnection,
    aggregate_type: &str,
    aggregate_id: &str,
    version: u64,
    events: &[E],
    metadata: &HashMap<String, String>,
) -> Result<Option<i64>, AppendError> {
    let metadata = serde_json::to_string(metadata)?;
    let mut last = None;
    for (offset, event) in (1_i64..).zip(events) {
        let sequence = i64::try_from(version)
            .unwrap_or(i64::MAX)
            .saturating_add(offset);
        let payload = serde_json::to_string(event)?;
        let position: i64 = sqlx::query_scalar(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata)
             VALUES ($1, $2, $3, $4, $5, $6::json, $7::json)
             RETURNING global_position",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(sequence)
        .bind(event.event_type())
        .bind(event.event_version())
        .bind(payload)
        .bind(&metadata)
        .fetch_one(&mut *conn)
        .await?;
        last = Some(position);
    }
    Ok(last)
}

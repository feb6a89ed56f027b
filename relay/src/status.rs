//! What the operations endpoints show of the relay: its checkpoint and lag,
//! read from PostgreSQL (no running relay needed), and the last failure a
//! running relay saw ([`RelayHealth`]).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use store::source::{self, Checkpoint};

/// The relay's place in the log and what it has not sent yet.
#[derive(Debug, Clone, Serialize)]
pub struct RelayStatus {
    pub topic: String,
    pub checkpoint: Checkpoint,
    pub events_relayed: i64,
    pub updated_at: Option<DateTime<Utc>>,
    pub lag_events: i64,
    pub lag_seconds: f64,
    /// The last failure, until a batch succeeds again.
    pub last_error: Option<String>,
}

/// What a running relay last saw, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct RelayHealth(Arc<Mutex<Option<String>>>);

impl RelayHealth {
    pub fn last_error(&self) -> Option<String> {
        self.0.lock().map(|error| error.clone()).unwrap_or(None)
    }

    pub(crate) fn set(&self, error: Option<String>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = error;
        }
    }
}

/// The relay's checkpoint and lag for `topic` (no running relay needed).
pub async fn status(
    pool: &PgPool,
    topic: &str,
    health: Option<&RelayHealth>,
) -> Result<RelayStatus, sqlx::Error> {
    let row: Option<(String, i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT tx::text, position, events, updated_at FROM relay_checkpoints WHERE topic = $1",
    )
    .bind(topic)
    .fetch_optional(pool)
    .await?;
    let (checkpoint, events_relayed, updated_at) = match row {
        Some((tx, position, events, updated_at)) => (
            Checkpoint {
                tx: tx.parse().unwrap_or(0),
                position,
            },
            events,
            Some(updated_at),
        ),
        None => (Checkpoint::default(), 0, None),
    };
    let (lag_events, lag_seconds) =
        source::lag(pool, checkpoint, source::Reads::Everything).await?;
    Ok(RelayStatus {
        topic: topic.to_owned(),
        checkpoint,
        events_relayed,
        updated_at,
        lag_events,
        lag_seconds,
        last_error: health.and_then(RelayHealth::last_error),
    })
}

//! What the operations endpoints show of the relay: its checkpoint and lag,
//! read from PostgreSQL (no running relay needed), and what a running relay
//! of this process reports ([`RelayHealth`]): whether it leads or stands by,
//! how many events it published, the last failure it saw.

use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Whether this process's relay holds the lease (`None`: no relay runs here).
    pub role: Option<RelayRole>,
    /// Events this process's relay handed to the producer since it started.
    pub published_here: u64,
}

/// Whether a running relay publishes: of several instances on one database
/// only the holder of the lease does (`crate::lease`); the others stand by,
/// healthy, and take over when it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayRole {
    Leader,
    /// Not holding the lease (also before the first try).
    #[default]
    Standby,
}

impl RelayRole {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayRole::Leader => "leader",
            RelayRole::Standby => "standby",
        }
    }
}

/// What a running relay last saw, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct RelayHealth {
    seen: Arc<Mutex<Seen>>,
    pub(crate) published: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct Seen {
    last_error: Option<String>,
    role: RelayRole,
}

impl RelayHealth {
    pub fn last_error(&self) -> Option<String> {
        self.seen
            .lock()
            .map(|seen| seen.last_error.clone())
            .unwrap_or(None)
    }

    pub fn role(&self) -> RelayRole {
        self.seen.lock().map(|seen| seen.role).unwrap_or_default()
    }

    /// Events handed to the producer by this process's relay.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, error: Option<String>) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.last_error = error;
        }
    }

    /// A standby relays nothing, so it has no failure to report either.
    pub(crate) fn set_role(&self, role: RelayRole) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.role = role;
            if role == RelayRole::Standby {
                seen.last_error = None;
            }
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
        role: health.map(RelayHealth::role),
        published_here: health.map_or(0, RelayHealth::published),
    })
}

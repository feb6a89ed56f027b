//! Reading the event store in commit-safe order.
//!
//! `global_position` is handed out when a row is inserted, not when its
//! transaction commits, so a reader that only remembers the highest position
//! it saw skips rows of a transaction that commits later with a lower number.
//! Readers here take only rows whose transaction is older than every
//! transaction still running (`tx < pg_snapshot_xmin(pg_current_snapshot())`),
//! in `(tx, global_position)` order, and remember that pair.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use events::CustomerEvent;

/// A reader's place in the log: the last `(tx, global_position)` it applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tx: u64,
    pub position: i64,
}

/// One event with what projections need from its row.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub checkpoint: Checkpoint,
    pub event_id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub sequence: i64,
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub event: CustomerEvent,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("event at position {position} cannot be read: {reason}")]
    Undecodable { position: i64, reason: String },
}

/// The columns `read_batch` selects, in order (other readers select the same).
pub type Row = (
    String,
    i64,
    Uuid,
    Uuid,
    String,
    i64,
    String,
    String,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// The next committed events after `after`, at most `limit`.
///
/// The ORDER BY names `events.tx`: a bare `tx` would mean the output column
/// `tx::text`, sorting transaction ids as text ("1000" before "999") — out of
/// commit order, and unable to use the `(tx, global_position)` index.
pub async fn read_batch(
    conn: &mut PgConnection,
    after: Checkpoint,
    limit: i64,
) -> Result<Vec<StoredEvent>, SourceError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT tx::text, global_position, event_id, tenant_id, aggregate_id, sequence,
                event_version, payload::text, metadata ->> 'actor', occurred_at, recorded_at
           FROM events
          WHERE aggregate_type = 'Customer'
            AND (tx, global_position) > ($1::text::xid8, $2)
            AND tx < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY events.tx, events.global_position
          LIMIT $3",
    )
    .bind(after.tx.to_string())
    .bind(after.position)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(decode).collect()
}

/// Committed events after `after` (readers' lag): how many, and the age in
/// seconds of the oldest.
pub async fn lag(pool: &PgPool, after: Checkpoint) -> Result<(i64, f64), sqlx::Error> {
    let (events, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*), min(recorded_at) FROM events
          WHERE (tx, global_position) > ($1::text::xid8, $2)
            AND tx < pg_snapshot_xmin(pg_current_snapshot())",
    )
    .bind(after.tx.to_string())
    .bind(after.position)
    .fetch_one(pool)
    .await?;
    let seconds = oldest
        .map(|oldest| (Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Ok((events, seconds))
}

/// Wakes a reader when events are appended (LISTEN on the store's NOTIFY
/// channel), with a polling fallback when the channel is unavailable.
pub struct Wakeup {
    listener: Option<PgListener>,
}

impl Wakeup {
    pub async fn connect(pool: &PgPool) -> Self {
        let listener = match PgListener::connect_with(pool).await {
            Ok(mut listener) => match listener.listen("crm_events").await {
                Ok(()) => Some(listener),
                Err(error) => {
                    tracing::warn!(%error, "LISTEN failed; polling instead");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%error, "no LISTEN connection; polling instead");
                None
            }
        };
        Wakeup { listener }
    }

    /// Returns after `pause`, on a notification, or when `shutdown` changes.
    /// Notifications that queued up meanwhile are consumed with it: at
    /// hundreds of commits a second, one pass over the log serves them all
    /// instead of one pass (and one checkpoint commit) each.
    pub async fn wait(
        &mut self,
        pause: Duration,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) {
        tokio::select! {
            _ = shutdown.changed() => {}
            () = tokio::time::sleep(pause) => {}
            notification = async {
                match self.listener.as_mut() {
                    Some(listener) => listener.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            } => {
                if let Err(error) = notification {
                    tracing::warn!(%error, "notification channel failed; polling until it reconnects");
                }
            }
        }
        if let Some(listener) = self.listener.as_mut() {
            while listener.next_buffered().is_some() {}
        }
    }
}

/// The current snapshot's xmin: every transaction below it has finished.
pub async fn horizon(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let xmin: String = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        .fetch_one(conn)
        .await?;
    Ok(xmin.parse().unwrap_or(0))
}

/// Events of transactions below `horizon`, stream by stream (`aggregate_id`,
/// `sequence`) after the stream position `after`: the order a rebuild from
/// zero can use, since every stream folds independently and each read-model
/// row is then written once.
pub async fn read_streams_below(
    conn: &mut PgConnection,
    horizon: u64,
    after: (&str, i64),
    limit: i64,
) -> Result<Vec<StoredEvent>, SourceError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT tx::text, global_position, event_id, tenant_id, aggregate_id, sequence,
                event_version, payload::text, metadata ->> 'actor', occurred_at, recorded_at
           FROM events
          WHERE aggregate_type = 'Customer'
            AND (aggregate_id, sequence) > ($2, $3)
            AND tx < $1::text::xid8
          ORDER BY aggregate_id, sequence
          LIMIT $4",
    )
    .bind(horizon.to_string())
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(decode).collect()
}

/// Turns a selected row into an event, refusing unknown versions.
pub fn decode(row: Row) -> Result<StoredEvent, SourceError> {
    let (
        tx,
        position,
        event_id,
        tenant_id,
        aggregate_id,
        sequence,
        version,
        payload,
        actor,
        occurred_at,
        recorded_at,
    ) = row;
    let undecodable = |reason: String| SourceError::Undecodable { position, reason };
    if version != events::customer::V1 {
        return Err(undecodable(format!("unknown event version {version}")));
    }
    let event: CustomerEvent =
        serde_json::from_str(&payload).map_err(|error| undecodable(error.to_string()))?;
    Ok(StoredEvent {
        checkpoint: Checkpoint {
            tx: tx
                .parse()
                .map_err(|_| undecodable(format!("bad tx {tx}")))?,
            position,
        },
        event_id,
        tenant_id,
        customer_id: Uuid::parse_str(&aggregate_id)
            .map_err(|_| undecodable(format!("aggregate id {aggregate_id} is not a UUID")))?,
        sequence,
        actor: actor.unwrap_or_default(),
        occurred_at,
        recorded_at,
        event,
    })
}

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
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
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

/// A row of the log that does not decode into an event this version knows
/// (an unknown event version, a payload that no longer parses). Readers
/// dead-letter it and go on: decoding it again would fail the same way.
#[derive(Debug, Clone, thiserror::Error)]
#[error("event at position {} cannot be read: {reason}", .checkpoint.position)]
pub struct Undecodable {
    pub checkpoint: Checkpoint,
    pub event_id: Uuid,
    pub tenant_id: Uuid,
    pub aggregate_id: String,
    pub sequence: i64,
    pub reason: String,
}

impl From<Undecodable> for SourceError {
    fn from(undecodable: Undecodable) -> Self {
        SourceError::Undecodable {
            position: undecodable.checkpoint.position,
            reason: undecodable.reason,
        }
    }
}

/// What a read of the log returned, in commit order: the events, and the
/// rows among them that did not decode.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<StoredEvent>,
    pub undecodable: Vec<Undecodable>,
    /// The stream and sequence of the batch's last row, in the read's order.
    pub last_row: Option<(String, i64)>,
}

impl Batch {
    fn from_rows(rows: Vec<EventRow>) -> Self {
        let mut batch = Batch {
            events: Vec::with_capacity(rows.len()),
            undecodable: Vec::new(),
            last_row: rows
                .last()
                .map(|row| (row.aggregate_id.clone(), row.sequence)),
        };
        for row in rows {
            match decode(row) {
                Ok(event) => batch.events.push(event),
                Err(undecodable) => batch.undecodable.push(undecodable),
            }
        }
        batch
    }

    pub fn len(&self) -> usize {
        self.events.len() + self.undecodable.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checkpoint after the whole batch.
    pub fn last(&self) -> Option<Checkpoint> {
        let event = self.events.last().map(|stored| stored.checkpoint);
        let undecodable = self.undecodable.last().map(|row| row.checkpoint);
        event.max(undecodable)
    }

    /// The checkpoint of the row just before `checkpoint` in the batch, if any.
    pub fn before(&self, checkpoint: Checkpoint) -> Option<Checkpoint> {
        let below = |all: &[Checkpoint]| {
            all.partition_point(|seen| *seen < checkpoint)
                .checked_sub(1)
                .and_then(|index| all.get(index).copied())
        };
        let events: Vec<Checkpoint> = self.events.iter().map(|e| e.checkpoint).collect();
        let rows: Vec<Checkpoint> = self.undecodable.iter().map(|u| u.checkpoint).collect();
        below(&events).max(below(&rows))
    }
}

/// One row of the `events` table as every reader selects it: the columns
/// are [`EVENT_COLUMNS`]. (The transaction id is selected as text, named
/// `tx_text` so that an `ORDER BY tx` still means the `xid8` column: text
/// sorts "1000" before "999".)
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub tx_text: String,
    pub global_position: i64,
    pub event_id: Uuid,
    pub tenant_id: Uuid,
    /// `Customer`, `User` or `Team`.
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// `metadata ->> 'actor'`, empty when absent.
    pub actor: String,
    pub hash: Vec<u8>,
    /// The stored JSON text, as hashed.
    pub payload: String,
}

/// The select list of an [`EventRow`].
pub const EVENT_COLUMNS: &str = "tx::text AS tx_text, global_position, event_id, tenant_id, \
     aggregate_type, aggregate_id, sequence, event_type, event_version, occurred_at, recorded_at, \
     COALESCE(metadata ->> 'actor', '') AS actor, hash, payload::text AS payload";

impl EventRow {
    /// The row's place in commit order.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            // A transaction id is a number PostgreSQL wrote; 0 only if it were not.
            tx: self.tx_text.parse().unwrap_or(0),
            position: self.global_position,
        }
    }

    /// The CloudEvents envelope of the row (the Kafka message, the HTTP
    /// stream's item); fails only if the stored payload is not JSON.
    pub fn envelope(
        &self,
        personal: events::envelope::PersonalFields,
    ) -> Result<events::envelope::CloudEvent, serde_json::Error> {
        Ok(events::envelope::CloudEvent::from_stored(
            events::envelope::StoredParts {
                event_id: self.event_id,
                tenant_id: self.tenant_id,
                aggregate_type: &self.aggregate_type,
                aggregate_id: &self.aggregate_id,
                sequence: self.sequence,
                position: self.global_position,
                event_type: &self.event_type,
                event_version: &self.event_version,
                occurred_at: self.occurred_at,
                recorded_at: self.recorded_at,
                actor: &self.actor,
                hash: &self.hash,
                payload: serde_json::from_str(&self.payload)?,
                personal,
            },
        ))
    }
}

/// The next committed events after `after`, at most `limit`.
///
/// The ORDER BY names `events.tx`: a bare `tx` would mean the output column
/// `tx::text`, sorting transaction ids as text ("1000" before "999") — out of
/// commit order, and unable to use the `(tx, global_position)` index.
pub async fn read_batch(
    conn: &mut PgConnection,
    after: Checkpoint,
    limit: i64,
) -> Result<Batch, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE aggregate_type = 'Customer'
            AND (tx, global_position) > ($1::text::xid8, $2)
            AND tx < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY events.tx, events.global_position
          LIMIT $3"
    ))
    .bind(after.tx.to_string())
    .bind(after.position)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(Batch::from_rows(rows))
}

/// Which events a reader reads, for its lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Customer events only (the projections).
    Customers,
    /// Every event (the relay).
    Everything,
}

/// Committed events after `after` that `reads` covers: how many, and the age
/// in seconds of the oldest.
pub async fn lag(
    pool: &PgPool,
    after: Checkpoint,
    reads: Reads,
) -> Result<(i64, f64), sqlx::Error> {
    let (events, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*), min(recorded_at) FROM events
          WHERE (tx, global_position) > ($1::text::xid8, $2)
            AND tx < pg_snapshot_xmin(pg_current_snapshot())
            AND ($3 OR aggregate_type = 'Customer')",
    )
    .bind(after.tx.to_string())
    .bind(after.position)
    .bind(reads == Reads::Everything)
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
) -> Result<Batch, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE aggregate_type = 'Customer'
            AND (aggregate_id, sequence) > ($2, $3)
            AND tx < $1::text::xid8
          ORDER BY aggregate_id, sequence
          LIMIT $4"
    ))
    .bind(horizon.to_string())
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(Batch::from_rows(rows))
}

/// One stream's events in sequence order, up to `upto` in commit order
/// (`crm projector retry` folds a stream again from its first event).
pub async fn read_stream(
    conn: &mut PgConnection,
    aggregate_id: &str,
    upto: Checkpoint,
) -> Result<Batch, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE aggregate_type = 'Customer' AND aggregate_id = $1
            AND (tx, global_position) <= ($2::text::xid8, $3)
          ORDER BY sequence"
    ))
    .bind(aggregate_id)
    .bind(upto.tx.to_string())
    .bind(upto.position)
    .fetch_all(conn)
    .await?;
    Ok(Batch::from_rows(rows))
}

/// Turns a selected row into an event, refusing unknown versions.
pub fn decode(row: EventRow) -> Result<StoredEvent, Undecodable> {
    let checkpoint = row.checkpoint();
    let EventRow {
        event_id,
        tenant_id,
        aggregate_id,
        sequence,
        event_version,
        occurred_at,
        recorded_at,
        actor,
        payload,
        ..
    } = row;
    let decoded = if event_version != events::customer::V1 {
        Err(format!("unknown event version {event_version}"))
    } else {
        serde_json::from_str::<CustomerEvent>(&payload)
            .map_err(|error| error.to_string())
            .and_then(|event| {
                Uuid::parse_str(&aggregate_id)
                    .map(|customer_id| (event, customer_id))
                    .map_err(|_| format!("aggregate id {aggregate_id} is not a UUID"))
            })
    };
    match decoded {
        Ok((event, customer_id)) => Ok(StoredEvent {
            checkpoint,
            event_id,
            tenant_id,
            customer_id,
            sequence,
            actor,
            occurred_at,
            recorded_at,
            event,
        }),
        Err(reason) => Err(Undecodable {
            checkpoint,
            event_id,
            tenant_id,
            aggregate_id,
            sequence,
            reason,
        }),
    }
}

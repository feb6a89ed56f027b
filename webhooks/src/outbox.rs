//! The outbox of deliveries, written by a reader of the event log with its
//! own checkpoint (`webhook_reader_checkpoint`), in the commit-safe order of
//! `store::source`: each batch locks the checkpoint row, writes one delivery
//! per event and matching enabled endpoint, and moves the checkpoint, in one
//! transaction — so an event is written once however many instances run,
//! and a crash only repeats a batch that was never committed.
//!
//! The body is the CloudEvents envelope of `GET /v1/events`, personal fields
//! withheld the same way (the marker while the customer's key exists, the
//! erased marker after): a receiver gets what an analyst gets, never
//! personal data in clear.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use uuid::Uuid;

use events::envelope::PersonalFields;
use store::data_keys::DataKeys;
use store::dead_letters;
use store::source::{Checkpoint, EventRow, Wakeup, EVENT_COLUMNS};

use crate::filter::match_keys;
use crate::WebhookSettings;

const READER: &str = "webhooks";
/// Events read per transaction.
pub const BATCH: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Keys(#[from] store::data_keys::KeyError),
}

/// One delivery to write for every matching endpoint of `tenant_id`.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub tenant_id: Uuid,
    /// The `webhook-id`: stable for the delivery (the event id for log events).
    pub message_id: String,
    /// What endpoints subscribe to (`crm.customer.stage_moved.v1`, `crm.reminder.due`).
    pub event_type: String,
    /// Deliveries of one key reach an endpoint in the order written.
    pub ordering_key: String,
    /// The JSON body, sent as is.
    pub body: String,
}

/// Writes `outgoing` for every enabled endpoint of its tenant that subscribes
/// to its type, in the caller's transaction (the way a kind that is not in
/// the log, such as reminders, delivers: in the transaction that causes it).
/// A message id an endpoint already has is not written again. Answers the
/// deliveries written.
pub async fn enqueue(conn: &mut PgConnection, outgoing: &[Outgoing]) -> Result<u64, sqlx::Error> {
    if outgoing.is_empty() {
        return Ok(0);
    }
    let mut tenants = Vec::with_capacity(outgoing.len());
    let mut ids = Vec::with_capacity(outgoing.len());
    let mut types = Vec::with_capacity(outgoing.len());
    let mut families = Vec::with_capacity(outgoing.len());
    let mut keys = Vec::with_capacity(outgoing.len());
    let mut bodies = Vec::with_capacity(outgoing.len());
    for item in outgoing {
        let [exact, family] = match_keys(&item.event_type);
        tenants.push(item.tenant_id);
        ids.push(item.message_id.as_str());
        types.push(exact);
        families.push(family);
        keys.push(item.ordering_key.as_str());
        bodies.push(item.body.as_str());
    }
    // Written in the given order (the delivery id orders a key's
    // deliveries), endpoint by endpoint within one item.
    let written = sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, message_id, event_type, ordering_key, body)
         SELECT o.tenant_id, e.endpoint_id, o.message_id, o.event_type, o.ordering_key, o.body
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                WITH ORDINALITY AS o(tenant_id, message_id, event_type, family, ordering_key, body, n)
           JOIN webhook_endpoints e
             ON e.tenant_id = o.tenant_id AND e.enabled
            AND e.event_types && ARRAY[o.event_type, o.family]
          ORDER BY o.n, e.endpoint_id
         ON CONFLICT (endpoint_id, message_id) DO NOTHING",
    )
    .bind(&tenants)
    .bind(&ids)
    .bind(&types)
    .bind(&families)
    .bind(&keys)
    .bind(&bodies)
    .execute(&mut *conn)
    .await?;
    Ok(written.rows_affected())
}

/// What one pass of the reader did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Events read from the log.
    pub events: usize,
    /// Deliveries written.
    pub deliveries: u64,
    /// Another instance held the checkpoint: nothing was read.
    pub busy: bool,
}

/// Reads the next batch of the log after the checkpoint and writes its
/// deliveries. With no enabled endpoint anywhere, the checkpoint jumps to
/// the end of the log instead (nothing to write; an endpoint registered
/// later gets the events committed from then on).
pub async fn pass(pool: &PgPool, data_keys: &DataKeys) -> Result<Pass, OutboxError> {
    let mut tx = pool.begin().await?;
    let Some(after) = lock_checkpoint(&mut tx).await? else {
        return Ok(Pass {
            busy: true,
            ..Pass::default()
        });
    };
    let tenants: Vec<Uuid> =
        sqlx::query_scalar("SELECT DISTINCT tenant_id FROM webhook_endpoints WHERE enabled")
            .fetch_all(&mut *tx)
            .await?;
    if tenants.is_empty() {
        if let Some(head) = head(&mut tx).await? {
            if head > after {
                save_checkpoint(&mut tx, head, 0).await?;
            }
        }
        tx.commit().await?;
        return Ok(Pass::default());
    }
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE (tx, global_position) > ($1::text::xid8, $2)
            AND tx < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY events.tx, events.global_position
          LIMIT $3"
    ))
    .bind(after.tx.to_string())
    .bind(after.position)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let Some(last) = rows.last().map(EventRow::checkpoint) else {
        tx.commit().await?;
        return Ok(Pass::default());
    };
    let subscribed: HashSet<Uuid> = tenants.into_iter().collect();
    let wanted: Vec<&EventRow> = rows
        .iter()
        .filter(|row| subscribed.contains(&row.tenant_id))
        .collect();
    let outgoing = envelopes(&mut tx, data_keys, &wanted).await?;
    let deliveries = enqueue(&mut tx, &outgoing).await?;
    save_checkpoint(&mut tx, last, rows.len()).await?;
    tx.commit().await?;
    Ok(Pass {
        events: rows.len(),
        deliveries,
        busy: false,
    })
}

/// The rows' envelopes, as `GET /v1/events` builds them. A row whose payload
/// is not JSON is dead-lettered (as the relay does) and skipped.
async fn envelopes(
    conn: &mut PgConnection,
    data_keys: &DataKeys,
    rows: &[&EventRow],
) -> Result<Vec<Outgoing>, OutboxError> {
    let customers: Vec<Uuid> = rows
        .iter()
        .filter_map(|row| Uuid::parse_str(&row.aggregate_id).ok())
        .collect();
    let alive = if customers.is_empty() {
        HashSet::new()
    } else {
        data_keys.existing(&customers).await?
    };
    let mut outgoing = Vec::with_capacity(rows.len());
    for row in rows {
        let key_exists = Uuid::parse_str(&row.aggregate_id).is_ok_and(|id| alive.contains(&id));
        let envelope = row
            .envelope(PersonalFields::Withhold { key_exists })
            .and_then(|envelope| serde_json::to_string(&envelope).map(|body| (envelope, body)));
        match envelope {
            Ok((envelope, body)) => outgoing.push(Outgoing {
                tenant_id: row.tenant_id,
                message_id: row.event_id.to_string(),
                event_type: envelope.event_type,
                ordering_key: row.aggregate_id.clone(),
                body,
            }),
            Err(error) => {
                dead_letters::record(
                    conn,
                    READER,
                    dead_letters::Source::Postgres,
                    &dead_letters::Failed {
                        checkpoint: row.checkpoint(),
                        event_id: Some(row.event_id),
                        tenant_id: Some(row.tenant_id),
                        aggregate_id: Some(&row.aggregate_id),
                    },
                    &format!("the stored payload is not JSON: {error}"),
                    1,
                    Utc::now(),
                )
                .await?;
            }
        }
    }
    Ok(outgoing)
}

/// The checkpoint, locked for this transaction; `None` while another
/// instance's batch holds it. The first reader starts at the beginning, but
/// while no endpoint is enabled anywhere [`pass`] keeps it at the end of the
/// log, so a deployment's history is never sent to endpoints registered later.
async fn lock_checkpoint(conn: &mut PgConnection) -> Result<Option<Checkpoint>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_reader_checkpoint (reader, tx, position)
         VALUES ($1, '0'::xid8, 0) ON CONFLICT (reader) DO NOTHING",
    )
    .bind(READER)
    .execute(&mut *conn)
    .await?;
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT tx::text, position FROM webhook_reader_checkpoint
          WHERE reader = $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(READER)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(tx, position)| Checkpoint {
        tx: tx.parse().unwrap_or(0),
        position,
    }))
}

/// The last committed event of the log in commit-safe order (every
/// transaction below the snapshot's xmin has ended, so nothing can commit
/// before it any more).
async fn head(conn: &mut PgConnection) -> Result<Option<Checkpoint>, sqlx::Error> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT tx::text, global_position FROM events
          WHERE tx < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY events.tx DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(tx, position)| Checkpoint {
        tx: tx.parse().unwrap_or(0),
        position,
    }))
}

async fn save_checkpoint(
    conn: &mut PgConnection,
    last: Checkpoint,
    events: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_reader_checkpoint
            SET tx = $2::text::xid8, position = $3, events = events + $4, updated_at = now()
          WHERE reader = $1",
    )
    .bind(READER)
    .bind(last.tx.to_string())
    .bind(last.position)
    .bind(i64::try_from(events).unwrap_or(i64::MAX))
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes deliveries as events are committed until `shutdown` turns true
/// (woken by the store's NOTIFY, polling as a fallback).
pub async fn run(
    pool: PgPool,
    data_keys: DataKeys,
    settings: Arc<WebhookSettings>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wakeup = Wakeup::connect(&pool).await;
    tracing::info!("webhook outbox reader running");
    while !*shutdown.borrow() {
        let pause = match pass(&pool, &data_keys).await {
            Ok(pass) if pass.events as i64 >= BATCH => Duration::ZERO,
            Ok(pass) => {
                if pass.deliveries > 0 {
                    tracing::debug!(
                        events = pass.events,
                        deliveries = pass.deliveries,
                        "webhook deliveries written"
                    );
                }
                settings.poll_interval
            }
            Err(error) => {
                tracing::warn!(%error, "writing webhook deliveries failed; trying again shortly");
                Duration::from_secs(2)
            }
        };
        if !pause.is_zero() {
            wakeup.wait(pause, &mut shutdown).await;
        }
    }
    tracing::info!("webhook outbox reader stopped");
}

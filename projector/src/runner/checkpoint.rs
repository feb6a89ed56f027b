//! Projections' checkpoints (locked while a batch applies), their status,
//! and the notices that tell readers which tenants' read models changed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use store::source::{self, Checkpoint, StoredEvent};

use super::projection::*;

/// The checkpoints of `projections`, locked until the transaction ends (in
/// name order, so that two lockers cannot deadlock).
pub(crate) async fn locked_checkpoints(
    conn: &mut PgConnection,
    projections: &[Projection],
) -> Result<Vec<(Projection, Checkpoint)>, sqlx::Error> {
    let mut names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    names.sort_unstable();
    names.dedup();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT name, tx::text, position FROM projection_checkpoints
          WHERE name = ANY($1) ORDER BY name FOR UPDATE",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    let locked = rows
        .into_iter()
        .filter_map(|(name, tx, position)| {
            let checkpoint = Checkpoint {
                tx: tx.parse().unwrap_or(0),
                position,
            };
            Projection::parse(&name).map(|projection| (projection, checkpoint))
        })
        .collect::<Vec<_>>();
    if locked.len() < names.len() {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(locked)
}

pub(crate) async fn save_checkpoint(
    conn: &mut PgConnection,
    projection: Projection,
    checkpoint: Checkpoint,
    applied: usize,
    reset: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints
            SET tx = $2::text::xid8, position = $3,
                events = CASE WHEN $5 THEN 0 ELSE events END + $4, updated_at = now()
          WHERE name = $1",
    )
    .bind(projection.name())
    .bind(checkpoint.tx.to_string())
    .bind(checkpoint.position)
    .bind(i64::try_from(applied).unwrap_or(i64::MAX))
    .bind(reset)
    .execute(conn)
    .await?;
    Ok(())
}

/// Lets a projection transaction commit without waiting for its WAL flush. A
/// crash can lose the last such commits, but each loses its read-model changes
/// and its checkpoint together, and they are simply applied again; meanwhile
/// commands no longer queue behind projector fsyncs.
pub(crate) async fn relaxed_durability(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(conn)
        .await?;
    Ok(())
}

/// The channel on which projections announce, at commit, which tenants' read
/// models changed: tenant ids separated by commas, or [`ALL_TENANTS`].
pub const READ_MODELS_CHANNEL: &str = store::READ_MODELS_CHANNEL;
pub const ALL_TENANTS: &str = "*";
/// NOTIFY payloads must stay below 8,000 bytes.
const MAX_NOTICE_BYTES: usize = 7_000;

/// Announces the tenants of `batch` on [`READ_MODELS_CHANNEL`]; delivered
/// when (and only if) the transaction commits.
pub(crate) async fn announce_changes(
    conn: &mut PgConnection,
    batch: &[StoredEvent],
) -> Result<(), sqlx::Error> {
    let mut tenants: Vec<uuid::Uuid> = batch.iter().map(|stored| stored.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut payload = tenants
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if payload.is_empty() {
        return Ok(());
    }
    if payload.len() > MAX_NOTICE_BYTES {
        ALL_TENANTS.clone_into(&mut payload);
    }
    notify_read_models(conn, &payload).await
}

pub(crate) async fn notify_read_models(
    conn: &mut PgConnection,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(READ_MODELS_CHANNEL)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

/// One projection's position, for `crm projector status` and `/metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub name: &'static str,
    pub checkpoint: Checkpoint,
    pub events_applied: i64,
    pub updated_at: DateTime<Utc>,
    /// Committed events not yet applied.
    pub lag_events: i64,
    /// Age of the oldest committed event not yet applied, in seconds.
    pub lag_seconds: f64,
}

pub async fn status(pool: &PgPool) -> Result<Vec<Status>, sqlx::Error> {
    let mut statuses = Vec::new();
    for projection in Projection::ALL {
        let (tx, position, events, updated_at): (String, i64, i64, DateTime<Utc>) = sqlx::query_as(
            "SELECT tx::text, position, events, updated_at FROM projection_checkpoints WHERE name = $1",
        )
        .bind(projection.name())
        .fetch_one(pool)
        .await?;
        let checkpoint = Checkpoint {
            tx: tx.parse().unwrap_or(0),
            position,
        };
        let (lag_events, lag_seconds) =
            source::lag(pool, checkpoint, source::Reads::Customers).await?;
        statuses.push(Status {
            name: projection.name(),
            checkpoint,
            events_applied: events,
            updated_at,
            lag_events,
            lag_seconds,
        });
    }
    Ok(statuses)
}

/// Whether every projection in `projections` has applied the event at `position`.
pub async fn has_applied(
    pool: &PgPool,
    projections: &[Projection],
    position: i64,
) -> Result<bool, sqlx::Error> {
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    sqlx::query_scalar(
        // Applied means: no Customer event up to `position` (in commit
        // order) lies beyond the checkpoint. For a Customer event that is
        // the event itself; events the projections do not read (the
        // directory's users and teams) wait only for those before them.
        "SELECT coalesce(bool_and(NOT EXISTS (
                    SELECT 1 FROM events p
                     WHERE (p.tx, p.global_position) > (c.tx, c.position)
                       AND (p.tx, p.global_position) <= (e.tx, e.global_position)
                       AND p.aggregate_type = 'Customer')), true)
           FROM projection_checkpoints c, events e
          WHERE c.name = ANY($1) AND e.global_position = $2",
    )
    .bind(&names)
    .bind(position)
    .fetch_one(pool)
    .await
}

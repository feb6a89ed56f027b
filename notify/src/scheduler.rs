//! The reminder scheduler: claims due `follow_up_reminders` rows with
//! `FOR UPDATE SKIP LOCKED` in batches, turns each into a notification for
//! its assignee and deletes it, in one transaction. Two instances never
//! claim the same row; a notification is also unique per follow-up, due time
//! and recipient, so nothing is delivered twice even if a row were restored.
//! A reminder fired more than [`LATE_AFTER`] after it was due (the service
//! was down, or behind) is marked late.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::NOTIFICATIONS_CHANNEL;

/// How often the scheduler looks for due reminders when the last pass found
/// none to spare.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Reminders claimed per transaction.
pub const BATCH: i64 = 2_000;
/// A reminder fired later than this after its instant is marked late.
pub const LATE_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// Fires the reminders due at `now` (at most [`BATCH`]); answers how many
/// it claimed.
pub async fn fire_due(pool: &PgPool, now: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (claimed, recipients): (i64, Vec<String>) = sqlx::query_as(
        "WITH fired AS (
             DELETE FROM follow_up_reminders r
              WHERE (r.tenant_id, r.follow_up_id) IN (
                    SELECT tenant_id, follow_up_id FROM follow_up_reminders
                     WHERE fire_at <= $1
                     ORDER BY fire_at
                     LIMIT $2
                       FOR UPDATE SKIP LOCKED)
             RETURNING r.tenant_id, r.follow_up_id, r.fire_at, r.due_at, r.assignee),
         written AS (
             INSERT INTO notifications (tenant_id, recipient, kind, follow_up_id, customer_id,
                                        subject, due_at, meant_for, late, dedupe_key)
             SELECT fired.tenant_id, fired.assignee, 'follow_up_due', fired.follow_up_id,
                    f.customer_id, f.subject, fired.due_at, fired.fire_at,
                    $1 - fired.fire_at > $3,
                    'follow-up:' || fired.follow_up_id || '@'
                        || floor(extract(epoch FROM fired.due_at) * 1000000)::bigint
                        || ':' || fired.assignee
               FROM fired
               JOIN follow_ups f USING (tenant_id, follow_up_id)
              WHERE f.status = 'open'
             ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
             RETURNING tenant_id, recipient)
         SELECT (SELECT count(*) FROM fired),
                ARRAY(SELECT DISTINCT tenant_id::text || ':' || recipient FROM written)",
    )
    .bind(now)
    .bind(BATCH)
    .bind(LATE_AFTER)
    .fetch_one(&mut *tx)
    .await?;
    if !recipients.is_empty() {
        sqlx::query("SELECT pg_notify($1, key) FROM unnest($2::text[]) AS key")
            .bind(NOTIFICATIONS_CHANNEL)
            .bind(&recipients)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(claimed)
}

/// Fires reminders as they fall due until `shutdown` turns true. A full
/// batch is followed at once by the next one; database failures are logged
/// and retried.
pub async fn run(pool: PgPool, mut shutdown: watch::Receiver<bool>) {
    tracing::info!("reminder scheduler running");
    while !*shutdown.borrow() {
        let pause = match fire_due(&pool, Utc::now()).await {
            Ok(claimed) if claimed >= BATCH => {
                tracing::debug!(claimed, "reminders fired; more are due");
                Duration::ZERO
            }
            Ok(claimed) if claimed > 0 => {
                tracing::debug!(claimed, "reminders fired");
                POLL_INTERVAL
            }
            Ok(_) => POLL_INTERVAL,
            Err(error) => {
                tracing::warn!(%error, "firing reminders failed; trying again shortly");
                Duration::from_secs(2)
            }
        };
        if pause.is_zero() {
            continue;
        }
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() { break },
            () = tokio::time::sleep(pause) => {}
        }
    }
    tracing::info!("reminder scheduler stopped");
}

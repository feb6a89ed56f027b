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
    let (claimed, recipients, written): (i64, Vec<String>, serde_json::Value) = sqlx::query_as(
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
             RETURNING id, tenant_id, recipient, follow_up_id, customer_id, subject, due_at,
                       meant_for, late, dedupe_key)
         SELECT (SELECT count(*) FROM fired),
                ARRAY(SELECT DISTINCT tenant_id::text || ':' || recipient FROM written),
                (SELECT coalesce(json_agg(w ORDER BY w.id), '[]') FROM written w)",
    )
    .bind(now)
    .bind(BATCH)
    .bind(LATE_AFTER)
    .fetch_one(&mut *tx)
    .await?;
    webhooks::outbox::enqueue(&mut tx, &reminder_deliveries(written)).await?;
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

/// The webhook deliveries of the notifications just written
/// (`crm.reminder.due`, for the endpoints that subscribe): in the same
/// transaction, so a reminder reaches other systems exactly when it reaches
/// its recipient. Ordered per customer, as the log's events are.
fn reminder_deliveries(written: serde_json::Value) -> Vec<webhooks::outbox::Outgoing> {
    let serde_json::Value::Array(rows) = written else {
        return Vec::new();
    };
    rows.into_iter()
        .filter_map(|row| {
            let tenant_id = row["tenant_id"].as_str()?.parse().ok()?;
            let key = row["dedupe_key"].as_str()?.to_owned();
            let ordering_key = row["customer_id"]
                .as_str()
                .or_else(|| row["follow_up_id"].as_str())
                .unwrap_or_default()
                .to_owned();
            let body = serde_json::json!({
                "type": webhooks::filter::REMINDER_DUE,
                "id": format!("reminder:{key}"),
                "tenant_id": row["tenant_id"],
                "recipient": row["recipient"],
                "follow_up_id": row["follow_up_id"],
                "customer_id": row["customer_id"],
                "subject": row["subject"],
                "due_at": row["due_at"],
                "meant_for": row["meant_for"],
                "late": row["late"],
            });
            Some(webhooks::outbox::Outgoing {
                tenant_id,
                message_id: format!("reminder:{key}"),
                event_type: webhooks::filter::REMINDER_DUE.to_owned(),
                ordering_key,
                body: body.to_string(),
            })
        })
        .collect()
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

//! The completion policy: a completed follow-up becomes an activity on its
//! customer's stream (so the timeline, last contact, RFM and lifecycle see
//! it), exactly once.
//!
//! Exactly once by construction: the activity is logged by the customer
//! command service with an idempotency key derived from the follow-up
//! (`follow-up-completed:<id>`), under the policy's own actor, so a retry
//! after a crash between the append and the bookkeeping, or two instances
//! racing, find the first append instead of making another. The follow-up's
//! row is locked (`FOR UPDATE SKIP LOCKED`) while its activity is logged and
//! marked, so concurrent sweeps do not even try twice. The completion's
//! request runs the policy at once; [`sweep`] catches up whatever a crash or
//! an unreachable database left behind.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use uuid::Uuid;

use events::values::{ActivityType, OccurredAt, TextField, UserId};
use events::Role;

use events::personal::reveal_stored;

use super::service::{FollowUpFailure, FollowUpService, FOLLOW_UP_TYPE};
use crate::aggregate::{Action, Actor, CustomerCommand};
use crate::service::{CausedBy, ExecuteError, RequestContext};

/// The actor of the activities the policy logs; `on_behalf_of` in their
/// metadata names who completed the follow-up.
pub const POLICY_ACTOR: &str = "policy:follow-up-completion";

/// How often [`sweep`] looks for completions whose activity is missing.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The idempotency key of the activity a follow-up's completion logs.
pub fn activity_key(follow_up_id: Uuid) -> String {
    format!("follow-up-completed:{follow_up_id}")
}

/// Logs the completed follow-up's activity unless it is logged already (or
/// another instance is logging it right now). Answers whether this call
/// logged (or found) it.
pub async fn log_completion(
    service: &FollowUpService,
    follow_up_id: Uuid,
) -> Result<bool, FollowUpFailure> {
    let mut tx = service.pool().begin().await?;
    let row: Option<Pending> = sqlx::query_as(
        "SELECT tenant_id, customer_id, activity_type, subject, outcome, completed_at,
                completed_by
           FROM follow_ups
          WHERE follow_up_id = $1 AND status = 'done' AND activity_logged_at IS NULL
          FOR UPDATE SKIP LOCKED",
    )
    .bind(follow_up_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(pending) = row else {
        return Ok(false);
    };
    let cause: Option<Uuid> = sqlx::query_scalar(
        "SELECT event_id FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND event_type = 'FollowUpCompleted'",
    )
    .bind(FOLLOW_UP_TYPE)
    .bind(follow_up_id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let keys = service
        .data_keys()
        .load(&[pending.customer_id])
        .await
        .map_err(FollowUpFailure::from)?;
    let key = keys.get(&pending.customer_id).and_then(Option::as_ref);
    let outcome = pending
        .outcome
        .as_deref()
        .and_then(|stored| reveal_stored(stored, key, pending.customer_id))
        .and_then(|text| TextField::NOTES.parse(&text).ok());
    let command = CustomerCommand {
        actor: Actor {
            tenant_id: pending.tenant_id,
            user_id: UserId::parse(POLICY_ACTOR)
                .map_err(|error| FollowUpFailure::Internal(error.into()))?,
            role: Role::Admin,
        },
        now: Utc::now(),
        expected_version: None,
        action: Action::LogActivity {
            activity_type: pending
                .activity_type
                .parse::<ActivityType>()
                .map_err(|error| FollowUpFailure::Internal(error.into()))?,
            subject: TextField::SUBJECT.parse(&pending.subject).ok(),
            notes: outcome,
            occurred_at: OccurredAt::new(pending.completed_at).ok(),
            value: None,
        },
    };
    let request = RequestContext {
        correlation_id: format!("follow-up:{follow_up_id}"),
        idempotency_key: Some(activity_key(follow_up_id)),
        caused_by: cause.map(|event_id| CausedBy {
            event_id,
            on_behalf_of: pending.completed_by.clone().unwrap_or_default(),
        }),
    };
    match service
        .customers()
        .execute(pending.customer_id, command, &request)
        .await
    {
        Ok(_) => {}
        // A customer archived or erased since takes no activity: the
        // completion stands on the follow-up's own stream.
        Err(ExecuteError::Rejected(refused)) => {
            tracing::info!(%refused, %follow_up_id, "the customer takes no activity for this completion");
        }
        Err(ExecuteError::Unavailable(reason)) => return Err(FollowUpFailure::Unavailable(reason)),
        Err(ExecuteError::Conflict) => return Err(FollowUpFailure::Conflict),
        Err(ExecuteError::Internal(error)) => return Err(FollowUpFailure::Internal(error)),
    }
    sqlx::query("UPDATE follow_ups SET activity_logged_at = now() WHERE follow_up_id = $1")
        .bind(follow_up_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

#[derive(sqlx::FromRow)]
struct Pending {
    tenant_id: Uuid,
    customer_id: Uuid,
    activity_type: String,
    subject: String,
    outcome: Option<String>,
    completed_at: DateTime<Utc>,
    completed_by: Option<String>,
}

/// Logs the activity of every completion still without one, every
/// [`SWEEP_INTERVAL`], until `shutdown` turns true.
pub async fn sweep(service: FollowUpService, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if let Err(error) = sweep_once(&service).await {
            tracing::warn!(%error, "follow-up completion sweep failed; it runs again shortly");
        }
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() { break },
            () = tokio::time::sleep(SWEEP_INTERVAL) => {}
        }
    }
}

/// One pass of [`sweep`]: answers how many activities it logged.
pub async fn sweep_once(service: &FollowUpService) -> Result<usize, FollowUpFailure> {
    let pending: Vec<Uuid> = sqlx::query_scalar(
        "SELECT follow_up_id FROM follow_ups
          WHERE status = 'done' AND activity_logged_at IS NULL
          ORDER BY completed_at LIMIT 100",
    )
    .fetch_all(service.pool())
    .await?;
    let mut logged = 0;
    for follow_up_id in pending {
        if log_completion(service, follow_up_id).await? {
            logged += 1;
        }
    }
    Ok(logged)
}

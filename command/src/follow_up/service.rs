//! Runs commands on follow-ups: load the stream and its customer's, check
//! who may act (the aggregate cannot see customers or teams), decide, seal
//! personal fields, append, and keep the follow-up's row and its reminder in
//! the same transaction. A completion then logs its activity on the customer
//! through [`super::policy`].

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;
use uuid::Uuid;

use events::customer::CustomerEvent;
use events::follow_up::FollowUpEvent;
use events::values::UserId;
use events::Role;
use store::data_keys::{DataKeys, KeyError};
use store::streams::{AppendError, LoadError};

use super::commands::{FollowUpAction, FollowUpCommand};
use super::error::FollowUpError;
use super::state::{occurred_at, FollowUp};
use crate::aggregate::{Actor, Customer};
use crate::directory::service::metadata;
use crate::service::{Accepted, CommandService, RequestContext};

/// The store's `aggregate_type` of follow-ups.
pub const FOLLOW_UP_TYPE: &str = "FollowUp";

/// Why a follow-up command did not go through.
#[derive(Debug, thiserror::Error)]
pub enum FollowUpFailure {
    #[error(transparent)]
    Rejected(#[from] FollowUpError),
    /// Another writer appended to the stream first.
    #[error("the follow-up was changed concurrently; reload and retry")]
    Conflict,
    #[error("the event store is unreachable: {0}")]
    Unavailable(String),
    #[error("follow-up store failure: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for FollowUpFailure {
    fn from(error: sqlx::Error) -> Self {
        if store::database_unavailable(&error) {
            FollowUpFailure::Unavailable(error.to_string())
        } else {
            FollowUpFailure::Internal(Box::new(error))
        }
    }
}

impl From<AppendError> for FollowUpFailure {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::Conflict => FollowUpFailure::Conflict,
            AppendError::Database(error) => error.into(),
            other => FollowUpFailure::Internal(Box::new(other)),
        }
    }
}

impl From<LoadError> for FollowUpFailure {
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::Database(error) => error.into(),
            other => FollowUpFailure::Internal(Box::new(other)),
        }
    }
}

impl From<KeyError> for FollowUpFailure {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::Database(error) => error.into(),
            other => FollowUpFailure::Internal(Box::new(other)),
        }
    }
}

#[derive(Clone)]
pub struct FollowUpService {
    pool: PgPool,
    data_keys: DataKeys,
    customers: Arc<CommandService>,
}

impl FollowUpService {
    pub fn new(customers: Arc<CommandService>) -> Self {
        Self {
            pool: customers.pool().clone(),
            data_keys: customers.data_keys().clone(),
            customers,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn data_keys(&self) -> &DataKeys {
        &self.data_keys
    }

    pub(super) fn customers(&self) -> &CommandService {
        &self.customers
    }

    /// Decides `command` on the follow-up `id` and appends what it produces.
    pub async fn execute(
        &self,
        id: Uuid,
        command: FollowUpCommand,
        request: &RequestContext,
    ) -> Result<Accepted, FollowUpFailure> {
        let span = tracing::info_span!(
            "execute_follow_up",
            follow_up_id = %id,
            command = command.action.name(),
            actor = %command.actor.user_id,
        );
        let completes = matches!(command.action, FollowUpAction::Complete { .. });
        let accepted = self
            .execute_inner(id, command, request)
            .instrument(span)
            .await?;
        if completes {
            // The activity is the customer's fact; the sweep retries it if
            // this attempt fails, so the completion stands either way.
            if let Err(error) = super::policy::log_completion(self, id).await {
                tracing::warn!(%error, follow_up_id = %id, "the completed follow-up's activity will be logged by the next sweep");
            }
        }
        Ok(accepted)
    }

    async fn execute_inner(
        &self,
        id: Uuid,
        mut command: FollowUpCommand,
        request: &RequestContext,
    ) -> Result<Accepted, FollowUpFailure> {
        command.now = command.now.trunc_subsecs(6);
        let now = command.now;
        let actor = command.actor.clone();
        let action_name = command.action.name();
        let mut tx = self.pool.begin().await?;
        let stream = id.to_string();
        let mut follow_up = FollowUp::default();
        for (event, at) in load(&mut tx, &stream).await? {
            follow_up.apply(event, at);
        }
        let version = follow_up.version();
        let customer_id = match (&command.action, follow_up.customer_id()) {
            (FollowUpAction::Schedule(plan), _) => plan.customer_id,
            (_, Some(customer_id)) => customer_id,
            (_, None) => return Err(FollowUpError::NotFound.into()),
        };
        let customer = load_customer(&mut tx, customer_id).await?;
        let owner = customer
            .standing()
            .filter(|standing| standing.tenant_id == actor.tenant_id)
            .map(|standing| (standing.owner_id.clone(), standing.takes_facts));
        let scope = Scope::of(&self.pool, &actor).await?;
        match &command.action {
            FollowUpAction::Schedule(plan) => {
                let Some((_, takes_facts)) = owner.filter(|(owner, _)| scope.sees(owner)) else {
                    return Err(FollowUpError::CustomerNotFound.into());
                };
                if !takes_facts {
                    return Err(FollowUpError::Rule(
                        "the customer is archived or its data was erased: it takes no follow-ups"
                            .to_owned(),
                    )
                    .into());
                }
                let assignee = plan.assignee.as_ref().unwrap_or(&actor.user_id);
                self.require_assignable(&scope, &actor, assignee).await?;
            }
            action => {
                let visible = follow_up
                    .assignee()
                    .is_some_and(|assignee| scope.sees(assignee))
                    || owner.as_ref().is_some_and(|(owner, _)| scope.sees(owner));
                if !visible {
                    return Err(FollowUpError::NotFound.into());
                }
                if let FollowUpAction::Reassign { assignee } = action {
                    if follow_up.assignee() != Some(assignee) {
                        self.require_assignable(&scope, &actor, assignee).await?;
                    }
                }
            }
        }
        let Some(event) = follow_up.decide_and_apply(command)? else {
            let position = last_position(&mut tx, &stream).await?;
            return Ok(Accepted {
                id,
                version,
                position,
            });
        };
        let at = occurred_at(&event, now);
        let mut sealed = event.clone();
        if event.has_personal_data() {
            let key = self
                .data_keys
                .get_or_create(customer_id, actor.tenant_id)
                .await?;
            sealed.seal_personal(&key, customer_id);
        }
        let metadata = metadata(&actor, action_name, request, at);
        let position = store::streams::append(
            &mut tx,
            FOLLOW_UP_TYPE,
            &stream,
            version,
            std::slice::from_ref(&sealed),
            &metadata,
        )
        .await?
        .unwrap_or_default();
        let row = Change {
            tenant_id: actor.tenant_id,
            follow_up_id: id,
            actor: actor.user_id.as_str(),
            version: version + 1,
            at,
            now,
        };
        apply_to_model(&mut tx, &row, &sealed, &follow_up).await?;
        tx.commit().await?;
        Ok(Accepted {
            id,
            version: version + 1,
            position,
        })
    }

    /// An assignee is an active user of a tenant with a directory; a
    /// manager assigns within its teams.
    async fn require_assignable(
        &self,
        scope: &Scope,
        actor: &Actor,
        assignee: &UserId,
    ) -> Result<(), FollowUpFailure> {
        let (has_directory, active): (bool, Option<bool>) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM directory_users WHERE tenant_id = $1),
                    (SELECT active FROM directory_users WHERE tenant_id = $1 AND login = $2)",
        )
        .bind(actor.tenant_id)
        .bind(assignee.as_str())
        .fetch_one(&self.pool)
        .await?;
        if has_directory && active != Some(true) {
            return Err(FollowUpError::Invalid {
                field: "assignee",
                message: format!("{assignee} is not an active user of this tenant"),
            }
            .into());
        }
        if actor.role == Role::Manager && !scope.sees(assignee) {
            return Err(FollowUpError::Invalid {
                field: "assignee",
                message: format!("{assignee} is not a member of a team you manage"),
            }
            .into());
        }
        Ok(())
    }
}

/// Whose follow-ups and customers the actor may act on: `None`, the
/// tenant's; otherwise these users' (a rep: itself; a manager: itself and
/// the members of the teams it manages, once the tenant has a directory).
struct Scope(Option<Vec<String>>);

impl Scope {
    async fn of(pool: &PgPool, actor: &Actor) -> Result<Self, sqlx::Error> {
        Ok(Scope(match actor.role {
            Role::Admin | Role::Auditor => None,
            Role::Rep => Some(vec![actor.user_id.to_string()]),
            Role::Manager => {
                store::directory::managed_owners(pool, actor.tenant_id, actor.user_id.as_str())
                    .await?
            }
        }))
    }

    fn sees(&self, user: &UserId) -> bool {
        self.0
            .as_ref()
            .is_none_or(|users| users.iter().any(|seen| seen == user.as_str()))
    }
}

/// The stream's events with when each happened.
async fn load(
    conn: &mut PgConnection,
    stream: &str,
) -> Result<Vec<(FollowUpEvent, DateTime<Utc>)>, FollowUpFailure> {
    let rows: Vec<(i64, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT sequence, payload::text, occurred_at FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2
          ORDER BY sequence",
    )
    .bind(FOLLOW_UP_TYPE)
    .bind(stream)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(sequence, payload, at)| {
            serde_json::from_str(&payload)
                .map(|event| (event, at))
                .map_err(|source| {
                    FollowUpFailure::Internal(Box::new(LoadError::Undecodable {
                        aggregate_type: FOLLOW_UP_TYPE.to_owned(),
                        aggregate_id: stream.to_owned(),
                        sequence,
                        source,
                    }))
                })
        })
        .collect()
}

async fn load_customer(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> Result<Customer, FollowUpFailure> {
    let mut customer = Customer::default();
    let stream = customer_id.to_string();
    for event in store::streams::load::<CustomerEvent>(conn, "Customer", &stream).await? {
        customer.apply_at(event, None);
    }
    Ok(customer)
}

async fn last_position(conn: &mut PgConnection, stream: &str) -> Result<i64, sqlx::Error> {
    let position: Option<i64> = sqlx::query_scalar(
        "SELECT max(global_position) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(FOLLOW_UP_TYPE)
    .bind(stream)
    .fetch_one(conn)
    .await?;
    Ok(position.unwrap_or_default())
}

/// Who changed which follow-up, to which version, when.
struct Change<'a> {
    tenant_id: Uuid,
    follow_up_id: Uuid,
    actor: &'a str,
    version: u64,
    /// When the event happened.
    at: DateTime<Utc>,
    /// When it was decided.
    now: DateTime<Utc>,
}

/// The follow-up's row and its reminder after `event` (sealed, as stored);
/// `after` is the state the event led to. A rescheduled or reassigned
/// follow-up's reminder moves to the new time and person (one already sent
/// stays in its recipient's inbox); a closed one's is gone.
async fn apply_to_model(
    conn: &mut PgConnection,
    change: &Change<'_>,
    event: &FollowUpEvent,
    after: &FollowUp,
) -> Result<(), sqlx::Error> {
    let version = i64::try_from(change.version).unwrap_or(i64::MAX);
    let key = (change.tenant_id, change.follow_up_id);
    match event {
        FollowUpEvent::FollowUpScheduled(scheduled) => {
            sqlx::query(
                "INSERT INTO follow_ups (tenant_id, follow_up_id, customer_id, activity_type,
                        subject, notes, due_at, remind_before, assignee, status, opportunity_id,
                        scheduled_by, scheduled_at, version, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11, $12, $13, $14)",
            )
            .bind(key.0)
            .bind(key.1)
            .bind(scheduled.customer_id)
            .bind(scheduled.activity_type.as_str())
            .bind(scheduled.subject.as_str())
            .bind(scheduled.notes.as_ref().map(stored_text))
            .bind(scheduled.due_at)
            .bind(i32::try_from(scheduled.remind_before_minutes.as_minutes()).unwrap_or(0))
            .bind(scheduled.assignee.as_str())
            .bind(scheduled.opportunity_id)
            .bind(change.actor)
            .bind(change.at)
            .bind(version)
            .bind(change.now)
            .execute(&mut *conn)
            .await?;
        }
        FollowUpEvent::FollowUpRescheduled(rescheduled) => {
            sqlx::query(
                "UPDATE follow_ups SET due_at = $3, remind_before = $4, version = $5, updated_at = $6
                  WHERE tenant_id = $1 AND follow_up_id = $2",
            )
            .bind(key.0)
            .bind(key.1)
            .bind(rescheduled.due_at)
            .bind(i32::try_from(rescheduled.remind_before_minutes.as_minutes()).unwrap_or(0))
            .bind(version)
            .bind(change.now)
            .execute(&mut *conn)
            .await?;
        }
        FollowUpEvent::FollowUpReassigned(reassigned) => {
            sqlx::query(
                "UPDATE follow_ups SET assignee = $3, version = $4, updated_at = $5
                  WHERE tenant_id = $1 AND follow_up_id = $2",
            )
            .bind(key.0)
            .bind(key.1)
            .bind(reassigned.assignee.as_str())
            .bind(version)
            .bind(change.now)
            .execute(&mut *conn)
            .await?;
        }
        FollowUpEvent::FollowUpCancelled(cancelled) => {
            sqlx::query(
                "UPDATE follow_ups SET status = 'cancelled', cancel_reason = $3, version = $4,
                        updated_at = $5
                  WHERE tenant_id = $1 AND follow_up_id = $2",
            )
            .bind(key.0)
            .bind(key.1)
            .bind(cancelled.reason.as_str())
            .bind(version)
            .bind(change.now)
            .execute(&mut *conn)
            .await?;
        }
        FollowUpEvent::FollowUpCompleted(completed) => {
            sqlx::query(
                "UPDATE follow_ups SET status = 'done', outcome = $3, completed_at = $4,
                        completed_by = $5, version = $6, updated_at = $7
                  WHERE tenant_id = $1 AND follow_up_id = $2",
            )
            .bind(key.0)
            .bind(key.1)
            .bind(completed.outcome.as_ref().map(stored_text))
            .bind(completed.completed_at)
            .bind(change.actor)
            .bind(version)
            .bind(change.now)
            .execute(&mut *conn)
            .await?;
        }
    }
    match (after.reminder_due(), after.assignee(), after.due_at()) {
        (Some(fire_at), Some(assignee), Some(due_at)) => {
            sqlx::query(
                "INSERT INTO follow_up_reminders (tenant_id, follow_up_id, fire_at, due_at, assignee)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, follow_up_id)
                 DO UPDATE SET fire_at = EXCLUDED.fire_at, due_at = EXCLUDED.due_at,
                               assignee = EXCLUDED.assignee",
            )
            .bind(key.0)
            .bind(key.1)
            // A lead longer than the time left fires now, and on time:
            // only a reminder fired well after this instant is late.
            .bind(fire_at.max(change.now))
            .bind(due_at)
            .bind(assignee.as_str())
            .execute(&mut *conn)
            .await?;
        }
        _ => {
            sqlx::query(
                "DELETE FROM follow_up_reminders WHERE tenant_id = $1 AND follow_up_id = $2",
            )
            .bind(key.0)
            .bind(key.1)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// A personal field as the event stores it (sealed): its JSON string.
fn stored_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

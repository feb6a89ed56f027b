//! The decision rules: whether a command on a follow-up is allowed, and
//! which event (if any) it becomes.
//!
//! In order: an auditor changes nothing; the follow-up must exist in the
//! actor's tenant (otherwise "not found"; who else may see it is the
//! service's check, which knows the customer and the teams); `If-Match` must
//! name its version. Repeating a completion or a cancellation, or a change
//! to what it already is, appends nothing. Only open follow-ups change.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use events::follow_up::{
    FollowUpCancelled, FollowUpCompleted, FollowUpEvent, FollowUpReassigned, FollowUpRescheduled,
    FollowUpScheduled,
};
use events::personal::Personal;
use events::values::OccurredAt;
use events::Role;

use super::commands::{FollowUpAction, FollowUpCommand, Plan};
use super::error::{invalid, FollowUpError};
use super::state::{FollowUp, FollowUpState, Status};
use crate::aggregate::{Actor, MAX_FUTURE_SKEW};

/// A due time may lie this far in the past (a phone's clock, the minute the
/// form took to fill in); earlier is a mistake.
pub const DUE_PAST_GRACE: Duration = Duration::minutes(1);
/// A due time at most this far ahead.
pub const MAX_DUE_AHEAD: Duration = Duration::days(2 * 366);

impl FollowUp {
    pub(super) fn decide(
        &self,
        command: FollowUpCommand,
    ) -> Result<Option<FollowUpEvent>, FollowUpError> {
        let FollowUpCommand {
            actor,
            now,
            expected_version,
            action,
        } = command;
        if actor.role == Role::Auditor {
            return Err(FollowUpError::Forbidden(
                "role auditor is read-only".to_owned(),
            ));
        }
        let schedule = matches!(action, FollowUpAction::Schedule(_));
        let visible = self
            .state
            .as_ref()
            .is_some_and(|state| state.tenant_id == actor.tenant_id);
        if !visible && !schedule {
            return Err(FollowUpError::NotFound);
        }
        if let Some(expected) = expected_version {
            if expected != self.version {
                return Err(FollowUpError::VersionMismatch {
                    expected,
                    actual: self.version,
                });
            }
        }
        match (action, &self.state) {
            (FollowUpAction::Schedule(plan), None) => schedule_event(&actor, now, plan).map(Some),
            (FollowUpAction::Schedule(_), Some(_)) => Err(FollowUpError::AlreadyExists),
            (action, Some(state)) => state.decide(&actor, now, action),
            (_, None) => Err(FollowUpError::NotFound),
        }
    }
}

fn schedule_event(
    actor: &Actor,
    now: DateTime<Utc>,
    plan: Plan,
) -> Result<FollowUpEvent, FollowUpError> {
    let assignee = match plan.assignee {
        Some(assignee) if actor.role == Role::Rep && assignee != actor.user_id => {
            return Err(FollowUpError::Forbidden(
                "a rep schedules follow-ups for itself".to_owned(),
            ))
        }
        Some(assignee) => assignee,
        None => actor.user_id.clone(),
    };
    check_due(plan.due_at, now)?;
    Ok(FollowUpEvent::FollowUpScheduled(FollowUpScheduled {
        tenant_id: actor.tenant_id,
        customer_id: plan.customer_id,
        activity_type: plan.activity_type,
        subject: plan.subject,
        notes: plan.notes.map(Personal::Clear),
        due_at: plan.due_at,
        assignee,
        remind_before_minutes: plan.remind_before,
        opportunity_id: plan.opportunity_id,
    }))
}

fn check_due(due_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), FollowUpError> {
    if due_at < now - DUE_PAST_GRACE {
        return Err(invalid(
            "due_at",
            format!("must not be in the past (it is {} now)", rfc3339(now)),
        ));
    }
    if due_at > now + MAX_DUE_AHEAD {
        return Err(invalid("due_at", "must be within two years from now"));
    }
    Ok(())
}

fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl FollowUpState {
    fn decide(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        action: FollowUpAction,
    ) -> Result<Option<FollowUpEvent>, FollowUpError> {
        match (&action, self.status) {
            (FollowUpAction::Complete { .. }, Status::Completed)
            | (FollowUpAction::Cancel { .. }, Status::Cancelled) => return Ok(None),
            (_, Status::Completed) => {
                return Err(FollowUpError::Rule(
                    "the follow-up is completed and no longer changes".to_owned(),
                ))
            }
            (_, Status::Cancelled) => {
                return Err(FollowUpError::Rule(
                    "the follow-up is cancelled and no longer changes".to_owned(),
                ))
            }
            (_, Status::Open) => {}
        }
        let event = match action {
            FollowUpAction::Schedule(_) => return Err(FollowUpError::AlreadyExists),
            FollowUpAction::Reschedule {
                due_at,
                remind_before,
                reason,
            } => {
                let remind_before = remind_before.unwrap_or(self.remind_before);
                if due_at == self.due_at && remind_before == self.remind_before {
                    return Ok(None);
                }
                check_due(due_at, now)?;
                FollowUpEvent::FollowUpRescheduled(FollowUpRescheduled {
                    due_at,
                    previous_due_at: self.due_at,
                    remind_before_minutes: remind_before,
                    reason,
                })
            }
            FollowUpAction::Reassign { assignee } => {
                if assignee == self.assignee {
                    return Ok(None);
                }
                if actor.role == Role::Rep {
                    return Err(FollowUpError::Forbidden(
                        "a rep does not hand follow-ups to others; a manager or an admin does"
                            .to_owned(),
                    ));
                }
                FollowUpEvent::FollowUpReassigned(FollowUpReassigned {
                    assignee,
                    previous_assignee: self.assignee.clone(),
                })
            }
            FollowUpAction::Cancel { reason } => {
                FollowUpEvent::FollowUpCancelled(FollowUpCancelled { reason })
            }
            FollowUpAction::Complete {
                outcome,
                completed_at,
            } => FollowUpEvent::FollowUpCompleted(FollowUpCompleted {
                outcome: outcome.map(Personal::Clear),
                completed_at: self.completed_at(completed_at, now)?,
            }),
        };
        Ok(Some(event))
    }

    /// When it was done: the stated instant or now, not in the future and
    /// not before it was scheduled (the activity it becomes must follow
    /// the customer's registration, which preceded the scheduling).
    fn completed_at(
        &self,
        stated: Option<OccurredAt>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, FollowUpError> {
        let at = stated.map_or(now, OccurredAt::instant);
        if at > now + MAX_FUTURE_SKEW {
            return Err(invalid(
                "completed_at",
                "must not be more than 5 minutes in the future",
            ));
        }
        if at < self.scheduled_at {
            return Err(invalid(
                "completed_at",
                format!(
                    "must not be before {}, when the follow-up was scheduled",
                    rfc3339(self.scheduled_at)
                ),
            ));
        }
        Ok(at)
    }
}

//! The FollowUp aggregate's state: what the rules need to know of a
//! follow-up, folded from its stream.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use events::follow_up::{FollowUpEvent, ReminderLead};
use events::values::{ActivityType, ShortText, UserId};

/// Where a follow-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Completed,
    Cancelled,
}

impl Status {
    /// The name read models and queries use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Completed => "done",
            Status::Cancelled => "cancelled",
        }
    }
}

/// The state the rules need; rebuilt from the stream on every command.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowUp {
    pub(super) version: u64,
    pub(super) state: Option<FollowUpState>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct FollowUpState {
    pub(super) tenant_id: Uuid,
    pub(super) customer_id: Uuid,
    pub(super) activity_type: ActivityType,
    pub(super) subject: ShortText,
    pub(super) assignee: UserId,
    pub(super) due_at: DateTime<Utc>,
    pub(super) remind_before: ReminderLead,
    pub(super) status: Status,
    /// When it was scheduled (the scheduling event's `occurred_at`): a
    /// completion is not dated before it.
    pub(super) scheduled_at: DateTime<Utc>,
}

impl FollowUp {
    /// Number of events applied: the stream's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn tenant_id(&self) -> Option<Uuid> {
        self.state.as_ref().map(|state| state.tenant_id)
    }

    pub fn customer_id(&self) -> Option<Uuid> {
        self.state.as_ref().map(|state| state.customer_id)
    }

    pub fn assignee(&self) -> Option<&UserId> {
        self.state.as_ref().map(|state| &state.assignee)
    }

    pub fn status(&self) -> Option<Status> {
        self.state.as_ref().map(|state| state.status)
    }

    pub fn activity_type(&self) -> Option<ActivityType> {
        self.state.as_ref().map(|state| state.activity_type)
    }

    pub fn subject(&self) -> Option<&ShortText> {
        self.state.as_ref().map(|state| &state.subject)
    }

    /// When the assignee is to be reminded, while the follow-up is open.
    pub fn reminder_due(&self) -> Option<DateTime<Utc>> {
        self.state
            .as_ref()
            .filter(|state| state.status == Status::Open)
            .map(|state| state.due_at - state.remind_before.duration())
    }

    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        self.state.as_ref().map(|state| state.due_at)
    }

    /// Folds one event that happened at `occurred_at`.
    pub fn apply(&mut self, event: FollowUpEvent, occurred_at: DateTime<Utc>) {
        self.version += 1;
        if let FollowUpEvent::FollowUpScheduled(scheduled) = event {
            self.state = Some(FollowUpState {
                tenant_id: scheduled.tenant_id,
                customer_id: scheduled.customer_id,
                activity_type: scheduled.activity_type,
                subject: scheduled.subject,
                assignee: scheduled.assignee,
                due_at: scheduled.due_at,
                remind_before: scheduled.remind_before_minutes,
                status: Status::Open,
                scheduled_at: occurred_at,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            // Only a corrupted stream starts without FollowUpScheduled; the
            // hash chain and the contiguity trigger make that impossible.
            return;
        };
        match event {
            FollowUpEvent::FollowUpScheduled(_) => {}
            FollowUpEvent::FollowUpRescheduled(rescheduled) => {
                state.due_at = rescheduled.due_at;
                state.remind_before = rescheduled.remind_before_minutes;
            }
            FollowUpEvent::FollowUpReassigned(reassigned) => state.assignee = reassigned.assignee,
            FollowUpEvent::FollowUpCancelled(_) => state.status = Status::Cancelled,
            FollowUpEvent::FollowUpCompleted(_) => state.status = Status::Completed,
        }
    }

    /// Decides `command` and applies the event it yields, if any (dated
    /// `occurred_at` of the event): one command as the service handles it.
    pub fn decide_and_apply(
        &mut self,
        command: super::FollowUpCommand,
    ) -> Result<Option<FollowUpEvent>, super::FollowUpError> {
        let now = command.now;
        let event = self.decide(command)?;
        if let Some(event) = &event {
            self.apply(event.clone(), occurred_at(event, now));
        }
        Ok(event)
    }
}

/// When an event decided at `now` happened: a completion when it says,
/// everything else when it is decided.
pub fn occurred_at(event: &FollowUpEvent, now: DateTime<Utc>) -> DateTime<Utc> {
    match event {
        FollowUpEvent::FollowUpCompleted(completed) => completed.completed_at,
        _ => now,
    }
}

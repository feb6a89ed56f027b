//! What a caller asks of a follow-up.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use events::follow_up::ReminderLead;
use events::values::{ActivityType, OccurredAt, ShortText, UserId};

use crate::aggregate::Actor;

/// A command with the context every rule needs; `now` is passed in so the
/// aggregate never reads a clock.
#[derive(Debug, Clone)]
pub struct FollowUpCommand {
    pub actor: Actor,
    pub now: DateTime<Utc>,
    /// From `If-Match`: the version the caller last saw.
    pub expected_version: Option<u64>,
    pub action: FollowUpAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FollowUpAction {
    Schedule(Plan),
    Reschedule {
        due_at: DateTime<Utc>,
        /// `None`: keep the lead time.
        remind_before: Option<ReminderLead>,
        reason: Option<ShortText>,
    },
    Reassign {
        assignee: UserId,
    },
    Cancel {
        reason: ShortText,
    },
    Complete {
        outcome: Option<ShortText>,
        /// When it happened; defaults to now.
        completed_at: Option<OccurredAt>,
    },
}

/// A new follow-up. The service has checked that the customer exists, is
/// visible to the actor and takes new facts, and that the assignee is an
/// active user of the tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub customer_id: Uuid,
    pub activity_type: ActivityType,
    pub subject: ShortText,
    pub notes: Option<ShortText>,
    pub due_at: DateTime<Utc>,
    /// `None`: the actor.
    pub assignee: Option<UserId>,
    pub remind_before: ReminderLead,
    pub opportunity_id: Option<Uuid>,
}

impl FollowUpAction {
    /// The command's name, recorded in event metadata.
    pub fn name(&self) -> &'static str {
        match self {
            FollowUpAction::Schedule(_) => "ScheduleFollowUp",
            FollowUpAction::Reschedule { .. } => "RescheduleFollowUp",
            FollowUpAction::Reassign { .. } => "ReassignFollowUp",
            FollowUpAction::Cancel { .. } => "CancelFollowUp",
            FollowUpAction::Complete { .. } => "CompleteFollowUp",
        }
    }
}

//! What a caller asks of a customer: the command, who issues it, and the
//! actions the aggregate knows.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use events::customer::CustomerProfileUpdated;
use events::values::{
    ActivityType, CustomerName, Email, Money, OccurredAt, OrderRef, Phone, Probability, ShortText,
    Stage, Tag, UserId,
};
use events::Role;

/// Who issues a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub tenant_id: Uuid,
    pub user_id: UserId,
    pub role: Role,
}

/// A command with the context every rule needs. `now` is passed in so the
/// aggregate never reads a clock.
#[derive(Debug, Clone)]
pub struct CustomerCommand {
    pub actor: Actor,
    pub now: DateTime<Utc>,
    /// From `If-Match`: the version the caller last saw.
    pub expected_version: Option<u64>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Register(Registration),
    UpdateProfile(CustomerProfileUpdated),
    Assign {
        owner_id: UserId,
    },
    MoveStage {
        stage: Stage,
        deal_value: Option<Money>,
        probability: Option<Probability>,
        reason: Option<ShortText>,
        /// When the deal moved; defaults to now.
        occurred_at: Option<OccurredAt>,
    },
    LogActivity {
        activity_type: ActivityType,
        subject: Option<ShortText>,
        notes: Option<ShortText>,
        occurred_at: Option<OccurredAt>,
        value: Option<Money>,
    },
    RecordPurchase {
        amount: Money,
        category: ShortText,
        occurred_at: Option<OccurredAt>,
        order_ref: Option<OrderRef>,
    },
    Tag(Tag),
    Untag(Tag),
    Archive {
        reason: Option<ShortText>,
    },
    /// Erase the customer's personal data (admin only).
    Forget {
        reason: ShortText,
    },
}

impl Action {
    /// The command's name, recorded in event metadata.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Register(_) => "RegisterCustomer",
            Action::UpdateProfile(_) => "UpdateProfile",
            Action::Assign { .. } => "AssignCustomer",
            Action::MoveStage { .. } => "MoveStage",
            Action::LogActivity { .. } => "LogActivity",
            Action::RecordPurchase { .. } => "RecordPurchase",
            Action::Tag(_) => "TagCustomer",
            Action::Untag(_) => "UntagCustomer",
            Action::Archive { .. } => "ArchiveCustomer",
            Action::Forget { .. } => "ForgetCustomer",
        }
    }

    /// When the fact the action records happened, as its caller states it:
    /// registrations, stage moves, activities and purchases may be dated in
    /// the past; every other action is bookkeeping and happens when it is
    /// decided.
    pub fn stated_occurred_at(&self) -> Option<OccurredAt> {
        match self {
            Action::Register(registration) => registration.occurred_at,
            Action::MoveStage { occurred_at, .. }
            | Action::LogActivity { occurred_at, .. }
            | Action::RecordPurchase { occurred_at, .. } => *occurred_at,
            _ => None,
        }
    }

    /// When the action's event happens if it is decided at `now`: the
    /// stated instant, otherwise `now`. The event's `occurred_at` (its
    /// metadata, the store's column, the CloudEvents `time`).
    pub fn occurred_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.stated_occurred_at().map_or(now, OccurredAt::instant)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub name: CustomerName,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub company: Option<ShortText>,
    pub industry: Option<ShortText>,
    pub position: Option<ShortText>,
    pub source: Option<ShortText>,
    pub owner_id: Option<UserId>,
    pub tags: Vec<Tag>,
    pub deal_value: Option<Money>,
    /// When the customer relationship began (an imported customer's first
    /// contact, a lead met at last month's fair); defaults to now.
    pub occurred_at: Option<OccurredAt>,
}

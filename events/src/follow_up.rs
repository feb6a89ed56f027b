//! Follow-up events, version 1: a planned activity on a customer, with an
//! assignee and a due time, until it is completed or cancelled. Stored
//! payloads are never edited: a changed payload becomes a new version with an
//! upcaster.
//!
//! A follow-up is its own stream (`aggregate_type` "FollowUp", a UUID), not
//! part of its customer's: rescheduling a call is no fact about the customer,
//! and keeping it apart means a busy customer's stream (and its optimistic
//! concurrency) is not contended by its follow-ups. Completing one is a
//! fact about the customer too: a policy then logs the activity on the
//! customer's stream, exactly once (see `command::follow_up`).
//!
//! Notes and the outcome are free text about the customer, so they are
//! sealed with the customer's data key: forgetting the customer erases them.

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::customer::V1;
use crate::personal::{DataKey, Personal};
use crate::values::{ActivityType, InvalidValue, ShortText, UserId};

/// Every event type name, as stored in `event_type` and used as the payload's tag.
pub const EVENT_TYPES: [&str; 5] = [
    "FollowUpScheduled",
    "FollowUpRescheduled",
    "FollowUpReassigned",
    "FollowUpCancelled",
    "FollowUpCompleted",
];

/// How long before the due time the assignee is reminded, in whole minutes:
/// 0 (at the due time) to a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct ReminderLead(u32);

impl ReminderLead {
    /// A week, in minutes.
    pub const MAX_MINUTES: u32 = 7 * 24 * 60;
    /// At the due time.
    pub const AT_DUE_TIME: ReminderLead = ReminderLead(0);

    pub fn minutes(minutes: u32) -> Result<Self, InvalidValue> {
        if minutes > Self::MAX_MINUTES {
            return Err(InvalidValue(format!(
                "must be 0 to {} minutes (a week)",
                Self::MAX_MINUTES
            )));
        }
        Ok(Self(minutes))
    }

    pub fn as_minutes(self) -> u32 {
        self.0
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.0))
    }
}

impl TryFrom<u32> for ReminderLead {
    type Error = InvalidValue;
    fn try_from(minutes: u32) -> Result<Self, Self::Error> {
        Self::minutes(minutes)
    }
}

impl From<ReminderLead> for u32 {
    fn from(lead: ReminderLead) -> u32 {
        lead.0
    }
}

impl fmt::Display for ReminderLead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} min", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum FollowUpEvent {
    FollowUpScheduled(FollowUpScheduled),
    FollowUpRescheduled(FollowUpRescheduled),
    FollowUpReassigned(FollowUpReassigned),
    FollowUpCancelled(FollowUpCancelled),
    FollowUpCompleted(FollowUpCompleted),
}

/// Someone planned an activity on a customer for `assignee` at `due_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowUpScheduled {
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    #[serde(rename = "type")]
    pub activity_type: ActivityType,
    pub subject: ShortText,
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub notes: Option<Personal<ShortText>>,
    pub due_at: DateTime<Utc>,
    pub assignee: UserId,
    #[schema(value_type = u32, minimum = 0, maximum = 10080)]
    pub remind_before_minutes: ReminderLead,
    /// The deal it is about, once opportunities exist.
    pub opportunity_id: Option<Uuid>,
}

/// The due time (and with it the reminder) moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowUpRescheduled {
    pub due_at: DateTime<Utc>,
    pub previous_due_at: DateTime<Utc>,
    #[schema(value_type = u32, minimum = 0, maximum = 10080)]
    pub remind_before_minutes: ReminderLead,
    pub reason: Option<ShortText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowUpReassigned {
    pub assignee: UserId,
    pub previous_assignee: UserId,
}

/// It will not happen; nobody is reminded of it any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowUpCancelled {
    pub reason: ShortText,
}

/// It happened. The activity it becomes on the customer's stream is logged
/// by a policy, keyed by this follow-up, so exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowUpCompleted {
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub outcome: Option<Personal<ShortText>>,
    /// When it happened (the event's `occurred_at`); at or before its recording.
    pub completed_at: DateTime<Utc>,
}

impl FollowUpEvent {
    /// The stable name stored in `event_type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            FollowUpEvent::FollowUpScheduled(_) => "FollowUpScheduled",
            FollowUpEvent::FollowUpRescheduled(_) => "FollowUpRescheduled",
            FollowUpEvent::FollowUpReassigned(_) => "FollowUpReassigned",
            FollowUpEvent::FollowUpCancelled(_) => "FollowUpCancelled",
            FollowUpEvent::FollowUpCompleted(_) => "FollowUpCompleted",
        }
    }

    /// Whether the event carries personal fields (and so needs the
    /// customer's data key).
    pub fn has_personal_data(&self) -> bool {
        match self {
            FollowUpEvent::FollowUpScheduled(scheduled) => scheduled.notes.is_some(),
            FollowUpEvent::FollowUpCompleted(completed) => completed.outcome.is_some(),
            _ => false,
        }
    }

    /// Seals every personal field with the data key of the customer the
    /// follow-up is about.
    pub fn seal_personal(&mut self, key: &DataKey, customer: Uuid) {
        match self {
            FollowUpEvent::FollowUpScheduled(scheduled) => scheduled
                .notes
                .iter_mut()
                .for_each(|notes| notes.seal(key, customer)),
            FollowUpEvent::FollowUpCompleted(completed) => completed
                .outcome
                .iter_mut()
                .for_each(|outcome| outcome.seal(key, customer)),
            _ => {}
        }
    }
}

impl DomainEvent for FollowUpEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        V1.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::{assert_samples_match_schemas, round_trips};
    use crate::values::TextField;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 8, hour, 0, 0)
            .single()
            .expect("instant")
    }

    pub(crate) fn samples() -> Vec<FollowUpEvent> {
        let text = |field: TextField, raw: &str| field.parse(raw).expect("text");
        let login = |raw: &str| UserId::parse(raw).expect("login");
        vec![
            FollowUpEvent::FollowUpScheduled(FollowUpScheduled {
                tenant_id: Uuid::from_u128(0x11),
                customer_id: Uuid::from_u128(0x22),
                activity_type: ActivityType::Call,
                subject: text(TextField::SUBJECT, "回访报价"),
                notes: Some(Personal::Clear(text(TextField::NOTES, "问一下预算"))),
                due_at: at(9),
                assignee: login("rep-zhang"),
                remind_before_minutes: ReminderLead::minutes(15).expect("lead"),
                opportunity_id: None,
            }),
            FollowUpEvent::FollowUpRescheduled(FollowUpRescheduled {
                due_at: at(14),
                previous_due_at: at(9),
                remind_before_minutes: ReminderLead::AT_DUE_TIME,
                reason: Some(text(TextField::REASON, "客户出差")),
            }),
            FollowUpEvent::FollowUpReassigned(FollowUpReassigned {
                assignee: login("rep-li"),
                previous_assignee: login("rep-zhang"),
            }),
            FollowUpEvent::FollowUpCancelled(FollowUpCancelled {
                reason: text(TextField::REASON, "客户已签约"),
            }),
            FollowUpEvent::FollowUpCompleted(FollowUpCompleted {
                outcome: Some(Personal::Clear(text(TextField::OUTCOME, "同意下周见面"))),
                completed_at: at(15),
            }),
        ]
    }

    macro_rules! round_trip_test {
        ($($test:ident: $type_name:literal),* $(,)?) => {$(
            #[test]
            fn $test() {
                round_trips(&samples(), $type_name, FollowUpEvent::type_name);
            }
        )*};
    }

    round_trip_test!(
        scheduled_round_trips: "FollowUpScheduled",
        rescheduled_round_trips: "FollowUpRescheduled",
        reassigned_round_trips: "FollowUpReassigned",
        cancelled_round_trips: "FollowUpCancelled",
        completed_round_trips: "FollowUpCompleted",
    );

    #[test]
    fn every_event_type_has_samples_and_only_free_text_is_personal() {
        let samples = samples();
        for type_name in EVENT_TYPES {
            assert!(samples.iter().any(|event| event.type_name() == type_name));
        }
        let personal: Vec<&str> = samples
            .iter()
            .filter(|event| event.has_personal_data())
            .map(FollowUpEvent::type_name)
            .collect();
        assert_eq!(personal, ["FollowUpScheduled", "FollowUpCompleted"]);
    }

    #[test]
    fn sealing_hides_notes_and_outcome() {
        let key = DataKey::generate();
        let customer = Uuid::from_u128(0x22);
        for mut event in samples() {
            event.seal_personal(&key, customer);
            let json = serde_json::to_string(&event).expect("json");
            assert!(!json.contains("问一下预算") && !json.contains("同意下周见面"));
        }
    }

    #[test]
    fn reminder_lead_is_zero_to_a_week_of_minutes() {
        assert!(ReminderLead::minutes(0).is_ok());
        assert!(ReminderLead::minutes(10_080).is_ok());
        assert!(ReminderLead::minutes(10_081).is_err());
        assert!(serde_json::from_str::<ReminderLead>("10081").is_err());
        assert!(serde_json::from_str::<ReminderLead>("-1").is_err());
        let lead: ReminderLead = serde_json::from_str("30").expect("lead");
        assert_eq!(lead.as_minutes(), 30);
    }

    #[test]
    fn stored_payloads_match_their_json_schemas() {
        let key = DataKey::generate();
        let stored = samples().into_iter().map(|mut event| {
            event.seal_personal(&key, Uuid::from_u128(0x22));
            (
                event.type_name(),
                serde_json::to_value(&event).expect("json"),
            )
        });
        assert_samples_match_schemas(&crate::schema::FOLLOW_UP, stored);
    }
}

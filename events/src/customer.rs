//! Customer events, version 1. Stored payloads are never edited: a changed
//! payload becomes a new version with an upcaster.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::personal::{DataKey, Personal};
use crate::values::{
    ActivityType, CustomerName, Email, Money, OrderRef, Phone, Probability, ShortText, Stage, Tag,
    UserId,
};

/// The version every v1 event type carries in `event_version`.
pub const V1: &str = "1";

/// Every event type name, as stored in `event_type` and used as the payload's tag.
pub const EVENT_TYPES: [&str; 10] = [
    "CustomerRegistered",
    "CustomerProfileUpdated",
    "CustomerAssigned",
    "CustomerStageMoved",
    "ActivityLogged",
    "PurchaseRecorded",
    "CustomerTagged",
    "CustomerUntagged",
    "CustomerArchived",
    "CustomerForgotten",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CustomerEvent {
    CustomerRegistered(CustomerRegistered),
    CustomerProfileUpdated(CustomerProfileUpdated),
    CustomerAssigned(CustomerAssigned),
    CustomerStageMoved(CustomerStageMoved),
    ActivityLogged(ActivityLogged),
    PurchaseRecorded(PurchaseRecorded),
    CustomerTagged(CustomerTagged),
    CustomerUntagged(CustomerUntagged),
    CustomerArchived(CustomerArchived),
    CustomerForgotten(CustomerForgotten),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerRegistered {
    pub tenant_id: Uuid,
    #[schema(value_type = crate::personal::PersonalField)]
    pub name: Personal<CustomerName>,
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub phone: Option<Personal<Phone>>,
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub email: Option<Personal<Email>>,
    pub company: Option<ShortText>,
    pub industry: Option<ShortText>,
    pub position: Option<ShortText>,
    pub source: Option<ShortText>,
    pub owner_id: UserId,
    pub tags: Vec<Tag>,
    pub deal_value: Money,
    pub stage: Stage,
    pub probability: Probability,
    /// When the customer relationship began: the event's `occurred_at`,
    /// which may be long before it was recorded (a customer entered after
    /// the fact).
    pub registered_at: DateTime<Utc>,
}

/// Only the fields that changed. For optional fields, `Some(None)` clears the value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerProfileUpdated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub name: Option<Personal<CustomerName>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub phone: Option<Option<Personal<Phone>>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub email: Option<Option<Personal<Email>>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    pub company: Option<Option<ShortText>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    pub industry: Option<Option<ShortText>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    pub position: Option<Option<ShortText>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    pub source: Option<Option<ShortText>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_value: Option<Money>,
}

impl CustomerProfileUpdated {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerAssigned {
    pub owner_id: UserId,
    pub previous_owner_id: UserId,
}

/// When the move happened is the event's `occurred_at` (its metadata, the
/// store's column, the CloudEvents `time`), as for every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerStageMoved {
    pub from: Stage,
    pub to: Stage,
    pub deal_value: Money,
    pub probability: Probability,
    pub reason: Option<ShortText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivityLogged {
    pub activity_id: Uuid,
    #[serde(rename = "type")]
    pub activity_type: ActivityType,
    pub subject: Option<ShortText>,
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub notes: Option<Personal<ShortText>>,
    /// When the activity happened (the event's `occurred_at`).
    pub occurred_at: DateTime<Utc>,
    pub value: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurchaseRecorded {
    pub purchase_id: Uuid,
    pub amount: Money,
    pub category: ShortText,
    /// When the purchase happened (the event's `occurred_at`).
    pub occurred_at: DateTime<Utc>,
    pub order_ref: Option<OrderRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerTagged {
    pub tag: Tag,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerUntagged {
    pub tag: Tag,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerArchived {
    pub reason: Option<ShortText>,
}

/// The customer's personal data was erased on request (PIPL, GDPR): its data
/// key is destroyed, so every sealed field of its stream reads as erased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerForgotten {
    pub reason: ShortText,
}

impl CustomerEvent {
    /// The stable name stored in `event_type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            CustomerEvent::CustomerRegistered(_) => "CustomerRegistered",
            CustomerEvent::CustomerProfileUpdated(_) => "CustomerProfileUpdated",
            CustomerEvent::CustomerAssigned(_) => "CustomerAssigned",
            CustomerEvent::CustomerStageMoved(_) => "CustomerStageMoved",
            CustomerEvent::ActivityLogged(_) => "ActivityLogged",
            CustomerEvent::PurchaseRecorded(_) => "PurchaseRecorded",
            CustomerEvent::CustomerTagged(_) => "CustomerTagged",
            CustomerEvent::CustomerUntagged(_) => "CustomerUntagged",
            CustomerEvent::CustomerArchived(_) => "CustomerArchived",
            CustomerEvent::CustomerForgotten(_) => "CustomerForgotten",
        }
    }

    /// Whether the event carries personal fields (and so needs the data key).
    pub fn has_personal_data(&self) -> bool {
        match self {
            CustomerEvent::CustomerRegistered(_) => true,
            CustomerEvent::CustomerProfileUpdated(update) => {
                update.name.is_some() || update.phone.is_some() || update.email.is_some()
            }
            CustomerEvent::ActivityLogged(activity) => activity.notes.is_some(),
            _ => false,
        }
    }

    /// Seals every personal field with the customer's data key.
    pub fn seal_personal(&mut self, key: &DataKey, customer: Uuid) {
        match self {
            CustomerEvent::CustomerRegistered(registered) => {
                registered.name.seal(key, customer);
                registered
                    .phone
                    .iter_mut()
                    .for_each(|phone| phone.seal(key, customer));
                registered
                    .email
                    .iter_mut()
                    .for_each(|email| email.seal(key, customer));
            }
            CustomerEvent::CustomerProfileUpdated(update) => {
                update
                    .name
                    .iter_mut()
                    .for_each(|name| name.seal(key, customer));
                update
                    .phone
                    .iter_mut()
                    .flatten()
                    .for_each(|phone| phone.seal(key, customer));
                update
                    .email
                    .iter_mut()
                    .flatten()
                    .for_each(|email| email.seal(key, customer));
            }
            CustomerEvent::ActivityLogged(activity) => {
                activity
                    .notes
                    .iter_mut()
                    .for_each(|notes| notes.seal(key, customer));
            }
            _ => {}
        }
    }
}

impl DomainEvent for CustomerEvent {
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

    #[test]
    fn profile_update_distinguishes_absent_from_cleared() {
        let update = CustomerProfileUpdated {
            phone: Some(None),
            ..Default::default()
        };
        let json = serde_json::to_string(&update).expect("serialise");
        assert_eq!(json, r#"{"phone":null}"#);
        let back: CustomerProfileUpdated = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, update);
        let empty: CustomerProfileUpdated = serde_json::from_str("{}").expect("deserialise");
        assert!(empty.is_empty());
    }
}

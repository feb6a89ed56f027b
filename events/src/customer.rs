//! Customer events, version 1. Stored payloads are never edited: a changed
//! payload becomes a new version with an upcaster.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{
    ActivityType, CustomerName, Email, Money, OrderRef, Phone, Probability, ShortText, Stage, Tag,
    UserId,
};

/// The version every v1 event type carries in `event_version`.
pub const V1: &str = "1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRegistered {
    pub tenant_id: Uuid,
    pub name: CustomerName,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub company: Option<ShortText>,
    pub industry: Option<ShortText>,
    pub position: Option<ShortText>,
    pub source: Option<ShortText>,
    pub owner_id: UserId,
    pub tags: Vec<Tag>,
    pub deal_value: Money,
    pub stage: Stage,
    pub probability: Probability,
    pub registered_at: DateTime<Utc>,
}

/// Only the fields that changed. For optional fields, `Some(None)` clears the value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerProfileUpdated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<CustomerName>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    pub phone: Option<Option<Phone>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    pub email: Option<Option<Email>>,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerAssigned {
    pub owner_id: UserId,
    pub previous_owner_id: UserId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerStageMoved {
    pub from: Stage,
    pub to: Stage,
    pub deal_value: Money,
    pub probability: Probability,
    pub reason: Option<ShortText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityLogged {
    pub activity_id: Uuid,
    #[serde(rename = "type")]
    pub activity_type: ActivityType,
    pub subject: Option<ShortText>,
    pub notes: Option<ShortText>,
    pub occurred_at: DateTime<Utc>,
    pub value: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseRecorded {
    pub purchase_id: Uuid,
    pub amount: Money,
    pub category: ShortText,
    pub occurred_at: DateTime<Utc>,
    pub order_ref: Option<OrderRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerTagged {
    pub tag: Tag,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerUntagged {
    pub tag: Tag,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerArchived {
    pub reason: Option<ShortText>,
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

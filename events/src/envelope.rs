//! The envelope analysts receive (HTTP stream and Kafka alike): CloudEvents
//! 1.0, structured JSON mode, with the store's position and hash, plus two
//! extension attributes (`actor`, `recordedtime`) that read models need.
//!
//! Personal fields never travel in clear. The HTTP stream withholds them (or
//! shows them erased); the Kafka topic carries them sealed, exactly as stored,
//! so Kafka-fed projectors holding the key store can open them, and destroying
//! a customer's key makes every copy on the topic unreadable too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use crate::personal::WITHHELD;
use crate::personal::{Sealed, ERASED};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CloudEvent {
    /// Always "1.0".
    pub specversion: String,
    /// The event id (consumers deduplicate on it).
    pub id: Uuid,
    /// `urn:crm:tenant:<tenant id>`.
    pub source: String,
    /// `crm.<customer|user|team>.<event>.v<version>`, e.g.
    /// `crm.customer.stage_moved.v1`, `crm.user.invited.v1`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The aggregate's id: the customer, user or team (a UUID).
    pub subject: String,
    /// When the fact happened: the date a registration, stage move,
    /// activity or purchase was given (possibly long before `recordedtime`),
    /// otherwise when the event was decided.
    pub time: DateTime<Utc>,
    pub datacontenttype: String,
    pub tenantid: Uuid,
    /// Position in the aggregate's stream (1, 2, …).
    pub sequence: i64,
    /// Global position in the store; pass the last one back as `after`.
    pub position: i64,
    /// Hex SHA-256 of the event in its stream's hash chain.
    pub hash: String,
    /// Who caused the event (user id from the token; `system` for the service's own).
    pub actor: String,
    /// When the store recorded the event (what the system knew when).
    pub recordedtime: DateTime<Utc>,
    /// The event's fields; personal fields are sealed, withheld or erased.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// How an envelope carries personal fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalFields {
    /// Replaced by [`WITHHELD`] while the key exists, by [`ERASED`] after.
    Withhold { key_exists: bool },
    /// Left sealed, as stored (the Kafka topic).
    Sealed,
}

use crate::family::cloud_type_of;
pub use crate::family::stored_type;

/// What a stored event row provides for its envelope.
pub struct StoredParts<'a> {
    pub event_id: Uuid,
    pub tenant_id: Uuid,
    /// The store's `aggregate_type` (`Customer`, `User`, `Team`).
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub position: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: &'a str,
    pub hash: &'a [u8],
    /// The stored payload (`{"<EventType>": {...}}`).
    pub payload: Value,
    pub personal: PersonalFields,
}

impl CloudEvent {
    pub fn from_stored(parts: StoredParts<'_>) -> Self {
        let mut data = match parts.payload {
            Value::Object(mut wrapper) => wrapper.remove(parts.event_type).unwrap_or(Value::Null),
            other => other,
        };
        if let PersonalFields::Withhold { key_exists } = parts.personal {
            redact(&mut data, if key_exists { WITHHELD } else { ERASED });
        }
        CloudEvent {
            specversion: "1.0".to_owned(),
            id: parts.event_id,
            source: format!("urn:crm:tenant:{}", parts.tenant_id),
            event_type: cloud_type_of(parts.aggregate_type, parts.event_type, parts.event_version),
            subject: parts.aggregate_id.to_owned(),
            time: parts.occurred_at,
            datacontenttype: "application/json".to_owned(),
            tenantid: parts.tenant_id,
            sequence: parts.sequence,
            position: parts.position,
            hash: hex::encode(parts.hash),
            actor: parts.actor.to_owned(),
            recordedtime: parts.recorded_at,
            data,
        }
    }
}

fn redact(value: &mut Value, marker: &str) {
    match value {
        Value::String(text) if Sealed::is_sealed(text) => *text = marker.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, marker)),
        Value::Object(fields) => fields.values_mut().for_each(|field| redact(field, marker)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_fields_never_leave_in_clear() {
        let key = crate::personal::DataKey::generate();
        let customer = Uuid::new_v4();
        let sealed = String::from(key.seal("张三", customer));
        let parts = |personal| StoredParts {
            event_id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            aggregate_type: "Customer",
            aggregate_id: "c",
            sequence: 1,
            position: 7,
            event_type: "CustomerRegistered",
            event_version: "1",
            occurred_at: Utc::now(),
            recorded_at: Utc::now(),
            actor: "rep-1",
            hash: &[0xab, 0x01],
            payload: serde_json::json!({"CustomerRegistered": {"name": sealed, "company": "星辰科技"}}),
            personal,
        };
        let event = CloudEvent::from_stored(parts(PersonalFields::Withhold { key_exists: true }));
        assert_eq!(event.event_type, "crm.customer.registered.v1");
        assert_eq!(event.data["name"], WITHHELD);
        assert_eq!(event.data["company"], "星辰科技");
        assert_eq!(event.hash, "ab01");
        let erased = CloudEvent::from_stored(parts(PersonalFields::Withhold { key_exists: false }));
        assert_eq!(erased.data["name"], ERASED);
        let on_kafka = CloudEvent::from_stored(parts(PersonalFields::Sealed));
        assert_eq!(on_kafka.data["name"], sealed.as_str());
        assert_eq!(on_kafka.data["company"], "星辰科技");
    }
}

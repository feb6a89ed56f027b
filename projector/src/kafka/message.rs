//! A message of the topic as the projector sees it: the CloudEvents envelope
//! decoded back into the stored event the projections fold, or, when it does
//! not decode, what can still be told of it for the dead letter.

use rdkafka::message::Message;
use uuid::Uuid;

use events::envelope::{stored_type, CloudEvent};
use events::CustomerEvent;
use store::source::{Checkpoint, SourceError, StoredEvent};

/// One message of the topic, decoded, or why it does not decode (then it is
/// dead-lettered and passed: decoding it again would fail the same way).
/// `Ok(None)` is an event of a family the projections do not read (a user's
/// or a team's): passed, its offset stored like any other.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub event: Result<Option<StoredEvent>, Unreadable>,
}

impl Delivered {
    /// The customer event to fold, if the message is one.
    pub fn customer_event(&self) -> Option<&StoredEvent> {
        self.event.as_ref().ok().and_then(Option::as_ref)
    }
}

/// A message that is not an event this version can read.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// The envelope's `position`, 0 when the message is not an envelope.
    pub position: i64,
    pub event_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub aggregate_id: Option<String>,
    pub reason: String,
}

/// Turns a message value (the CloudEvents envelope) back into the event the
/// projections fold (`None` for a user's or a team's event, which they do
/// not read). Personal fields arrive sealed, as stored.
pub fn decode(payload: &[u8]) -> Result<Option<StoredEvent>, SourceError> {
    let envelope: CloudEvent =
        serde_json::from_slice(payload).map_err(|error| SourceError::Undecodable {
            position: 0,
            reason: format!("not a CloudEvents envelope: {error}"),
        })?;
    let position = envelope.position;
    let undecodable = |reason: String| SourceError::Undecodable { position, reason };
    let (family, name, version) = stored_type(&envelope.event_type)
        .ok_or_else(|| undecodable(format!("unknown type {}", envelope.event_type)))?;
    if !family.is_customer() {
        return Ok(None);
    }
    if version != events::customer::V1 {
        return Err(undecodable(format!("unknown event version {version}")));
    }
    let tagged = serde_json::Value::Object(serde_json::Map::from_iter([(
        name.to_owned(),
        envelope.data,
    )]));
    let event: CustomerEvent =
        serde_json::from_value(tagged).map_err(|error| undecodable(error.to_string()))?;
    Ok(Some(StoredEvent {
        // Projections use the position only; commit order is Kafka's job here.
        checkpoint: Checkpoint { tx: 0, position },
        event_id: envelope.id,
        tenant_id: envelope.tenantid,
        customer_id: Uuid::parse_str(&envelope.subject)
            .map_err(|_| undecodable(format!("subject {} is not a UUID", envelope.subject)))?,
        sequence: envelope.sequence,
        actor: envelope.actor,
        occurred_at: envelope.time,
        recorded_at: envelope.recordedtime,
        event,
    }))
}

pub(super) fn delivered(message: &impl Message) -> Delivered {
    let payload = message.payload().unwrap_or_default();
    Delivered {
        partition: message.partition(),
        offset: message.offset(),
        event: decode(payload).map_err(|reason| unreadable(payload, reason)),
    }
}

/// What can be told of a message that does not decode.
fn unreadable(payload: &[u8], error: SourceError) -> Unreadable {
    #[derive(serde::Deserialize)]
    struct Known {
        position: Option<i64>,
        id: Option<Uuid>,
        tenantid: Option<Uuid>,
        subject: Option<String>,
    }
    let known = serde_json::from_slice::<Known>(payload).ok();
    let known = known.as_ref();
    Unreadable {
        position: known.and_then(|k| k.position).unwrap_or(0),
        event_id: known.and_then(|k| k.id),
        tenant_id: known.and_then(|k| k.tenantid),
        aggregate_id: known.and_then(|k| k.subject.clone()),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use events::envelope::{PersonalFields, StoredParts};
    use events::personal::DataKey;

    use super::*;

    #[test]
    fn an_envelope_on_the_topic_decodes_back_into_the_stored_event() {
        let key = DataKey::generate();
        let customer = Uuid::new_v4();
        let tenant = Uuid::new_v4();
        let sealed = String::from(key.seal("张三", customer));
        let occurred_at = Utc::now();
        let payload = serde_json::json!({"CustomerRegistered": {
            "tenant_id": tenant, "name": sealed, "phone": null, "email": null,
            "company": "星辰科技", "industry": null, "position": null, "source": null,
            "owner_id": "rep-1", "tags": [], "deal_value": "5000", "stage": "lead",
            "probability": 0.1, "registered_at": occurred_at,
        }});
        let envelope = CloudEvent::from_stored(StoredParts {
            event_id: Uuid::new_v4(),
            tenant_id: tenant,
            aggregate_type: "Customer",
            aggregate_id: &customer.to_string(),
            sequence: 1,
            position: 42,
            event_type: "CustomerRegistered",
            event_version: "1",
            occurred_at,
            recorded_at: occurred_at,
            actor: "rep-1",
            hash: &[1, 2],
            payload,
            personal: PersonalFields::Sealed,
        });
        let bytes = serde_json::to_vec(&envelope).expect("json");
        let stored = decode(&bytes).expect("decodes").expect("a customer event");
        assert_eq!(stored.event_id, envelope.id);
        assert_eq!(stored.customer_id, customer);
        assert_eq!(stored.tenant_id, tenant);
        assert_eq!(stored.sequence, 1);
        assert_eq!(stored.checkpoint.position, 42);
        assert_eq!(stored.actor, "rep-1");
        assert_eq!(stored.recorded_at, occurred_at);
        let CustomerEvent::CustomerRegistered(registered) = stored.event else {
            panic!("not a registration: {:?}", stored.event);
        };
        assert_eq!(
            registered.name.reveal(Some(&key), customer).as_deref(),
            Some("张三")
        );
    }

    #[test]
    fn foreign_or_broken_messages_are_refused_with_a_reason() {
        assert!(decode(b"not json").is_err());
        let unknown = serde_json::json!({
            "specversion": "1.0", "id": Uuid::new_v4(), "source": "x",
            "type": "crm.customer.teleported.v1", "subject": Uuid::new_v4().to_string(),
            "time": Utc::now(), "datacontenttype": "application/json",
            "tenantid": Uuid::new_v4(), "sequence": 1, "position": 7, "hash": "00",
            "actor": "a", "recordedtime": Utc::now(), "data": {},
        });
        let error = decode(unknown.to_string().as_bytes()).expect_err("unknown type");
        assert!(error.to_string().contains("teleported"), "{error}");
    }
}

//! The `timeline` projection: one entry per event, as the customer screen shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use events::CustomerEvent;

use crate::customers::insert_json;
use crate::source::StoredEvent;

pub const TABLES: &[&str] = &["rm_timeline"];

#[derive(Debug, Serialize)]
struct TimelineRow {
    customer_id: Uuid,
    sequence: i64,
    tenant_id: Uuid,
    position: i64,
    kind: &'static str,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    actor: String,
    details: Value,
}

/// The entry kind the timeline shows for an event.
pub fn kind(event: &CustomerEvent) -> &'static str {
    match event {
        CustomerEvent::CustomerRegistered(_) => "registered",
        CustomerEvent::CustomerProfileUpdated(_) => "profile_updated",
        CustomerEvent::CustomerAssigned(_) => "owner_changed",
        CustomerEvent::CustomerStageMoved(_) => "stage_moved",
        CustomerEvent::ActivityLogged(_) => "activity",
        CustomerEvent::PurchaseRecorded(_) => "purchase",
        CustomerEvent::CustomerTagged(_) => "tagged",
        CustomerEvent::CustomerUntagged(_) => "untagged",
        CustomerEvent::CustomerArchived(_) => "archived",
    }
}

/// The event's own fields (without the enum wrapper).
fn details(event: &CustomerEvent) -> Value {
    match serde_json::to_value(event) {
        Ok(Value::Object(mut wrapper)) => wrapper.remove(event.type_name()).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

pub async fn apply(
    conn: &mut PgConnection,
    suffix: &str,
    batch: &[StoredEvent],
) -> Result<(), sqlx::Error> {
    let rows: Vec<TimelineRow> = batch
        .iter()
        .map(|stored| TimelineRow {
            customer_id: stored.customer_id,
            sequence: stored.sequence,
            tenant_id: stored.tenant_id,
            position: stored.checkpoint.position,
            kind: kind(&stored.event),
            occurred_at: stored.occurred_at,
            recorded_at: stored.recorded_at,
            actor: stored.actor.clone(),
            details: details(&stored.event),
        })
        .collect();
    insert_json(conn, &format!("rm_timeline{suffix}"), &rows, true).await
}

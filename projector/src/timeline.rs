//! The `timeline` projection: one entry per event, as the customer screen shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use std::collections::HashMap;

use events::personal::{DataKey, ERASED};
use events::CustomerEvent;

use crate::copy::{copy_rows, insert_json, CopyRow, CopyText, Rows};
use store::source::StoredEvent;

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

impl CopyRow for TimelineRow {
    const COLUMNS: &'static str =
        "customer_id, sequence, tenant_id, position, kind, occurred_at, recorded_at, actor, details";

    fn write(&self, line: &mut CopyText) {
        line.plain(self.customer_id);
        line.plain(self.sequence);
        line.plain(self.tenant_id);
        line.plain(self.position);
        line.text(self.kind);
        line.timestamp(self.occurred_at);
        line.timestamp(self.recorded_at);
        line.text(&self.actor);
        // Serialising a JSON value cannot fail.
        line.text(&crate::storable::to_json(&self.details).unwrap_or_default());
    }
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
        CustomerEvent::CustomerForgotten(_) => "forgotten",
    }
}

/// The event's own fields (without the enum wrapper).
fn details(event: &CustomerEvent) -> Value {
    match serde_json::to_value(event) {
        Ok(Value::Object(mut wrapper)) => wrapper.remove(event.type_name()).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Fields that hold personal data in event payloads.
const PERSONAL_FIELDS: &[&str] = &["name", "phone", "email", "notes"];

pub async fn apply(
    conn: &mut PgConnection,
    suffix: &str,
    batch: &[StoredEvent],
    keys: &HashMap<Uuid, Option<DataKey>>,
    existing_rows: Rows,
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
            details: {
                let mut details = details(&stored.event);
                let key = keys.get(&stored.customer_id).and_then(Option::as_ref);
                DataKey::reveal_json(key, stored.customer_id, &mut details);
                details
            },
        })
        .collect();
    let table = format!("rm_timeline{suffix}");
    match existing_rows {
        Rows::Fresh => copy_rows(&mut *conn, &table, &rows).await?,
        Rows::Existing => insert_json(&mut *conn, &table, &rows, true).await?,
    }
    let forgotten: Vec<Uuid> = batch
        .iter()
        .filter(|stored| matches!(stored.event, CustomerEvent::CustomerForgotten(_)))
        .map(|stored| stored.customer_id)
        .collect();
    if !forgotten.is_empty() {
        // Entries projected while the key existed show the data in clear:
        // erase exactly the personal fields that hold a value.
        sqlx::query(&format!(
            "UPDATE rm_timeline{suffix} t
                SET details = coalesce((
                    SELECT jsonb_object_agg(k, CASE WHEN k = ANY($2) AND v <> 'null'::jsonb
                                                    THEN to_jsonb($3::text) ELSE v END)
                      FROM jsonb_each(t.details) AS e(k, v)), '{{}}'::jsonb)
              WHERE customer_id = ANY($1)"
        ))
        .bind(&forgotten)
        .bind(PERSONAL_FIELDS)
        .bind(ERASED)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Removes the entries of `customers`, so that their streams can be folded
/// again from the first event.
pub(crate) async fn reset(conn: &mut PgConnection, customers: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rm_timeline WHERE customer_id = ANY($1)")
        .bind(customers)
        .execute(conn)
        .await?;
    Ok(())
}

//! The `customers` projection: one row per customer plus its purchases,
//! activities and completed funnel stays. A batch is folded in memory and
//! written with a handful of set-based statements. The funnel totals are
//! part of it ([`funnel`]).

pub(crate) mod funnel;
mod row;

pub use row::CustomerRow;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use events::values::Stage;
use events::CustomerEvent;

use events::personal::{DataKey, Personal, ERASED};

use crate::copy::{copy_rows, insert_json, CopyRow, CopyText, Rows};
use crate::profile::{Activity, Facts, Purchase};
use crate::search;
use funnel::Deltas;
use store::source::StoredEvent;

/// Tables this projection owns (rebuilds swap all of them together).
pub const TABLES: &[&str] = &[
    "rm_customers",
    "rm_purchases",
    "rm_activities",
    "rm_stage_stays",
    funnel::TABLE,
];

/// Where a stage's totals sit in `stay_micros`/`stay_counts` (0-based; SQL
/// arrays are 1-based): the order of [`Stage::ALL`].
pub fn stay_index(stage: Stage) -> usize {
    Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0)
}

/// Funnel progress rank; `closed_lost` is not progress.
pub fn rank(stage: Stage) -> Option<i16> {
    match stage {
        Stage::Lead => Some(0),
        Stage::Qualified => Some(1),
        Stage::Proposal => Some(2),
        Stage::Negotiation => Some(3),
        Stage::ClosedWon => Some(4),
        Stage::ClosedLost => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct PurchaseRow {
    customer_id: Uuid,
    sequence: i64,
    tenant_id: Uuid,
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    category: String,
    occurred_at: DateTime<Utc>,
    order_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct ActivityRow {
    customer_id: Uuid,
    sequence: i64,
    tenant_id: Uuid,
    activity_type: String,
    subject: Option<String>,
    occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct StayRow {
    customer_id: Uuid,
    sequence: i64,
    tenant_id: Uuid,
    stage: String,
    entered_at: DateTime<Utc>,
    left_at: DateTime<Utc>,
}

impl CopyRow for PurchaseRow {
    const COLUMNS: &'static str =
        "customer_id, sequence, tenant_id, amount, category, occurred_at, order_ref";

    fn write(&self, line: &mut CopyText) {
        line.plain(self.customer_id);
        line.plain(self.sequence);
        line.plain(self.tenant_id);
        line.plain(self.amount);
        line.text(&self.category);
        line.timestamp(self.occurred_at);
        line.optional_text(self.order_ref.as_deref());
    }
}

impl CopyRow for ActivityRow {
    const COLUMNS: &'static str =
        "customer_id, sequence, tenant_id, activity_type, subject, occurred_at";

    fn write(&self, line: &mut CopyText) {
        line.plain(self.customer_id);
        line.plain(self.sequence);
        line.plain(self.tenant_id);
        line.text(&self.activity_type);
        line.optional_text(self.subject.as_deref());
        line.timestamp(self.occurred_at);
    }
}

impl CopyRow for StayRow {
    const COLUMNS: &'static str = "customer_id, sequence, tenant_id, stage, entered_at, left_at";

    fn write(&self, line: &mut CopyText) {
        line.plain(self.customer_id);
        line.plain(self.sequence);
        line.plain(self.tenant_id);
        line.text(&self.stage);
        line.timestamp(self.entered_at);
        line.timestamp(self.left_at);
    }
}

/// What a batch changes.
#[derive(Debug, Default)]
struct Changes {
    /// Data keys of the batch's customers (`None`: erased).
    keys: HashMap<Uuid, Option<DataKey>>,
    customers: HashMap<Uuid, CustomerRow>,
    purchases: Vec<PurchaseRow>,
    activities: Vec<ActivityRow>,
    stays: Vec<StayRow>,
}

/// The probability at the column's scale (numeric(5,4)), so a replayed row
/// equals the stored one digit for digit.
fn probability_column(probability: events::values::Probability) -> Decimal {
    let mut value = probability.value();
    value.rescale(4);
    value
}

/// A personal field in clear, or [`ERASED`] once its key is destroyed.
fn reveal<T>(value: &Personal<T>, key: Option<&DataKey>, customer: Uuid) -> String
where
    T: Clone + Into<String> + TryFrom<String>,
{
    value
        .reveal(key, customer)
        .unwrap_or_else(|| ERASED.to_owned())
}

fn text<T: ToString>(value: &Option<T>) -> Option<String> {
    value.as_ref().map(ToString::to_string)
}

impl CustomerRow {
    fn registered(
        stored: &StoredEvent,
        event: &events::customer::CustomerRegistered,
        key: Option<&DataKey>,
    ) -> Self {
        let id = stored.customer_id;
        let mut row = CustomerRow {
            id: stored.customer_id,
            tenant_id: event.tenant_id,
            name: reveal(&event.name, key, id),
            phone: event.phone.as_ref().map(|phone| reveal(phone, key, id)),
            email: event.email.as_ref().map(|email| reveal(email, key, id)),
            company: text(&event.company),
            industry: text(&event.industry),
            position: text(&event.position),
            source: text(&event.source),
            owner_id: event.owner_id.to_string(),
            stage: event.stage.as_str().to_owned(),
            deal_value: event.deal_value.amount(),
            probability: probability_column(event.probability),
            tags: event.tags.iter().map(ToString::to_string).collect(),
            archived: false,
            registered_at: event.registered_at,
            stage_entered_at: event.registered_at,
            furthest_rank: rank(event.stage).unwrap_or(0),
            last_activity_at: None,
            last_contact_at: event.registered_at,
            purchase_count: 0,
            total_amount: Decimal::new(0, 2),
            first_purchase_at: None,
            last_purchase_at: None,
            search_bigrams: Vec::new(),
            search_text: String::new(),
            stay_micros: vec![0; Stage::ALL.len()],
            stay_counts: vec![0; Stage::ALL.len()],
            purchase_categories: Vec::new(),
            purchase_category_counts: Vec::new(),
            activity_types: Vec::new(),
            version: stored.sequence,
            last_position: stored.checkpoint.position,
        };
        row.index_search();
        row
    }

    fn index_search(&mut self) {
        let fields = [
            Some(self.name.as_str()),
            self.company.as_deref(),
            self.phone.as_deref(),
        ];
        self.search_text = search::searchable_text(fields.into_iter().flatten());
        self.search_bigrams = search::bigrams(&self.search_text);
    }
}

impl Changes {
    /// Applies one event; `row` is the customer's row before it (None before registration).
    fn apply(&mut self, stored: &StoredEvent) {
        let id = stored.customer_id;
        let key = self.keys.get(&id).cloned().flatten();
        let key = key.as_ref();
        if let CustomerEvent::CustomerRegistered(event) = &stored.event {
            self.customers
                .insert(id, CustomerRow::registered(stored, event, key));
            return;
        }
        let Some(row) = self.customers.get_mut(&id) else {
            tracing::warn!(customer_id = %id, sequence = stored.sequence, "event for an unknown customer skipped");
            return;
        };
        row.version = stored.sequence;
        row.last_position = stored.checkpoint.position;
        match &stored.event {
            CustomerEvent::CustomerRegistered(_) => {}
            CustomerEvent::CustomerProfileUpdated(update) => {
                if let Some(name) = &update.name {
                    row.name = reveal(name, key, id);
                }
                let set = |field: &mut Option<String>, value: Option<Option<String>>| {
                    if let Some(value) = value {
                        *field = value;
                    }
                };
                let revealed =
                    |value: &Option<Personal<_>>| value.as_ref().map(|v| reveal(v, key, id));
                set(&mut row.phone, update.phone.as_ref().map(revealed));
                set(
                    &mut row.email,
                    update
                        .email
                        .as_ref()
                        .map(|value| value.as_ref().map(|v| reveal(v, key, id))),
                );
                set(&mut row.company, update.company.as_ref().map(text));
                set(&mut row.industry, update.industry.as_ref().map(text));
                set(&mut row.position, update.position.as_ref().map(text));
                set(&mut row.source, update.source.as_ref().map(text));
                if let Some(deal_value) = update.deal_value {
                    row.deal_value = deal_value.amount();
                }
                row.index_search();
            }
            CustomerEvent::CustomerAssigned(assigned) => {
                row.owner_id = assigned.owner_id.to_string()
            }
            CustomerEvent::CustomerStageMoved(moved) => {
                self.stays.push(StayRow {
                    customer_id: id,
                    sequence: stored.sequence,
                    tenant_id: row.tenant_id,
                    stage: moved.from.as_str().to_owned(),
                    entered_at: row.stage_entered_at,
                    left_at: stored.occurred_at,
                });
                row.stage = moved.to.as_str().to_owned();
                let index = stay_index(moved.from);
                let stayed = (stored.occurred_at - row.stage_entered_at)
                    .num_microseconds()
                    .unwrap_or(i64::MAX);
                if let (Some(micros), Some(count)) = (
                    row.stay_micros.get_mut(index),
                    row.stay_counts.get_mut(index),
                ) {
                    *micros = micros.saturating_add(stayed);
                    *count += 1;
                }
                row.stage_entered_at = stored.occurred_at;
                row.deal_value = moved.deal_value.amount();
                row.probability = probability_column(moved.probability);
                if let Some(rank) = rank(moved.to) {
                    row.furthest_rank = row.furthest_rank.max(rank);
                }
            }
            CustomerEvent::ActivityLogged(activity) => {
                row.last_activity_at = row.last_activity_at.max(Some(activity.occurred_at));
                row.last_contact_at = row.last_contact_at.max(activity.occurred_at);
                let activity_type = activity.activity_type.as_str().to_owned();
                if !row.activity_types.contains(&activity_type) {
                    row.activity_types.push(activity_type.clone());
                }
                self.activities.push(ActivityRow {
                    customer_id: id,
                    sequence: stored.sequence,
                    tenant_id: row.tenant_id,
                    activity_type,
                    subject: text(&activity.subject),
                    occurred_at: activity.occurred_at,
                });
            }
            CustomerEvent::PurchaseRecorded(purchase) => {
                row.purchase_count += 1;
                row.total_amount += purchase.amount.amount();
                row.first_purchase_at =
                    Some(row.first_purchase_at.map_or(purchase.occurred_at, |first| {
                        first.min(purchase.occurred_at)
                    }));
                row.last_purchase_at = row.last_purchase_at.max(Some(purchase.occurred_at));
                row.last_contact_at = row.last_contact_at.max(purchase.occurred_at);
                let category = purchase.category.to_string();
                match row
                    .purchase_categories
                    .iter()
                    .position(|seen| *seen == category)
                    .and_then(|index| row.purchase_category_counts.get_mut(index))
                {
                    Some(count) => *count += 1,
                    None => {
                        row.purchase_categories.push(category);
                        row.purchase_category_counts.push(1);
                    }
                }
                self.purchases.push(PurchaseRow {
                    customer_id: id,
                    sequence: stored.sequence,
                    tenant_id: row.tenant_id,
                    amount: purchase.amount.amount(),
                    category: purchase.category.to_string(),
                    occurred_at: purchase.occurred_at,
                    order_ref: text(&purchase.order_ref),
                });
            }
            CustomerEvent::CustomerTagged(tagged) => {
                let tag = tagged.tag.to_string();
                if !row.tags.contains(&tag) {
                    row.tags.push(tag);
                }
            }
            CustomerEvent::CustomerUntagged(untagged) => {
                row.tags.retain(|tag| tag != untagged.tag.as_str());
            }
            CustomerEvent::CustomerArchived(_) => row.archived = true,
            CustomerEvent::CustomerForgotten(_) => {
                row.name = ERASED.to_owned();
                for field in [&mut row.phone, &mut row.email] {
                    if field.is_some() {
                        *field = Some(ERASED.to_owned());
                    }
                }
                row.index_search();
            }
        }
    }
}

/// The customer's row after `events` (one stream, in sequence order), exactly
/// as the projection builds it; `None` before registration.
pub fn replay(events: &[StoredEvent], key: Option<DataKey>) -> Option<CustomerRow> {
    let mut changes = Changes::default();
    if let Some(first) = events.first() {
        changes.keys.insert(first.customer_id, key);
    }
    for stored in events {
        changes.apply(stored);
    }
    changes.customers.into_values().next()
}

/// What the profile formulas read, from one stream's events.
pub fn facts(registered_at: DateTime<Utc>, events: &[StoredEvent]) -> Facts {
    let mut facts = Facts {
        registered_at,
        purchases: Vec::new(),
        activities: Vec::new(),
    };
    for stored in events {
        match &stored.event {
            CustomerEvent::PurchaseRecorded(purchase) => facts.purchases.push(Purchase {
                occurred_at: purchase.occurred_at,
                amount: purchase.amount.amount(),
                category: purchase.category.to_string(),
            }),
            CustomerEvent::ActivityLogged(activity) => facts.activities.push(Activity {
                occurred_at: activity.occurred_at,
                activity_type: activity.activity_type,
            }),
            _ => {}
        }
    }
    facts
}

/// Applies a batch to the tables named with `suffix` ("" live, "_rebuild" during a rebuild).
pub async fn apply(
    conn: &mut PgConnection,
    suffix: &str,
    batch: &[StoredEvent],
    keys: &HashMap<Uuid, Option<DataKey>>,
    existing_rows: Rows,
) -> Result<(), sqlx::Error> {
    let existing: Vec<CustomerRow> = if existing_rows == Rows::Existing {
        let mut ids: Vec<Uuid> = batch.iter().map(|stored| stored.customer_id).collect();
        ids.sort_unstable();
        ids.dedup();
        sqlx::query_as(&format!(
            "SELECT * FROM rm_customers{suffix} WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?
    } else {
        Vec::new()
    };
    let mut funnel = Deltas::default();
    for row in &existing {
        funnel.remove(row);
    }
    let mut changes = Changes {
        keys: keys.clone(),
        customers: existing.into_iter().map(|row| (row.id, row)).collect(),
        ..Changes::default()
    };
    for stored in batch {
        // Replay safety: an event the row already reflects changes nothing.
        let seen = changes
            .customers
            .get(&stored.customer_id)
            .is_some_and(|row| row.version >= stored.sequence);
        if !seen {
            changes.apply(stored);
        }
    }
    let rows: Vec<&CustomerRow> = changes.customers.values().collect();
    match existing_rows {
        Rows::Fresh => {
            copy_rows(conn, &format!("rm_customers{suffix}"), rows.iter().copied()).await?;
            copy_rows(conn, &format!("rm_purchases{suffix}"), &changes.purchases).await?;
            copy_rows(conn, &format!("rm_activities{suffix}"), &changes.activities).await?;
            copy_rows(conn, &format!("rm_stage_stays{suffix}"), &changes.stays).await?;
        }
        Rows::Existing => {
            for row in &rows {
                funnel.insert(row);
            }
            funnel.write(conn, suffix).await?;
            let touched: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
            sqlx::query(&format!(
                "DELETE FROM rm_customers{suffix} WHERE id = ANY($1)"
            ))
            .bind(&touched)
            .execute(&mut *conn)
            .await?;
            insert_json(conn, &format!("rm_customers{suffix}"), &rows, false).await?;
            insert_json(
                conn,
                &format!("rm_purchases{suffix}"),
                &changes.purchases,
                true,
            )
            .await?;
            insert_json(
                conn,
                &format!("rm_activities{suffix}"),
                &changes.activities,
                true,
            )
            .await?;
            insert_json(
                conn,
                &format!("rm_stage_stays{suffix}"),
                &changes.stays,
                true,
            )
            .await?;
        }
    }
    Ok(())
}

/// Removes the rows of `customers` (and their share of the funnel totals),
/// so that their streams can be folded again from the first event.
pub(crate) async fn reset(conn: &mut PgConnection, customers: &[Uuid]) -> Result<(), sqlx::Error> {
    let existing: Vec<CustomerRow> =
        sqlx::query_as("SELECT * FROM rm_customers WHERE id = ANY($1)")
            .bind(customers)
            .fetch_all(&mut *conn)
            .await?;
    let mut funnel = Deltas::default();
    for row in &existing {
        funnel.remove(row);
    }
    funnel.write(conn, "").await?;
    for (table, key) in [
        ("rm_customers", "id"),
        ("rm_purchases", "customer_id"),
        ("rm_activities", "customer_id"),
        ("rm_stage_stays", "customer_id"),
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE {key} = ANY($1)"))
            .bind(customers)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

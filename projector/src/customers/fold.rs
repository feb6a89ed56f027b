//! Folding events into rows in memory: a batch's events change its
//! customers' rows and append their history rows ([`Changes`]), exactly as
//! [`replay`] rebuilds one customer's row from its stream.

use std::collections::HashMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use events::personal::{DataKey, Personal, ERASED};
use events::values::Stage;
use events::CustomerEvent;
use store::source::StoredEvent;

use crate::search;

use super::history::{ActivityRow, PurchaseRow, StayRow};
use super::row::CustomerRow;
use super::stages::{rank, stay_index};

/// What a batch changes.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Data keys of the batch's customers (`None`: erased).
    pub(super) keys: HashMap<Uuid, Option<DataKey>>,
    pub(super) customers: HashMap<Uuid, CustomerRow>,
    pub(super) purchases: Vec<PurchaseRow>,
    pub(super) activities: Vec<ActivityRow>,
    pub(super) stays: Vec<StayRow>,
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
    pub(super) fn apply(&mut self, stored: &StoredEvent) {
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

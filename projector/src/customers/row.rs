//! A customer's row of `rm_customers`, as the projection folds it.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::copy::{CopyRow, CopyText};

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub industry: Option<String>,
    pub position: Option<String>,
    pub source: Option<String>,
    pub owner_id: String,
    pub stage: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub deal_value: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub probability: Decimal,
    pub tags: Vec<String>,
    pub archived: bool,
    pub registered_at: DateTime<Utc>,
    pub stage_entered_at: DateTime<Utc>,
    pub furthest_rank: i16,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_contact_at: DateTime<Utc>,
    pub purchase_count: i32,
    #[serde(with = "rust_decimal::serde::str")]
    pub total_amount: Decimal,
    pub first_purchase_at: Option<DateTime<Utc>>,
    pub last_purchase_at: Option<DateTime<Utc>>,
    pub search_bigrams: Vec<String>,
    pub search_text: String,
    /// Completed stays per stage (index: [`stay_index`]), summed.
    pub stay_micros: Vec<i64>,
    pub stay_counts: Vec<i32>,
    /// Purchase categories in first-seen order, and how often each was bought.
    pub purchase_categories: Vec<String>,
    pub purchase_category_counts: Vec<i32>,
    /// Activity kinds logged, each once, in first-seen order.
    pub activity_types: Vec<String>,
    pub version: i64,
    pub last_position: i64,
}

impl CopyRow for CustomerRow {
    const COLUMNS: &'static str =
        "id, tenant_id, name, phone, email, company, industry, position, \
        source, owner_id, stage, deal_value, probability, tags, archived, registered_at, \
        stage_entered_at, furthest_rank, last_activity_at, last_contact_at, purchase_count, \
        total_amount, first_purchase_at, last_purchase_at, search_bigrams, search_text, \
        stay_micros, stay_counts, purchase_categories, purchase_category_counts, activity_types, \
        version, last_position";

    fn write(&self, line: &mut CopyText) {
        line.plain(self.id);
        line.plain(self.tenant_id);
        line.text(&self.name);
        line.optional_text(self.phone.as_deref());
        line.optional_text(self.email.as_deref());
        line.optional_text(self.company.as_deref());
        line.optional_text(self.industry.as_deref());
        line.optional_text(self.position.as_deref());
        line.optional_text(self.source.as_deref());
        line.text(&self.owner_id);
        line.text(&self.stage);
        line.plain(self.deal_value);
        line.plain(self.probability);
        line.text_array(&self.tags);
        line.boolean(self.archived);
        line.timestamp(self.registered_at);
        line.timestamp(self.stage_entered_at);
        line.plain(self.furthest_rank);
        line.optional_timestamp(self.last_activity_at);
        line.timestamp(self.last_contact_at);
        line.plain(self.purchase_count);
        line.plain(self.total_amount);
        line.optional_timestamp(self.first_purchase_at);
        line.optional_timestamp(self.last_purchase_at);
        line.text_array(&self.search_bigrams);
        line.text(&self.search_text);
        line.integer_array(&self.stay_micros);
        line.integer_array(&self.stay_counts);
        line.text_array(&self.purchase_categories);
        line.integer_array(&self.purchase_category_counts);
        line.text_array(&self.activity_types);
        line.plain(self.version);
        line.plain(self.last_position);
    }
}

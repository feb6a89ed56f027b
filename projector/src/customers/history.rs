//! The rows a customer's events append, one per event, next to its
//! `rm_customers` row: purchases, activities and completed stage stays, each
//! with its COPY column order.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::copy::{CopyRow, CopyText};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct PurchaseRow {
    pub(super) customer_id: Uuid,
    pub(super) sequence: i64,
    pub(super) tenant_id: Uuid,
    #[serde(with = "rust_decimal::serde::str")]
    pub(super) amount: Decimal,
    pub(super) category: String,
    pub(super) occurred_at: DateTime<Utc>,
    pub(super) order_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct ActivityRow {
    pub(super) customer_id: Uuid,
    pub(super) sequence: i64,
    pub(super) tenant_id: Uuid,
    pub(super) activity_type: String,
    pub(super) subject: Option<String>,
    pub(super) occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct StayRow {
    pub(super) customer_id: Uuid,
    pub(super) sequence: i64,
    pub(super) tenant_id: Uuid,
    pub(super) stage: String,
    pub(super) entered_at: DateTime<Utc>,
    pub(super) left_at: DateTime<Utc>,
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

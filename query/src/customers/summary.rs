//! What the customer routes share: the summary row and the columns it is
//! read from, the visibility condition, the page size.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use web::ApiError;

use crate::visibility::Visibility;

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

/// The page size of lists and timelines: 1–100, default 20.
pub(crate) fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct CustomerSummary {
    pub(super) id: Uuid,
    pub(super) name: String,
    pub(super) company: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) email: Option<String>,
    pub(super) industry: Option<String>,
    pub(super) position: Option<String>,
    pub(super) source: Option<String>,
    pub(super) owner_id: String,
    /// The owner's display name in the tenant's directory; `null` when the
    /// owner is not in it (or its personal data was erased).
    pub(super) owner_name: Option<String>,
    pub(super) stage: String,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub(super) deal_value: Decimal,
    #[schema(value_type = f64)]
    #[serde(with = "rust_decimal::serde::float")]
    pub(super) probability: Decimal,
    pub(super) tags: Vec<String>,
    /// As of the moment of the request.
    pub(super) lifecycle: String,
    pub(super) archived: bool,
    pub(super) registered_at: DateTime<Utc>,
    pub(super) last_activity_at: Option<DateTime<Utc>>,
    pub(super) last_contact_at: DateTime<Utc>,
    pub(super) version: i64,
}

/// The columns of [`CustomerSummary`], ending inside the lifecycle's call:
/// push the instant's bind and `) AS lifecycle` next.
pub(super) const SUMMARY_COLUMNS: &str = "id, name, company, phone, email, industry, position, source, owner_id, stage, \
     deal_value, probability, tags, archived, registered_at, last_activity_at, last_contact_at, version, \
     (SELECT d.display_name FROM directory_users d \
       WHERE d.tenant_id = rm_customers.tenant_id AND d.login = rm_customers.owner_id) AS owner_name, \
     crm_lifecycle(purchase_count, total_amount, last_purchase_at, last_contact_at, ";

/// `WHERE` on `rm_customers`: the caller's tenant, and a rep's own customers.
pub(super) fn push_visibility(builder: &mut QueryBuilder<'_, Postgres>, visibility: &Visibility) {
    builder
        .push(" WHERE tenant_id = ")
        .push_bind(visibility.tenant_id);
    visibility.push_owner_filter(builder);
}

//! Customer list and search, detail, timeline and profile.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use events::values::{ActivityType, Stage};
use projector::profile::{self, Activity, Facts, Lifecycle, Profile, Purchase};
use projector::runner::Projection;
use projector::search;
use web::extract::{Path, Query};
use web::openapi::{CustomerNotFound, QueryProblems};
use web::{ApiError, Caller, Problem};

use crate::cache::{from_kept_record, Kept};
use crate::db_error;
use crate::freshness::{mark, wait_for};
use crate::{cursor, QueryApi, Visibility};

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

pub(crate) fn parse_instant(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{field} must be an RFC 3339 instant, e.g. 2026-11-25T09:30:00+08:00"
            ))
        })
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Sort {
    /// Newest registrations first (default; stable under concurrent writes).
    #[default]
    #[serde(rename = "-registered_at")]
    RegisteredDesc,
    #[serde(rename = "registered_at")]
    RegisteredAsc,
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "-deal_value")]
    DealValueDesc,
    #[serde(rename = "-last_contact")]
    LastContactDesc,
}

impl Sort {
    /// (column, descending)
    fn column(self) -> (&'static str, bool) {
        match self {
            Sort::RegisteredDesc => ("registered_at", true),
            Sort::RegisteredAsc => ("registered_at", false),
            Sort::Name => ("name", false),
            Sort::DealValueDesc => ("deal_value", true),
            Sort::LastContactDesc => ("last_contact_at", true),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Substring of name, company or phone (Chinese included, e.g. `张三`, `科技`).
    q: Option<String>,
    stage: Option<String>,
    owner_id: Option<String>,
    tag: Option<String>,
    /// prospect, new, active, loyal, at_risk or lost, as of now.
    lifecycle: Option<String>,
    industry: Option<String>,
    source: Option<String>,
    /// Include archived customers (default false).
    archived: Option<bool>,
    #[param(value_type = Option<Sort>)]
    sort: Option<Sort>,
    /// 1–100, default 20.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Wait until the read model includes this command position (up to 2 s).
    min_position: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct CustomerSummary {
    id: Uuid,
    name: String,
    company: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    industry: Option<String>,
    position: Option<String>,
    source: Option<String>,
    owner_id: String,
    stage: String,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    deal_value: Decimal,
    #[schema(value_type = f64)]
    #[serde(with = "rust_decimal::serde::float")]
    probability: Decimal,
    tags: Vec<String>,
    /// As of the moment of the request.
    lifecycle: String,
    archived: bool,
    registered_at: DateTime<Utc>,
    last_activity_at: Option<DateTime<Utc>>,
    last_contact_at: DateTime<Utc>,
    version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    items: Vec<CustomerSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ListCursor {
    sort: Sort,
    key: String,
    id: Uuid,
}

const SUMMARY_COLUMNS: &str = "id, name, company, phone, email, industry, position, source, owner_id, stage, \
     deal_value, probability, tags, archived, registered_at, last_activity_at, last_contact_at, version, \
     crm_lifecycle(purchase_count, total_amount, last_purchase_at, last_contact_at, ";

fn push_visibility(builder: &mut QueryBuilder<'_, Postgres>, visibility: &Visibility) {
    builder
        .push(" WHERE tenant_id = ")
        .push_bind(visibility.tenant_id);
    if let Some(owner) = &visibility.owner_id {
        builder.push(" AND owner_id = ").push_bind(owner.clone());
    }
}

/// Escapes LIKE wildcards so `q` is matched literally.
fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[utoipa::path(
    get, path = "/v1/customers", tag = "queries",
    params(ListParams),
    responses(
        (status = 200, description = "A page of customers", body = CustomerPage),
        QueryProblems,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_customers(
    State(api): State<QueryApi>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let fresh = wait_for(&api.pool, &[Projection::Customers], params.min_position).await?;
    let limit = page_size(params.limit)?;
    let sort = params.sort.unwrap_or_default();
    let now = Utc::now();
    let visibility = Visibility::from(&caller);
    let mut builder = QueryBuilder::<Postgres>::new("SELECT ");
    builder
        .push(SUMMARY_COLUMNS)
        .push_bind(now)
        .push(") AS lifecycle FROM rm_customers");
    push_visibility(&mut builder, &visibility);
    if !params.archived.unwrap_or(false) {
        builder.push(" AND NOT archived");
    }
    if let Some(q) = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let q = q.to_lowercase();
        let grams = search::bigrams(&q);
        if !grams.is_empty() {
            builder.push(" AND search_bigrams @> ").push_bind(grams);
        }
        builder
            .push(" AND search_text LIKE ")
            .push_bind(like_pattern(&q));
    }
    if let Some(stage) = &params.stage {
        let stage: Stage = stage
            .parse()
            .map_err(|e: events::values::InvalidValue| ApiError::BadRequest(e.0))?;
        builder.push(" AND stage = ").push_bind(stage.as_str());
    }
    if let Some(owner) = &params.owner_id {
        builder.push(" AND owner_id = ").push_bind(owner.clone());
    }
    if let Some(tag) = &params.tag {
        builder
            .push(" AND tags @> ")
            .push_bind(vec![tag.trim().to_owned()]);
    }
    if let Some(lifecycle) = &params.lifecycle {
        let lifecycle = Lifecycle::parse(lifecycle).ok_or_else(|| {
            ApiError::BadRequest(
                "lifecycle must be one of prospect, new, active, loyal, at_risk, lost".into(),
            )
        })?;
        builder
            .push(" AND crm_lifecycle(purchase_count, total_amount, last_purchase_at, last_contact_at, ")
            .push_bind(now)
            .push(") = ")
            .push_bind(lifecycle.as_str());
    }
    if let Some(industry) = &params.industry {
        builder.push(" AND industry = ").push_bind(industry.clone());
    }
    if let Some(source) = &params.source {
        builder.push(" AND source = ").push_bind(source.clone());
    }
    let (column, descending) = sort.column();
    let comparison = if descending { "<" } else { ">" };
    if let Some(raw) = &params.cursor {
        let after: ListCursor = cursor::decode(raw)?;
        if after.sort != sort {
            return Err(ApiError::BadRequest(
                "cursor belongs to another sort".into(),
            ));
        }
        builder.push(format!(" AND ({column}, id) {comparison} ("));
        match sort {
            Sort::RegisteredDesc | Sort::RegisteredAsc | Sort::LastContactDesc => {
                builder.push_bind(parse_instant("cursor", &after.key)?);
            }
            Sort::Name => {
                builder.push_bind(after.key.clone());
            }
            Sort::DealValueDesc => {
                let value: Decimal = after
                    .key
                    .parse()
                    .map_err(|_| ApiError::BadRequest("bad cursor".into()))?;
                builder.push_bind(value);
            }
        }
        builder.push(", ").push_bind(after.id).push(")");
    }
    let direction = if descending { "DESC" } else { "ASC" };
    builder
        .push(format!(
            " ORDER BY {column} {direction}, id {direction} LIMIT "
        ))
        .push_bind(limit + 1);
    let mut items: Vec<CustomerSummary> = builder
        .build_query_as()
        .fetch_all(&api.pool)
        .await
        .map_err(db_error)?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items.last().map(|last| {
            let key = match sort {
                Sort::RegisteredDesc | Sort::RegisteredAsc => last.registered_at.to_rfc3339(),
                Sort::LastContactDesc => last.last_contact_at.to_rfc3339(),
                Sort::Name => last.name.clone(),
                Sort::DealValueDesc => last.deal_value.to_string(),
            };
            cursor::encode(&ListCursor {
                sort,
                key,
                id: last.id,
            })
        })
    } else {
        None
    };
    Ok(mark(
        Json(CustomerPage { items, next_cursor }).into_response(),
        fresh,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FreshnessParams {
    /// Wait until the read model includes this command position (up to 2 s).
    min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerDetail {
    #[serde(flatten)]
    summary: CustomerSummary,
    stage_name: &'static str,
    stage_entered_at: DateTime<Utc>,
    purchase_count: i32,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    total_amount: Decimal,
    profile: Profile,
}

/// A visible customer's row, with the summary of its facts the projection
/// keeps (what the profile as of now needs).
#[derive(sqlx::FromRow)]
pub(crate) struct CustomerRecord {
    #[sqlx(flatten)]
    summary: CustomerSummary,
    stage_entered_at: DateTime<Utc>,
    purchase_count: i32,
    total_amount: Decimal,
    first_purchase_at: Option<DateTime<Utc>>,
    last_purchase_at: Option<DateTime<Utc>>,
    purchase_categories: Vec<String>,
    purchase_category_counts: Vec<i32>,
    activity_types: Vec<String>,
}

impl CustomerRecord {
    pub(crate) fn summary_id(&self) -> Uuid {
        self.summary.id
    }

    /// Roughly the memory the record holds, for the read cache's budget.
    pub(crate) fn approximate_bytes(&self) -> usize {
        let summary = &self.summary;
        let required = [
            &summary.name,
            &summary.owner_id,
            &summary.stage,
            &summary.lifecycle,
        ]
        .map(|text| text.len());
        let optional = [
            &summary.company,
            &summary.phone,
            &summary.email,
            &summary.industry,
            &summary.position,
            &summary.source,
        ]
        .map(|text| text.as_ref().map_or(0, String::len));
        let lists: usize = summary
            .tags
            .iter()
            .chain(&self.purchase_categories)
            .chain(&self.activity_types)
            .map(|text| text.len() + std::mem::size_of::<String>())
            .sum();
        std::mem::size_of::<Self>()
            + required.iter().sum::<usize>()
            + optional.iter().sum::<usize>()
            + lists
            + self.purchase_category_counts.len() * std::mem::size_of::<i32>()
    }

    fn facts_summary(&self) -> profile::Summary {
        let purchase_count = usize::try_from(self.purchase_count).unwrap_or(0);
        profile::Summary {
            registered_at: self.summary.registered_at,
            purchase_count,
            // The sum of no purchases is a plain 0, as when summing the history.
            total_amount: if purchase_count == 0 {
                Decimal::ZERO
            } else {
                self.total_amount
            },
            first_purchase_at: self.first_purchase_at,
            last_purchase_at: self.last_purchase_at,
            last_contact_at: self.summary.last_contact_at,
            categories: self
                .purchase_categories
                .iter()
                .zip(&self.purchase_category_counts)
                .map(|(category, count)| (category.clone(), usize::try_from(*count).unwrap_or(0)))
                .collect(),
            activity_types: self
                .activity_types
                .iter()
                .filter_map(|kind| kind.parse::<ActivityType>().ok())
                .collect(),
        }
    }

    /// The profile at `as_of`: from the row's summary when every fact is
    /// known by then (the usual "now"), else from the histories.
    async fn profile(&self, pool: &PgPool, as_of: DateTime<Utc>) -> Result<Profile, ApiError> {
        if self.summary.last_contact_at <= as_of {
            return Ok(profile::profile_of(&self.facts_summary(), as_of));
        }
        let facts = facts(pool, self.summary.id, self.summary.registered_at).await?;
        Ok(profile::profile(&facts, as_of))
    }
}

/// A visible customer's record: kept in the read cache when there (the
/// caller's visibility checked here as the SQL would), else read and kept.
/// Read-your-writes requests (`fresh_only`) always read the database.
async fn visible_record_cached(
    api: &QueryApi,
    visibility: &Visibility,
    id: Uuid,
    fresh_only: bool,
) -> Result<(Arc<CustomerRecord>, Kept), ApiError> {
    if fresh_only {
        let record = visible_record(&api.pool, visibility, id).await?;
        return Ok((Arc::new(record), Kept::No));
    }
    if let Some(record) = api.cache.customer(visibility.tenant_id, id) {
        return if visibility.sees(&record.summary.owner_id) {
            Ok((record, Kept::Yes))
        } else {
            Err(ApiError::NotFound("customer not found".into()))
        };
    }
    let generation = api.cache.record_generation(visibility.tenant_id);
    let record = Arc::new(visible_record(&api.pool, visibility, id).await?);
    if let Some(generation) = generation {
        api.cache
            .keep_customer(visibility.tenant_id, generation, Arc::clone(&record));
    }
    Ok((record, Kept::No))
}

/// 404 unless the caller may see the customer.
async fn ensure_visible(pool: &PgPool, visibility: &Visibility, id: Uuid) -> Result<(), ApiError> {
    let mut builder = QueryBuilder::<Postgres>::new("SELECT EXISTS (SELECT 1 FROM rm_customers");
    push_visibility(&mut builder, visibility);
    builder.push(" AND id = ").push_bind(id).push(")");
    let visible: bool = builder
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    visible
        .then_some(())
        .ok_or_else(|| ApiError::NotFound("customer not found".into()))
}

async fn visible_record(
    pool: &PgPool,
    visibility: &Visibility,
    id: Uuid,
) -> Result<CustomerRecord, ApiError> {
    let mut builder = QueryBuilder::<Postgres>::new("SELECT ");
    builder.push(SUMMARY_COLUMNS).push_bind(Utc::now()).push(
        ") AS lifecycle, stage_entered_at, purchase_count, total_amount, first_purchase_at,
             last_purchase_at, purchase_categories, purchase_category_counts, activity_types
             FROM rm_customers",
    );
    push_visibility(&mut builder, visibility);
    builder.push(" AND id = ").push_bind(id);
    builder
        .build_query_as()
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ApiError::NotFound("customer not found".into()))
}

/// A customer's purchase and activity histories, for a profile in the past.
async fn facts(pool: &PgPool, id: Uuid, registered_at: DateTime<Utc>) -> Result<Facts, ApiError> {
    let purchases: Vec<(DateTime<Utc>, Decimal, String)> = sqlx::query_as(
        "SELECT occurred_at, amount, category FROM rm_purchases WHERE customer_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let activities: Vec<(DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT occurred_at, activity_type FROM rm_activities WHERE customer_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    Ok(Facts {
        registered_at,
        purchases: purchases
            .into_iter()
            .map(|(occurred_at, amount, category)| Purchase {
                occurred_at,
                amount,
                category,
            })
            .collect(),
        activities: activities
            .into_iter()
            .filter_map(|(occurred_at, kind)| {
                kind.parse::<ActivityType>()
                    .ok()
                    .map(|activity_type| Activity {
                        occurred_at,
                        activity_type,
                    })
            })
            .collect(),
    })
}

#[utoipa::path(
    get, path = "/v1/customers/{id}", tag = "queries",
    params(("id" = Uuid, Path, description = "Customer id"), FreshnessParams),
    responses(
        (status = 200, description = "The customer with its profile as of now", body = CustomerDetail),
        QueryProblems,
        CustomerNotFound,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_customer(
    State(api): State<QueryApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<FreshnessParams>,
) -> Result<Response, ApiError> {
    let fresh = wait_for(&api.pool, &[Projection::Customers], params.min_position).await?;
    let visibility = Visibility::from(&caller);
    let (customer, source) =
        visible_record_cached(&api, &visibility, id, params.min_position.is_some()).await?;
    let profile = customer.profile(&api.pool, Utc::now()).await?;
    let mut summary = customer.summary.clone();
    // The row may have been kept for a while: its lifecycle is the profile's, as of now.
    profile
        .lifecycle
        .as_str()
        .clone_into(&mut summary.lifecycle);
    let stage_name = summary
        .stage
        .parse::<Stage>()
        .map(Stage::display_name)
        .unwrap_or_default();
    let detail = CustomerDetail {
        summary,
        stage_name,
        stage_entered_at: customer.stage_entered_at,
        purchase_count: customer.purchase_count,
        total_amount: customer.total_amount,
        profile,
    };
    Ok(from_kept_record(
        mark(Json(detail).into_response(), fresh),
        source,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProfileParams {
    /// RFC 3339 instant; default now.
    as_of: Option<String>,
    min_position: Option<i64>,
}

#[utoipa::path(
    get, path = "/v1/customers/{id}/profile", tag = "queries",
    params(("id" = Uuid, Path, description = "Customer id"), ProfileParams),
    responses(
        (status = 200, description = "RFM profile for the instant", body = Profile),
        QueryProblems,
        (status = 404, description = "No such customer for this caller, or as_of before registration", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_profile(
    State(api): State<QueryApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<ProfileParams>,
) -> Result<Response, ApiError> {
    let as_of = params
        .as_of
        .as_deref()
        .map(|raw| parse_instant("as_of", raw))
        .transpose()?
        .unwrap_or_else(Utc::now);
    let fresh = wait_for(&api.pool, &[Projection::Customers], params.min_position).await?;
    let visibility = Visibility::from(&caller);
    let (customer, source) =
        visible_record_cached(&api, &visibility, id, params.min_position.is_some()).await?;
    if as_of < customer.summary.registered_at {
        return Err(ApiError::NotFound(
            "the customer was not registered yet at as_of".into(),
        ));
    }
    let profile = customer.profile(&api.pool, as_of).await?;
    Ok(from_kept_record(
        mark(Json(profile).into_response(), fresh),
        source,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// 1–100, default 20.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct TimelineEntry {
    sequence: i64,
    position: i64,
    /// registered, profile_updated, owner_changed, stage_moved, activity, purchase, tagged, untagged, archived
    kind: String,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    actor: String,
    #[schema(value_type = Object)]
    details: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    items: Vec<TimelineEntry>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/customers/{id}/timeline", tag = "queries",
    params(("id" = Uuid, Path, description = "Customer id"), TimelineParams),
    responses(
        (status = 200, description = "History, newest first", body = TimelinePage),
        QueryProblems,
        CustomerNotFound,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_timeline(
    State(api): State<QueryApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<TimelineParams>,
) -> Result<Response, ApiError> {
    let fresh = wait_for(
        &api.pool,
        &[Projection::Customers, Projection::Timeline],
        params.min_position,
    )
    .await?;
    let limit = page_size(params.limit)?;
    ensure_visible(&api.pool, &Visibility::from(&caller), id).await?;
    let before: i64 = match &params.cursor {
        Some(raw) => cursor::decode(raw)?,
        None => i64::MAX,
    };
    let mut items: Vec<TimelineEntry> = sqlx::query_as(
        "SELECT sequence, position, kind, occurred_at, recorded_at, actor, details
           FROM rm_timeline WHERE customer_id = $1 AND sequence < $2
          ORDER BY sequence DESC LIMIT $3",
    )
    .bind(id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(&api.pool)
    .await
    .map_err(db_error)?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items.last().map(|last| cursor::encode(&last.sequence))
    } else {
        None
    };
    Ok(mark(
        Json(TimelinePage { items, next_cursor }).into_response(),
        fresh,
    ))
}

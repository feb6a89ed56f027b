//! The customer list and search: filters, sorts and the keyset cursor.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use events::values::Stage;
use projector::profile::Lifecycle;
use projector::runner::Projection;
use projector::search;
use web::extract::Query;
use web::openapi::QueryProblems;
use web::ApiError;

use super::summary::{page_size, push_visibility, CustomerSummary, SUMMARY_COLUMNS};
use crate::api::QueryApi;
use crate::cursor;
use crate::freshness::{mark, wait_for};
use crate::params::parse_instant;
use crate::visibility::Visibility;

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
    #[param(value_type = Option<Sort>, inline)]
    sort: Option<Sort>,
    /// 1–100, default 20.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Wait until the read model includes this command position (up to 2 s).
    min_position: Option<i64>,
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
    visibility: Visibility,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let fresh = wait_for(&api.pool, &[Projection::Customers], params.min_position).await?;
    let limit = page_size(params.limit)?;
    let sort = params.sort.unwrap_or_default();
    let now = Utc::now();
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
    let mut items: Vec<CustomerSummary> = builder.build_query_as().fetch_all(&api.pool).await?;
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

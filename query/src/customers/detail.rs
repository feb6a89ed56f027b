//! A customer's detail and its RFM profile, from its record (kept by the
//! read cache when it may be).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use events::values::Stage;
use projector::profile::Profile;
use projector::runner::Projection;
use web::extract::{Path, Query};
use web::openapi::{CustomerNotFound, QueryProblems};
use web::{ApiError, Problem};

use super::record::{visible_record, CustomerRecord};
use super::summary::CustomerSummary;
use crate::api::QueryApi;
use crate::cache::{from_kept_record, Kept};
use crate::freshness::{mark, wait_for};
use crate::params::parse_instant;
use crate::visibility::Visibility;

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
    visibility: Visibility,
    Path(id): Path<Uuid>,
    Query(params): Query<FreshnessParams>,
) -> Result<Response, ApiError> {
    let fresh = wait_for(&api.pool, &[Projection::Customers], params.min_position).await?;
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
    visibility: Visibility,
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

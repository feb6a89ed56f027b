//! The sales funnel (the seed's SalesFunnel screen) and lifecycle segments:
//! the handlers; [`sql`] reads the sums and cards, [`figures`] does the
//! arithmetic.

mod figures;
mod sql;

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use projector::profile::Lifecycle;
use projector::runner::Projection;
use web::extract::Query;
use web::openapi::QueryProblems;
use web::ApiError;

use self::figures::Funnel;
use self::sql::Scope;
use crate::api::QueryApi;
use crate::freshness::{mark, wait_for};
use crate::params::parse_instant;
use crate::visibility::Visibility;

const MAX_CARDS: i64 = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FunnelParams {
    /// Only this owner's customers (a rep always sees only its own).
    owner_id: Option<String>,
    /// Customers registered at or after this instant (RFC 3339).
    from: Option<String>,
    /// Customers registered before this instant (RFC 3339).
    to: Option<String>,
    /// Customer cards per stage, 0–50 (default 5), highest deal value first.
    cards: Option<i64>,
    min_position: Option<i64>,
}

#[utoipa::path(
    get, path = "/v1/funnel", tag = "queries",
    params(FunnelParams),
    responses(
        (status = 200, description = "Per-stage counts, values, conversion, cycle time and cards", body = Funnel),
        QueryProblems,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_funnel(
    State(api): State<QueryApi>,
    visibility: Visibility,
    Query(params): Query<FunnelParams>,
) -> Result<Response, ApiError> {
    let cards = params.cards.unwrap_or(5);
    if !(0..=MAX_CARDS).contains(&cards) {
        return Err(ApiError::BadRequest(format!(
            "cards must be between 0 and {MAX_CARDS}"
        )));
    }
    let from = params
        .from
        .as_deref()
        .map(|raw| parse_instant("from", raw))
        .transpose()?;
    let to = params
        .to
        .as_deref()
        .map(|raw| parse_instant("to", raw))
        .transpose()?;
    let fresh = wait_for(&api.pool, &[Projection::Customers], params.min_position).await?;
    let scope = Scope {
        visibility: &visibility,
        owner_id: params.owner_id.as_deref(),
        from,
        to,
    };
    let groups = sql::stage_groups(&api.pool, &scope).await?;
    let cards = if cards > 0 {
        sql::top_cards(&api.pool, &scope, cards).await?
    } else {
        Vec::new()
    };
    Ok(mark(
        Json(figures::funnel(groups, cards)).into_response(),
        fresh,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SegmentParams {
    /// Only this lifecycle (counts are as of now, so they change as time passes).
    lifecycle: Option<String>,
    min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Segment {
    lifecycle: Lifecycle,
    count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Segments {
    as_of: DateTime<Utc>,
    segments: Vec<Segment>,
}

#[utoipa::path(
    get, path = "/v1/segments", tag = "queries",
    params(SegmentParams),
    responses(
        (status = 200, description = "Customers per lifecycle, as of now", body = Segments),
        QueryProblems,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_segments(
    State(api): State<QueryApi>,
    visibility: Visibility,
    Query(params): Query<SegmentParams>,
) -> Result<Response, ApiError> {
    let only = params
        .lifecycle
        .as_deref()
        .map(|raw| {
            Lifecycle::parse(raw).ok_or_else(|| {
                ApiError::BadRequest(
                    "lifecycle must be one of prospect, new, active, loyal, at_risk, lost".into(),
                )
            })
        })
        .transpose()?;
    let fresh = wait_for(&api.pool, &[Projection::Customers], params.min_position).await?;
    let as_of = Utc::now();
    let counts: HashMap<String, i64> =
        sql::lifecycle_counts(&api.pool, &Scope::visible(&visibility), as_of).await?;
    let segments = Lifecycle::ALL
        .into_iter()
        .filter(|lifecycle| only.is_none_or(|only| only == *lifecycle))
        .map(|lifecycle| Segment {
            lifecycle,
            count: counts.get(lifecycle.as_str()).copied().unwrap_or(0),
        })
        .collect();
    Ok(mark(
        Json(Segments { as_of, segments }).into_response(),
        fresh,
    ))
}

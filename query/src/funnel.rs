//! The sales funnel (the seed's SalesFunnel screen) and lifecycle segments.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use events::values::Stage;
use projector::customers::rank;
use projector::profile::Lifecycle;
use projector::runner::Projection;
use web::extract::Query;
use web::{ApiError, Caller, Problem};

use crate::customers::parse_instant;
use crate::db_error;
use crate::freshness::{mark, wait_for};
use crate::{QueryApi, Visibility};

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

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CustomerCard {
    id: Uuid,
    name: String,
    company: Option<String>,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    deal_value: Decimal,
    #[schema(value_type = f64)]
    #[serde(with = "rust_decimal::serde::float")]
    probability: Decimal,
    owner_id: String,
    last_activity_at: Option<DateTime<Utc>>,
    /// The first two tags.
    tags: Vec<String>,
    #[serde(skip)]
    stage: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelStage {
    id: Stage,
    name: &'static str,
    color: &'static str,
    count: i64,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    total_value: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    weighted_value: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    avg_deal_size: Decimal,
    /// Share of customers that reached this stage and later reached the next
    /// open stage or further; null for the closed stages.
    conversion_rate: Option<f64>,
    /// Mean days of completed stays in this stage; null when none completed.
    avg_cycle_days: Option<f64>,
    customers: Vec<CustomerCard>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelTotals {
    count: i64,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    total_value: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    weighted_value: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Funnel {
    stages: Vec<FunnelStage>,
    totals: FunnelTotals,
}

/// The customers a funnel or segment counts: visible, not archived, filtered.
fn scope<'a>(
    visibility: &Visibility,
    owner_id: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> QueryBuilder<'a, Postgres> {
    // Only the columns the funnel and segments read: the search columns are wide.
    let mut builder = QueryBuilder::new(
        "WITH scope AS (SELECT id, tenant_id, name, company, owner_id, stage, deal_value, probability,
                furthest_rank, tags, last_activity_at, last_contact_at, purchase_count, total_amount,
                last_purchase_at
           FROM rm_customers WHERE tenant_id = ",
    );
    builder
        .push_bind(visibility.tenant_id)
        .push(" AND NOT archived");
    if let Some(owner) = &visibility.owner_id {
        builder.push(" AND owner_id = ").push_bind(owner.clone());
    }
    if let Some(owner) = owner_id {
        builder.push(" AND owner_id = ").push_bind(owner.to_owned());
    }
    if let Some(from) = from {
        builder.push(" AND registered_at >= ").push_bind(from);
    }
    if let Some(to) = to {
        builder.push(" AND registered_at < ").push_bind(to);
    }
    builder.push(") ");
    builder
}

fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator > 0).then(|| {
        let value = Decimal::from(numerator) / Decimal::from(denominator);
        value.round_dp(4).to_f64().unwrap_or(0.0)
    })
}

#[utoipa::path(
    get, path = "/v1/funnel", tag = "queries",
    params(FunnelParams),
    responses(
        (status = 200, description = "Per-stage counts, values, conversion, cycle time and cards", body = Funnel),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_funnel(
    State(api): State<QueryApi>,
    caller: Caller,
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
    let visibility = Visibility::from(&caller);
    let owner = params.owner_id.as_deref();

    // One round trip, one pass over the customers: sums per (stage, furthest
    // rank) give both the stage figures and the reach; cycle times come from
    // the tenant's completed stays of the customers in scope.
    let mut builder = scope(&visibility, owner, from, to);
    builder.push(
        "SELECT 'stage' AS kind, stage AS key, furthest_rank, count(*)::bigint AS n,
                coalesce(sum(deal_value), 0) AS total, coalesce(sum(deal_value * probability), 0) AS weighted
           FROM scope GROUP BY stage, furthest_rank
         UNION ALL
         SELECT 'cycle', s.stage, 0::smallint, count(*)::bigint,
                coalesce(sum(extract(epoch FROM s.left_at - s.entered_at)), 0)::numeric, 0
           FROM rm_stage_stays s
          WHERE s.tenant_id = ",
    );
    builder
        .push_bind(visibility.tenant_id)
        .push(" AND s.customer_id IN (SELECT id FROM scope) GROUP BY s.stage");
    let rows: Vec<(String, String, i16, i64, Decimal, Decimal)> = builder
        .build_query_as()
        .fetch_all(&api.pool)
        .await
        .map_err(db_error)?;
    let mut per_stage: HashMap<String, (i64, Decimal, Decimal)> = HashMap::new();
    let mut reach_at_rank: HashMap<i16, i64> = HashMap::new();
    let mut cycles: HashMap<String, (i64, Decimal)> = HashMap::new();
    for (kind, key, furthest, n, total, weighted) in rows {
        if kind == "stage" {
            let entry = per_stage
                .entry(key)
                .or_insert((0, Decimal::ZERO, Decimal::ZERO));
            entry.0 += n;
            entry.1 += total;
            entry.2 += weighted;
            *reach_at_rank.entry(furthest).or_insert(0) += n;
        } else {
            cycles.insert(key, (n, total));
        }
    }
    let reached = |rank: i16| -> i64 {
        reach_at_rank
            .iter()
            .filter(|(furthest, _)| **furthest >= rank)
            .map(|(_, n)| n)
            .sum()
    };

    let mut cards_by_stage: HashMap<String, Vec<CustomerCard>> = HashMap::new();
    if cards > 0 {
        let mut builder = scope(&visibility, owner, from, to);
        builder.push(
            "SELECT id, name, company, deal_value, probability, owner_id, last_activity_at,
                    tags[1:2] AS tags, stage
               FROM (SELECT *, row_number() OVER (PARTITION BY stage ORDER BY deal_value DESC, id) AS rn
                       FROM scope) ranked
              WHERE rn <= ",
        );
        builder.push_bind(cards).push(" ORDER BY stage, rn");
        let rows: Vec<CustomerCard> = builder
            .build_query_as()
            .fetch_all(&api.pool)
            .await
            .map_err(db_error)?;
        for card in rows {
            cards_by_stage
                .entry(card.stage.clone())
                .or_default()
                .push(card);
        }
    }

    let mut stages = Vec::new();
    let mut totals = FunnelTotals {
        count: 0,
        total_value: Decimal::ZERO,
        weighted_value: Decimal::ZERO,
    };
    for stage in Stage::ALL {
        let (count, total, weighted) =
            per_stage
                .remove(stage.as_str())
                .unwrap_or((0, Decimal::ZERO, Decimal::ZERO));
        let conversion_rate = match rank(stage) {
            Some(current) if current < 4 => ratio(reached(current + 1), reached(current)),
            _ => None,
        };
        let avg_cycle_days = cycles.get(stage.as_str()).and_then(|(n, seconds)| {
            (*n > 0).then(|| {
                (seconds / Decimal::from(*n) / Decimal::from(86_400))
                    .round_dp(2)
                    .to_f64()
                    .unwrap_or(0.0)
            })
        });
        totals.count += count;
        totals.total_value += total;
        totals.weighted_value += weighted;
        stages.push(FunnelStage {
            id: stage,
            name: stage.display_name(),
            color: stage.colour(),
            count,
            total_value: total.round_dp(2),
            weighted_value: weighted.round_dp(2),
            avg_deal_size: if count > 0 {
                (total / Decimal::from(count)).round_dp(2)
            } else {
                Decimal::ZERO
            },
            conversion_rate,
            avg_cycle_days,
            customers: cards_by_stage.remove(stage.as_str()).unwrap_or_default(),
        });
    }
    totals.total_value = totals.total_value.round_dp(2);
    totals.weighted_value = totals.weighted_value.round_dp(2);
    Ok(mark(Json(Funnel { stages, totals }).into_response(), fresh))
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
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_segments(
    State(api): State<QueryApi>,
    caller: Caller,
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
    let mut builder = scope(&Visibility::from(&caller), None, None, None);
    builder
        .push("SELECT crm_lifecycle(purchase_count, total_amount, last_purchase_at, last_contact_at, ")
        .push_bind(as_of)
        .push(") AS lifecycle, count(*)::bigint FROM scope GROUP BY 1");
    let counts: HashMap<String, i64> = builder
        .build_query_as::<(String, i64)>()
        .fetch_all(&api.pool)
        .await
        .map_err(db_error)?
        .into_iter()
        .collect();
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

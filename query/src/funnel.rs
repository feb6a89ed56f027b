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
use projector::customers::{rank, stay_index};
use projector::profile::Lifecycle;
use projector::runner::Projection;
use web::extract::Query;
use web::openapi::QueryProblems;
use web::{ApiError, Caller};

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

/// The customers a segment counts: visible, not archived, filtered.
fn scope<'a>(visibility: &Visibility) -> QueryBuilder<'a, Postgres> {
    // Only the columns segments read: the search columns are wide.
    let mut builder = QueryBuilder::new(
        "WITH scope AS (SELECT purchase_count, total_amount, last_purchase_at, last_contact_at
           FROM rm_customers",
    );
    push_filters(&mut builder, visibility, None, None, None);
    builder.push(") ");
    builder
}

/// `WHERE` conditions on `rm_customers` for a funnel's or segment's customers.
fn push_filters(
    builder: &mut QueryBuilder<'_, Postgres>,
    visibility: &Visibility,
    owner_id: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) {
    builder
        .push(" WHERE tenant_id = ")
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
        QueryProblems,
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

    // Sums per (stage, furthest rank) give both the stage figures and the
    // reach. Without a period they come from the totals the projection keeps
    // per owner; a period needs each customer's registration time, so then
    // one pass over the customers.
    let mut builder = QueryBuilder::<Postgres>::new("WITH groups AS (");
    if from.is_none() && to.is_none() {
        builder
            .push(
                "SELECT stage, furthest_rank, customers, total_value, weighted_value,
                        stay_micros, stay_counts
                   FROM rm_funnel_totals WHERE tenant_id = ",
            )
            .push_bind(visibility.tenant_id);
        for owner in [visibility.owner_id.as_deref(), owner]
            .into_iter()
            .flatten()
        {
            builder.push(" AND owner_id = ").push_bind(owner.to_owned());
        }
    } else {
        builder.push(
            "SELECT stage, furthest_rank, 1 AS customers, deal_value AS total_value,
                    deal_value * probability AS weighted_value, stay_micros, stay_counts
               FROM rm_customers",
        );
        push_filters(&mut builder, &visibility, owner, from, to);
    }
    builder.push(
        ") SELECT stage, furthest_rank, sum(customers)::bigint,
                  coalesce(sum(total_value), 0), coalesce(sum(weighted_value), 0),
                  ARRAY[sum(stay_micros[1]), sum(stay_micros[2]), sum(stay_micros[3]),
                        sum(stay_micros[4]), sum(stay_micros[5]), sum(stay_micros[6])]::bigint[],
                  ARRAY[sum(stay_counts[1]), sum(stay_counts[2]), sum(stay_counts[3]),
                        sum(stay_counts[4]), sum(stay_counts[5]), sum(stay_counts[6])]::bigint[]
             FROM groups GROUP BY stage, furthest_rank",
    );
    type Group = (String, i16, i64, Decimal, Decimal, Vec<i64>, Vec<i64>);
    let rows: Vec<Group> = builder
        .build_query_as()
        .fetch_all(&api.pool)
        .await
        .map_err(db_error)?;
    let mut per_stage: HashMap<String, (i64, Decimal, Decimal)> = HashMap::new();
    let mut reach_at_rank: HashMap<i16, i64> = HashMap::new();
    let mut stay_micros = [0_i64; 6];
    let mut stay_counts = [0_i64; 6];
    for (stage, furthest, n, total, weighted, micros, counts) in rows {
        let entry = per_stage
            .entry(stage)
            .or_insert((0, Decimal::ZERO, Decimal::ZERO));
        entry.0 += n;
        entry.1 += total;
        entry.2 += weighted;
        *reach_at_rank.entry(furthest).or_insert(0) += n;
        for (index, value) in micros.into_iter().enumerate().take(6) {
            stay_micros[index] = stay_micros[index].saturating_add(value);
        }
        for (index, value) in counts.into_iter().enumerate().take(6) {
            stay_counts[index] += value;
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
        // Per stage, the top cards straight from the (tenant, stage, deal_value) index.
        let mut builder = QueryBuilder::<Postgres>::new(
            "SELECT card.* FROM unnest(ARRAY['lead', 'qualified', 'proposal', 'negotiation',
                                             'closed_won', 'closed_lost']) AS wanted(stage)
             CROSS JOIN LATERAL (
                SELECT id, name, company, deal_value, probability, owner_id, last_activity_at,
                       tags[1:2] AS tags, stage
                  FROM rm_customers",
        );
        push_filters(&mut builder, &visibility, owner, from, to);
        builder
            .push(" AND stage = wanted.stage ORDER BY deal_value DESC, id LIMIT ")
            .push_bind(cards)
            .push(") AS card");
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
        let index = stay_index(stage);
        let avg_cycle_days = (stay_counts[index] > 0).then(|| {
            (Decimal::from(stay_micros[index])
                / Decimal::from(stay_counts[index])
                / Decimal::from(86_400_000_000_i64))
            .round_dp(2)
            .to_f64()
            .unwrap_or(0.0)
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
        QueryProblems,
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
    let mut builder = scope(&Visibility::from(&caller));
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

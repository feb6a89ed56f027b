//! A customer's timeline: its history by when things happened, newest
//! first, a page at a time. Entries are ordered by `(occurred_at, sequence)`:
//! a fact entered late (an old call, an imported customer's history) takes
//! its place by its date, and among entries of one instant the later
//! recorded comes first. Both keys are immutable, so the keyset cursor is
//! stable while entries are appended.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use projector::runner::Projection;
use web::extract::{Path, Query};
use web::openapi::{CustomerNotFound, QueryProblems};
use web::ApiError;

use super::summary::{page_size, push_visibility};
use crate::api::QueryApi;
use crate::cursor;
use crate::freshness::{mark, wait_for};
use crate::visibility::Visibility;

/// 404 unless the caller may see the customer.
async fn ensure_visible(pool: &PgPool, visibility: &Visibility, id: Uuid) -> Result<(), ApiError> {
    let mut builder = QueryBuilder::<Postgres>::new("SELECT EXISTS (SELECT 1 FROM rm_customers");
    push_visibility(&mut builder, visibility);
    builder.push(" AND id = ").push_bind(id).push(")");
    let visible: bool = builder.build_query_scalar().fetch_one(pool).await?;
    visible
        .then_some(())
        .ok_or_else(|| ApiError::NotFound("customer not found".into()))
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
        (status = 200, description = "History by when it happened, newest first", body = TimelinePage),
        QueryProblems,
        CustomerNotFound,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_timeline(
    State(api): State<QueryApi>,
    visibility: Visibility,
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
    ensure_visible(&api.pool, &visibility, id).await?;
    let before: Option<(DateTime<Utc>, i64)> =
        params.cursor.as_deref().map(cursor::decode).transpose()?;
    let mut builder = QueryBuilder::<Postgres>::new(
        "SELECT sequence, position, kind, occurred_at, recorded_at, actor, details
           FROM rm_timeline WHERE customer_id = ",
    );
    builder.push_bind(id);
    if let Some((occurred_at, sequence)) = before {
        builder
            .push(" AND (occurred_at, sequence) < (")
            .push_bind(occurred_at)
            .push(", ")
            .push_bind(sequence)
            .push(")");
    }
    builder
        .push(" ORDER BY occurred_at DESC, sequence DESC LIMIT ")
        .push_bind(limit + 1);
    let mut items: Vec<TimelineEntry> = builder.build_query_as().fetch_all(&api.pool).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items
            .last()
            .map(|last| cursor::encode(&(last.occurred_at, last.sequence)))
    } else {
        None
    };
    Ok(mark(
        Json(TimelinePage { items, next_cursor }).into_response(),
        fresh,
    ))
}

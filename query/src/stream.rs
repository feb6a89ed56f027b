//! The analysts' event stream over HTTP (`GET /v1/events`) for deployments
//! without Kafka: the tenant's events in commit-safe order, in the same
//! CloudEvents envelope the Kafka relay produces.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use events::envelope::{CloudEvent, PersonalFields};
use store::data_keys::DataKeys;
use store::source::{EventRow, EVENT_COLUMNS};
use web::extract::Query;
use web::openapi::Unauthorized;
use web::{ApiError, Caller, Problem, Role};

use crate::api::QueryApi;
use crate::audit::NDJSON;

const READERS: &[Role] = &[Role::Manager, Role::Admin, Role::Auditor];
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("position {0} is not an event of this tenant")]
    UnknownPosition(i64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Keys(#[from] store::data_keys::KeyError),
    /// A stored payload that is not JSON: answered as a 500, never as `null`.
    #[error("event at position {position} cannot be read: {reason}")]
    Undecodable { position: i64, reason: String },
}

/// The tenant's committed events after the one at `after` (0: from the start),
/// in the order readers must see them: `(tx, global_position)` among
/// transactions older than every running one, so a late commit is never
/// skipped. Passing back the last event's `position` continues the stream.
pub async fn read(
    pool: &PgPool,
    data_keys: &DataKeys,
    tenant_id: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<CloudEvent>, StreamError> {
    let cursor_tx: Option<String> = if after > 0 {
        let tx = sqlx::query_scalar(
            "SELECT tx::text FROM events WHERE global_position = $1 AND tenant_id = $2",
        )
        .bind(after)
        .bind(tenant_id)
        .fetch_optional(pool)
        .await?;
        Some(tx.ok_or(StreamError::UnknownPosition(after))?)
    } else {
        None
    };
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE tenant_id = $1
            AND tx < pg_snapshot_xmin(pg_current_snapshot())
            AND ($2::text IS NULL OR (tx, global_position) > ($2::text::xid8, $3))
          ORDER BY events.tx, events.global_position
          LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(cursor_tx)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let customers: Vec<Uuid> = rows
        .iter()
        .filter_map(|row| Uuid::parse_str(&row.aggregate_id).ok())
        .collect();
    let alive = data_keys.existing(&customers).await?;
    rows.iter()
        .map(|row| {
            let key_exists = Uuid::parse_str(&row.aggregate_id).is_ok_and(|id| alive.contains(&id));
            row.envelope(PersonalFields::Withhold { key_exists })
                .map_err(|error| StreamError::Undecodable {
                    position: row.global_position,
                    reason: error.to_string(),
                })
        })
        .collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// The `position` of the last event received (default 0: from the start).
    after: Option<i64>,
    /// 1–1000, default 100.
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamPage {
    items: Vec<CloudEvent>,
    /// Pass as `after` to continue; equals the request's `after` when nothing new.
    next_after: i64,
}

#[utoipa::path(
    get, path = "/v1/events", tag = "stream",
    params(StreamParams),
    responses(
        (status = 200, description = "The tenant's events in commit order, CloudEvents 1.0 (JSON page, or NDJSON with Accept: application/x-ndjson)", body = StreamPage),
        (status = 400, description = "Bad parameter or unknown position", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "Reps, and managers of a tenant with a directory, do not read the tenant-wide stream", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_events(
    State(api): State<QueryApi>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
) -> Result<Response, ApiError> {
    caller.require(READERS)?;
    // The stream is the whole tenant's: a manager who sees only its teams'
    // customers (the tenant has a directory) may not read it.
    if caller.role == Role::Manager
        && api
            .cache
            .visibility(&api.pool, &caller)
            .await?
            .owners
            .is_some()
    {
        return Err(ApiError::Forbidden(
            "the tenant-wide stream is for admins and auditors; a manager sees its teams' customers"
                .into(),
        ));
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let after = params.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::BadRequest(
            "after must be a position (0 or more)".into(),
        ));
    }
    let items = read(&api.pool, &api.data_keys, caller.tenant_id, after, limit)
        .await
        .map_err(|error| match error {
            StreamError::UnknownPosition(_) => ApiError::BadRequest(error.to_string()),
            StreamError::Database(error) => error.into(),
            other => ApiError::internal(other),
        })?;
    let next_after = items.last().map_or(after, |event| event.position);
    let ndjson = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains(NDJSON));
    if ndjson {
        let body: String = items
            .iter()
            .map(|event| serde_json::to_string(event).unwrap_or_default() + "\n")
            .collect();
        return Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON))],
            body,
        )
            .into_response());
    }
    Ok(Json(StreamPage { items, next_after }).into_response())
}

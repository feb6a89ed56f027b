//! What happened to an endpoint's deliveries: its attempts (newest first),
//! its dead letters, and replaying them. A replayed dead letter is pending
//! again with its attempts starting over and its `webhook-id` unchanged; it
//! goes before its key's deliveries still pending.

use axum::extract::State;
use axum::Json as JsonReply;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use web::extract::{Path, Query};
use web::openapi::{BadParameter, Unauthorized};
use web::{ApiError, Caller};

use crate::endpoints::{load, AdminsOnly, EndpointNotFound, ADMINS};
use crate::WebhooksApi;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Only entries older than this id (the last one of the previous page).
    #[param(minimum = 1)]
    before: Option<i64>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

impl PageParams {
    fn checked(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        match self.before {
            Some(before) if before < 1 => {
                Err(ApiError::BadRequest("before must be an id".to_owned()))
            }
            before => Ok((before.unwrap_or(i64::MAX), limit)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Attempt {
    pub id: i64,
    pub delivery_id: i64,
    /// The `webhook-id` sent (the event id).
    pub message_id: String,
    pub event_type: String,
    pub attempted_at: DateTime<Utc>,
    /// `null` when no answer came (timeout, connection refused, refused address).
    #[schema(minimum = 100, maximum = 599)]
    pub status_code: Option<i32>,
    #[schema(minimum = 0)]
    pub duration_ms: i32,
    /// `null` when delivered.
    pub error: Option<String>,
    /// The answer body's first 512 bytes.
    #[schema(max_length = 512)]
    pub response_excerpt: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptPage {
    items: Vec<Attempt>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct DeadLetter {
    pub delivery_id: i64,
    pub message_id: String,
    pub event_type: String,
    /// What orders deliveries (the customer's id).
    pub ordering_key: String,
    #[schema(minimum = 1)]
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub dead_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterPage {
    items: Vec<DeadLetter>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// Dead letters that are pending again.
    #[schema(minimum = 0)]
    replayed: u64,
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/attempts", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), PageParams),
    responses(
        (status = 200, description = "The endpoint's delivery attempts, newest first", body = AttemptPage),
        BadParameter, Unauthorized, AdminsOnly, EndpointNotFound,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_attempts(
    State(api): State<WebhooksApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<JsonReply<AttemptPage>, ApiError> {
    caller.require(ADMINS)?;
    let (before, limit) = params.checked()?;
    let mut conn = api.pool.acquire().await?;
    load(&mut conn, caller.tenant_id, id).await?;
    let items = sqlx::query_as(
        "SELECT a.attempt_id AS id, a.delivery_id, d.message_id, d.event_type, a.attempted_at,
                a.status_code, a.duration_ms, a.error, a.response_excerpt
           FROM webhook_attempts a JOIN webhook_deliveries d USING (delivery_id)
          WHERE a.tenant_id = $1 AND a.endpoint_id = $2 AND a.attempt_id < $3
          ORDER BY a.attempt_id DESC LIMIT $4",
    )
    .bind(caller.tenant_id)
    .bind(id)
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(JsonReply(AttemptPage { items }))
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/dead-letters", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), PageParams),
    responses(
        (status = 200, description = "Deliveries that failed every attempt, newest first", body = DeadLetterPage),
        BadParameter, Unauthorized, AdminsOnly, EndpointNotFound,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_dead_letters(
    State(api): State<WebhooksApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<JsonReply<DeadLetterPage>, ApiError> {
    caller.require(ADMINS)?;
    let (before, limit) = params.checked()?;
    let mut conn = api.pool.acquire().await?;
    load(&mut conn, caller.tenant_id, id).await?;
    let items = sqlx::query_as(
        "SELECT delivery_id, message_id, event_type, ordering_key, attempts, last_error, created_at, dead_at
           FROM webhook_deliveries
          WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'dead' AND delivery_id < $3
          ORDER BY delivery_id DESC LIMIT $4",
    )
    .bind(caller.tenant_id)
    .bind(id)
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(JsonReply(DeadLetterPage { items }))
}

const REPLAY: &str = "UPDATE webhook_deliveries
    SET status = 'pending', attempts = 0, next_attempt_at = now(), dead_at = NULL,
        claimed_by = NULL, claimed_until = NULL
  WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'dead'";

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/dead-letters/{delivery_id}/replay", tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "Endpoint id"),
        ("delivery_id" = i64, Path, minimum = 1, description = "The dead letter's delivery id"),
    ),
    responses(
        (status = 200, description = "Pending again (sent as soon as its key's earlier deliveries are done)", body = Replayed),
        BadParameter, Unauthorized, AdminsOnly,
        (status = 404, description = "No such endpoint in the caller's tenant, or no such dead letter of it", body = web::Problem, content_type = web::problem::PROBLEM_JSON),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn replay_dead_letter(
    State(api): State<WebhooksApi>,
    caller: Caller,
    Path((id, delivery_id)): Path<(Uuid, i64)>,
) -> Result<JsonReply<Replayed>, ApiError> {
    caller.require(ADMINS)?;
    let mut conn = api.pool.acquire().await?;
    load(&mut conn, caller.tenant_id, id).await?;
    let done = sqlx::query(&format!("{REPLAY} AND delivery_id = $3"))
        .bind(caller.tenant_id)
        .bind(id)
        .bind(delivery_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound(
            "no such dead letter of this endpoint".to_owned(),
        ));
    }
    Ok(JsonReply(Replayed { replayed: 1 }))
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/dead-letters/replay", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "Every dead letter of the endpoint is pending again", body = Replayed),
        BadParameter, Unauthorized, AdminsOnly, EndpointNotFound,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn replay_all_dead_letters(
    State(api): State<WebhooksApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<JsonReply<Replayed>, ApiError> {
    caller.require(ADMINS)?;
    let mut conn = api.pool.acquire().await?;
    load(&mut conn, caller.tenant_id, id).await?;
    let done = sqlx::query(REPLAY)
        .bind(caller.tenant_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(JsonReply(Replayed {
        replayed: done.rows_affected(),
    }))
}

//! The admins' endpoint routes. Another tenant's endpoint is a 404; every
//! role but admin a 403. A URL or event type that is refused is a 422 naming
//! the field, and nothing is written.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonReply;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;
use web::extract::{Json, Path};
use web::openapi::{BodyTooLarge, MalformedRequest, Unauthorized};
use web::{ApiError, Caller, Role};

use crate::filter::parse_event_types;
use crate::signature::SigningKey;
use crate::{WebhooksApi, SECRET_PURPOSE};

pub(crate) const ADMINS: &[Role] = &[Role::Admin];

/// 403 of every webhook route.
#[derive(utoipa::IntoResponses)]
#[response(status = 403, description = "Only admins manage webhooks", content_type = web::problem::PROBLEM_JSON)]
#[allow(dead_code)] // The type only documents: no handler returns it.
pub(crate) struct AdminsOnly(pub web::Problem);

/// 404 of a route on one endpoint.
#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "No such endpoint in the caller's tenant", content_type = web::problem::PROBLEM_JSON)]
#[allow(dead_code)] // The type only documents: no handler returns it.
pub(crate) struct EndpointNotFound(pub web::Problem);

/// 422 of a route that takes a URL or event types.
#[derive(utoipa::IntoResponses)]
#[response(status = 422, description = "A refused URL (not http(s), malformed, or a loopback/private address) or event type; `errors` names the field", content_type = web::problem::PROBLEM_JSON)]
#[allow(dead_code)] // The type only documents: no handler returns it.
pub(crate) struct Refused(pub web::Problem);

/// One entry of an endpoint's event types: a CloudEvents type of the log
/// (`crm.customer.stage_moved.v1`), a family wildcard (`crm.customer.*`),
/// or a kind of delivery that is not in the log (none yet; `crm.reminder.due` is planned).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(value_type = String, pattern = r"^crm\.[a-z_]+\.([a-z_]+(\.v[0-9]+)?|\*)$", example = "crm.customer.stage_moved.v1")]
#[serde(transparent)]
pub struct EventTypeName(pub String);

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    /// Where deliveries are posted.
    #[schema(format = "uri", max_length = 2048)]
    pub url: String,
    #[schema(value_type = Vec<EventTypeName>, min_items = 1, max_items = 64)]
    pub event_types: Vec<String>,
    /// False: nothing is sent, and no new deliveries are written for it;
    /// those written before wait and go out once it is enabled again.
    pub enabled: bool,
    /// Why the sender disabled it (410 Gone, or dead letters in a row);
    /// `null` when enabled or disabled by an admin.
    pub disabled_reason: Option<String>,
    /// Until when deliveries are also signed with the secret before the last rotation.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    /// Deliveries waiting to be sent or retried.
    pub pending: i64,
    /// Deliveries that failed every attempt (see the dead-letter list).
    pub dead_letters: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
}

const ENDPOINT_COLUMNS: &str = "e.endpoint_id AS id, e.url, e.event_types, e.enabled, e.disabled_reason,
       CASE WHEN e.previous_secret_until > now() THEN e.previous_secret_until END AS previous_secret_valid_until,
       (SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.endpoint_id AND d.status = 'pending') AS pending,
       (SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.endpoint_id AND d.status = 'dead') AS dead_letters,
       e.created_at, e.created_by, e.updated_at";

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    pub endpoint: Endpoint,
    /// The signing secret, `whsec_` + base64 of 32 bytes: shown only now.
    #[schema(pattern = r"^whsec_[A-Za-z0-9+/]+={0,2}$")]
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// An http(s) URL whose host resolves only to public addresses (unless
    /// the service allows private ones).
    #[schema(format = "uri", min_length = 1, max_length = 2048)]
    url: String,
    #[schema(value_type = Vec<EventTypeName>, min_items = 1, max_items = 64)]
    event_types: Vec<String>,
    /// Default true.
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    #[schema(format = "uri", min_length = 1, max_length = 2048)]
    url: Option<String>,
    #[schema(value_type = Option<Vec<EventTypeName>>, min_items = 1, max_items = 64)]
    event_types: Option<Vec<String>>,
    /// True enables it again (also one the sender disabled: its waiting
    /// deliveries go out), false stops sending.
    enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new secret (`whsec_…`), shown only now; deliveries are signed with it from now on.
    #[schema(pattern = r"^whsec_[A-Za-z0-9+/]+={0,2}$")]
    pub secret: String,
    /// Until then every delivery also carries a signature with the previous secret.
    pub previous_secret_valid_until: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub items: Vec<Endpoint>,
}

async fn checked_url(api: &WebhooksApi, url: &str) -> Result<String, ApiError> {
    api.settings
        .addresses
        .check(url)
        .await
        .map(|_| url.to_owned())
        .map_err(|refused| ApiError::field("url", refused.0))
}

fn checked_types(types: &[String]) -> Result<Vec<String>, ApiError> {
    parse_event_types(types).map_err(|message| ApiError::field("event_types", message))
}

pub(crate) async fn load(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
) -> Result<Endpoint, ApiError> {
    sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e WHERE e.tenant_id = $1 AND e.endpoint_id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::NotFound("no such webhook endpoint".to_owned()))
}

#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    request_body = NewEndpoint,
    responses(
        (status = 201, description = "Registered; the secret is shown only in this answer", body = CreatedEndpoint),
        MalformedRequest, Unauthorized, AdminsOnly, BodyTooLarge, Refused,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_endpoint(
    State(api): State<WebhooksApi>,
    caller: Caller,
    Json(new): Json<NewEndpoint>,
) -> Result<(StatusCode, JsonReply<CreatedEndpoint>), ApiError> {
    caller.require(ADMINS)?;
    let url = checked_url(&api, &new.url).await?;
    let event_types = checked_types(&new.event_types)?;
    let id = Uuid::new_v4();
    let key = SigningKey::generate();
    let mut tx = api.pool.begin().await?;
    sqlx::query(
        "INSERT INTO webhook_endpoints (tenant_id, endpoint_id, url, event_types, enabled, secret_sealed, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(caller.tenant_id)
    .bind(id)
    .bind(&url)
    .bind(&event_types)
    .bind(new.enabled.unwrap_or(true))
    .bind(api.data_keys.seal_secret(key.as_bytes(), SECRET_PURPOSE, id))
    .bind(&caller.user_id)
    .execute(&mut *tx)
    .await?;
    let endpoint = load(&mut tx, caller.tenant_id, id).await?;
    tx.commit().await?;
    tracing::info!(endpoint_id = %id, "webhook endpoint registered");
    Ok((
        StatusCode::CREATED,
        JsonReply(CreatedEndpoint {
            endpoint,
            secret: key.to_secret(),
        }),
    ))
}

#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The tenant's endpoints, oldest first", body = EndpointList),
        Unauthorized, AdminsOnly,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_endpoints(
    State(api): State<WebhooksApi>,
    caller: Caller,
) -> Result<JsonReply<EndpointList>, ApiError> {
    caller.require(ADMINS)?;
    let items = sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e WHERE e.tenant_id = $1
          ORDER BY e.created_at, e.endpoint_id"
    ))
    .bind(caller.tenant_id)
    .fetch_all(&api.pool)
    .await?;
    Ok(JsonReply(EndpointList { items }))
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = Endpoint),
        MalformedRequest, Unauthorized, AdminsOnly, EndpointNotFound,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_endpoint(
    State(api): State<WebhooksApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<JsonReply<Endpoint>, ApiError> {
    caller.require(ADMINS)?;
    let mut conn = api.pool.acquire().await?;
    Ok(JsonReply(load(&mut conn, caller.tenant_id, id).await?))
}

#[utoipa::path(
    patch, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = EndpointChange,
    responses(
        (status = 200, description = "Changed (a field left out stays as it is)", body = Endpoint),
        MalformedRequest, Unauthorized, AdminsOnly, EndpointNotFound, BodyTooLarge, Refused,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn update_endpoint(
    State(api): State<WebhooksApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(change): Json<EndpointChange>,
) -> Result<JsonReply<Endpoint>, ApiError> {
    caller.require(ADMINS)?;
    let url = match &change.url {
        Some(url) => Some(checked_url(&api, url).await?),
        None => None,
    };
    let event_types = change
        .event_types
        .as_deref()
        .map(checked_types)
        .transpose()?;
    let mut tx = api.pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE webhook_endpoints
            SET url = coalesce($3, url),
                event_types = coalesce($4, event_types),
                enabled = coalesce($5, enabled),
                -- Enabled again by an admin: the sender's reason and count start over.
                disabled_reason = CASE WHEN coalesce($5, enabled) THEN NULL ELSE disabled_reason END,
                consecutive_dead_letters = CASE WHEN $5 THEN 0 ELSE consecutive_dead_letters END,
                updated_at = now()
          WHERE tenant_id = $1 AND endpoint_id = $2",
    )
    .bind(caller.tenant_id)
    .bind(id)
    .bind(url)
    .bind(event_types)
    .bind(change.enabled)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such webhook endpoint".to_owned()));
    }
    let endpoint = load(&mut tx, caller.tenant_id, id).await?;
    tx.commit().await?;
    Ok(JsonReply(endpoint))
}

#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted, with its deliveries and attempts"),
        MalformedRequest, Unauthorized, AdminsOnly, EndpointNotFound,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete_endpoint(
    State(api): State<WebhooksApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.require(ADMINS)?;
    let deleted =
        sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND endpoint_id = $2")
            .bind(caller.tenant_id)
            .bind(id)
            .execute(&api.pool)
            .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such webhook endpoint".to_owned()));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "A new secret, shown only now; the previous one keeps signing too for 24 hours", body = RotatedSecret),
        MalformedRequest, Unauthorized, AdminsOnly, EndpointNotFound,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn rotate_secret(
    State(api): State<WebhooksApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<JsonReply<RotatedSecret>, ApiError> {
    caller.require(ADMINS)?;
    let key = SigningKey::generate();
    let valid = chrono::Duration::from_std(api.settings.previous_secret_valid)
        .unwrap_or(chrono::Duration::hours(24));
    // The previous secret is the one current until now, even if an earlier
    // rotation's is still valid: receivers are told to switch to the newest.
    let until: Option<DateTime<Utc>> = sqlx::query_scalar(
        "UPDATE webhook_endpoints
            SET previous_secret_sealed = secret_sealed, previous_secret_until = now() + $3,
                secret_sealed = $4, updated_at = now()
          WHERE tenant_id = $1 AND endpoint_id = $2
         RETURNING previous_secret_until",
    )
    .bind(caller.tenant_id)
    .bind(id)
    .bind(valid)
    .bind(
        api.data_keys
            .seal_secret(key.as_bytes(), SECRET_PURPOSE, id),
    )
    .fetch_optional(&api.pool)
    .await?;
    let until = until.ok_or_else(|| ApiError::NotFound("no such webhook endpoint".to_owned()))?;
    tracing::info!(endpoint_id = %id, "webhook secret rotated");
    Ok(JsonReply(RotatedSecret {
        secret: key.to_secret(),
        previous_secret_valid_until: until,
    }))
}

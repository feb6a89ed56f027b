//! Audit routes (auditor and admin only): a customer's full history with its
//! hash chain, its state as of any instant, and chain verification.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use events::personal::DataKey;
use projector::customers::{self, CustomerRow};
use projector::profile::{self, Profile};
use store::chain::{self, ChainedEvent};
use store::data_keys::DataKeys;
use store::source::{self, EventRow, StoredEvent};
use web::extract::{Path, Query};
use web::openapi::{AuditorsOnly, NotInTenant, QueryProblems, Unauthorized};
use web::{ApiError, Caller, Problem, Role};

use crate::api::QueryApi;
use crate::params::parse_instant;

pub const NDJSON: &str = "application/x-ndjson";
const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1_000;

/// One event as auditors see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEvent {
    pub customer_id: Uuid,
    pub sequence: i64,
    pub position: i64,
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub actor: Option<String>,
    pub role: Option<String>,
    pub command: Option<String>,
    pub correlation_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// Hex SHA-256 of the previous event; null for the first.
    pub prev_hash: Option<String>,
    pub hash: String,
}

/// A stored row with everything the audit routes need.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    #[sqlx(flatten)]
    pub chained: ChainedEvent,
    pub tx: String,
    pub global_position: i64,
    pub tenant_id: Uuid,
    pub occurred_at: DateTime<Utc>,
}

/// Columns for [`AuditRow`]; every reader of audit rows selects these.
pub const AUDIT_COLUMNS: &str =
    "aggregate_type, aggregate_id, sequence, event_type, event_version, event_id, \
     recorded_at, payload::text AS payload, metadata::text AS metadata, prev_hash, hash, \
     tx::text AS tx, global_position, tenant_id, occurred_at";

/// A stored event the audit cannot read: an aggregate id that is not a UUID,
/// a payload or metadata that is not JSON it can read. An error (a logged
/// 500 on the routes), never shown as a nil id or `null`.
#[derive(Debug, thiserror::Error)]
#[error(
    "event {sequence} of stream {aggregate_id:?} (position {position}) cannot be read: \
     its {part} {reason}"
)]
pub struct UndecodableEvent {
    pub aggregate_id: String,
    pub sequence: i64,
    pub position: i64,
    /// What does not decode: `aggregate id`, `payload` or `metadata`.
    pub part: &'static str,
    pub reason: String,
}

impl AuditRow {
    fn undecodable(&self, part: &'static str, reason: impl std::fmt::Display) -> UndecodableEvent {
        UndecodableEvent {
            aggregate_id: self.chained.aggregate_id.clone(),
            sequence: self.chained.sequence,
            position: self.global_position,
            part,
            reason: reason.to_string(),
        }
    }

    /// The customer whose stream holds the event.
    pub fn customer_id(&self) -> Result<Uuid, UndecodableEvent> {
        Uuid::parse_str(&self.chained.aggregate_id)
            .map_err(|error| self.undecodable("aggregate id", format!("is not a UUID: {error}")))
    }

    fn json(&self, part: &'static str, text: &str) -> Result<Value, UndecodableEvent> {
        serde_json::from_str(text)
            .map_err(|error| self.undecodable(part, format!("is not readable JSON: {error}")))
    }

    /// The auditor's view; personal fields are opened with `key` or shown erased.
    pub fn to_audit_event(&self, key: Option<&DataKey>) -> Result<AuditEvent, UndecodableEvent> {
        let event = &self.chained;
        let customer_id = self.customer_id()?;
        let metadata = self.json("metadata", &event.metadata)?;
        let mut payload = self.json("payload", &event.payload)?;
        DataKey::reveal_json(key, customer_id, &mut payload);
        let field = |name: &str| {
            metadata
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(AuditEvent {
            customer_id,
            sequence: event.sequence,
            position: self.global_position,
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            version: event.event_version.clone(),
            payload,
            actor: field("actor"),
            role: field("role"),
            command: field("command"),
            correlation_id: field("correlation_id"),
            idempotency_key: field("idempotency_key"),
            occurred_at: self.occurred_at,
            recorded_at: event.recorded_at,
            prev_hash: event.prev_hash.as_ref().map(hex::encode),
            hash: hex::encode(&event.hash),
        })
    }

    fn to_stored(&self) -> Result<StoredEvent, ApiError> {
        let event = &self.chained;
        let metadata = self
            .json("metadata", &event.metadata)
            .map_err(ApiError::internal)?;
        source::decode(EventRow {
            tx_text: self.tx.clone(),
            global_position: self.global_position,
            event_id: event.event_id,
            tenant_id: self.tenant_id,
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            occurred_at: self.occurred_at,
            recorded_at: event.recorded_at,
            actor: metadata
                .get("actor")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            hash: event.hash.clone(),
            payload: event.payload.clone(),
        })
        .map_err(ApiError::internal)
    }
}

/// The whole stream of a customer of `tenant_id`; empty when unknown or another tenant's.
pub async fn load(
    pool: &PgPool,
    tenant_id: Uuid,
    customer_id: Uuid,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {AUDIT_COLUMNS} FROM events
          WHERE aggregate_type = 'Customer' AND aggregate_id = $1 AND tenant_id = $2
          ORDER BY sequence"
    ))
    .bind(customer_id.to_string())
    .bind(tenant_id)
    .fetch_all(pool)
    .await
}

async fn key_of(api: &QueryApi, customer_id: Uuid) -> Result<Option<DataKey>, ApiError> {
    let mut keys = api
        .data_keys
        .load(&[customer_id])
        .await
        .map_err(ApiError::internal)?;
    Ok(keys.remove(&customer_id).flatten())
}

async fn stream_of(
    api: &QueryApi,
    caller: &Caller,
    customer_id: Uuid,
) -> Result<Vec<AuditRow>, ApiError> {
    caller.require(AUDITORS)?;
    let rows = load(&api.pool, caller.tenant_id, customer_id).await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("customer not found".into()));
    }
    Ok(rows)
}

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains(NDJSON))
}

/// One JSON document per line.
pub fn ndjson_line(event: &AuditEvent) -> String {
    let mut line = serde_json::to_string(event).unwrap_or_default();
    line.push('\n');
    line
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Events after this sequence (default 0).
    after_sequence: Option<i64>,
    /// 1–1000, default 100 (JSON pages only; NDJSON returns the whole stream).
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    items: Vec<AuditEvent>,
    /// Pass as `after_sequence` for the next page; absent on the last.
    next_after_sequence: Option<i64>,
}

#[utoipa::path(
    get, path = "/v1/audit/customers/{id}/events", tag = "audit",
    params(("id" = Uuid, Path, description = "Customer id"), HistoryParams),
    responses(
        (status = 200, description = "The stream in order, with its hash chain (JSON pages, or NDJSON with Accept: application/x-ndjson)", body = HistoryPage),
        QueryProblems,
        AuditorsOnly,
        NotInTenant,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn history(
    State(api): State<QueryApi>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Query(params): Query<HistoryParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let rows = stream_of(&api, &caller, id).await?;
    let key = key_of(&api, id).await?;
    if wants_ndjson(&headers) {
        let body = rows
            .iter()
            .map(|row| Ok(ndjson_line(&row.to_audit_event(key.as_ref())?)))
            .collect::<Result<String, UndecodableEvent>>()
            .map_err(ApiError::internal)?;
        return Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON))],
            body,
        )
            .into_response());
    }
    let after = params.after_sequence.unwrap_or(0);
    let mut items = rows
        .iter()
        .filter(|row| row.chained.sequence > after)
        .take(usize::try_from(limit).unwrap_or(0) + 1)
        .map(|row| row.to_audit_event(key.as_ref()))
        .collect::<Result<Vec<AuditEvent>, _>>()
        .map_err(ApiError::internal)?;
    let next_after_sequence = if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items.last().map(|event| event.sequence)
    } else {
        None
    };
    Ok(Json(HistoryPage {
        items,
        next_after_sequence,
    })
    .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StateParams {
    /// RFC 3339: the state from the events recorded up to this instant.
    as_of: Option<String>,
    /// Or: the state after this many events.
    sequence: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StateAsOf {
    /// The instant the state and profile are for.
    as_of: DateTime<Utc>,
    /// Events applied.
    version: i64,
    #[schema(value_type = Object)]
    state: CustomerRow,
    profile: Profile,
}

#[utoipa::path(
    get, path = "/v1/audit/customers/{id}/state", tag = "audit",
    params(("id" = Uuid, Path, description = "Customer id"), StateParams),
    responses(
        (status = 200, description = "State rebuilt from the events recorded up to then, with its profile for that instant", body = StateAsOf),
        (status = 400, description = "Malformed as_of or sequence", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        AuditorsOnly,
        (status = 404, description = "No such customer in this tenant, or not registered yet then", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn state(
    State(api): State<QueryApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<StateParams>,
) -> Result<Response, ApiError> {
    let as_of = params
        .as_of
        .as_deref()
        .map(|raw| parse_instant("as_of", raw))
        .transpose()?;
    if as_of.is_some() && params.sequence.is_some() {
        return Err(ApiError::BadRequest(
            "give as_of or sequence, not both".into(),
        ));
    }
    if params.sequence.is_some_and(|sequence| sequence < 1) {
        return Err(ApiError::BadRequest("sequence must be 1 or more".into()));
    }
    let rows = stream_of(&api, &caller, id).await?;
    let known: Vec<&AuditRow> = rows
        .iter()
        .filter(|row| match (as_of, params.sequence) {
            (Some(as_of), _) => row.chained.recorded_at <= as_of,
            (None, Some(sequence)) => row.chained.sequence <= sequence,
            (None, None) => true,
        })
        .collect();
    let Some(last) = known.last() else {
        return Err(ApiError::NotFound(
            "the customer was not registered yet at that instant".into(),
        ));
    };
    let instant = as_of.unwrap_or(last.chained.recorded_at);
    let events = known
        .iter()
        .map(|row| row.to_stored())
        .collect::<Result<Vec<_>, _>>()?;
    let state = customers::replay(&events, key_of(&api, id).await?)
        .ok_or_else(|| ApiError::internal("stream does not start with a registration"))?;
    let profile = profile::profile(&customers::facts(state.registered_at, &events), instant);
    Ok(Json(StateAsOf {
        as_of: instant,
        version: last.chained.sequence,
        state,
        profile,
    })
    .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    valid: bool,
    events: usize,
    /// The first sequence whose hash does not verify.
    broken_at: Option<i64>,
    reason: Option<String>,
    /// Hex hash of the last event: the stream's fingerprint.
    head: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/audit/customers/{id}/verify", tag = "audit",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "Whether the stream's hash chain verifies, else the first broken sequence", body = Verification),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        AuditorsOnly,
        NotInTenant,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn verify(
    State(api): State<QueryApi>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let rows = stream_of(&api, &caller, id).await?;
    let chained: Vec<ChainedEvent> = rows.iter().map(|row| row.chained.clone()).collect();
    let outcome = chain::verify_stream(&chained);
    Ok(Json(Verification {
        valid: outcome.is_ok(),
        events: chained.len(),
        broken_at: outcome.as_ref().err().map(|broken| broken.sequence),
        reason: outcome.err().map(|broken| broken.reason),
        head: chained.last().map(|event| hex::encode(&event.hash)),
    })
    .into_response())
}

/// What `crm audit verify` found for a tenant.
#[derive(Debug)]
pub struct TenantVerification {
    pub events: u64,
    pub streams: usize,
    /// The first break of each broken stream: (customer id, break).
    pub breaks: Vec<(String, chain::ChainBreak)>,
}

/// Recomputes the hash chain of every stream of a tenant, reading the log once
/// in position order (which keeps each stream's sequence order: an event can
/// only be appended after its predecessor committed).
pub async fn verify_tenant(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<TenantVerification, sqlx::Error> {
    use futures_util::TryStreamExt;
    let query =
        format!("SELECT {AUDIT_COLUMNS} FROM events WHERE tenant_id = $1 ORDER BY global_position");
    let mut rows = sqlx::query_as::<_, AuditRow>(&query)
        .bind(tenant_id)
        .fetch(pool);
    let mut verifier = chain::ChainVerifier::default();
    while let Some(row) = rows.try_next().await? {
        verifier.check(&row.chained);
    }
    Ok(TenantVerification {
        events: verifier.events(),
        streams: verifier.streams(),
        breaks: verifier.breaks().to_vec(),
    })
}

/// Writes a tenant's events (or one customer's) as NDJSON, in position order.
pub async fn export(
    pool: &PgPool,
    data_keys: &DataKeys,
    tenant_id: Uuid,
    customer_id: Option<Uuid>,
    out: &mut (impl std::io::Write + Send),
) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    use futures_util::TryStreamExt;
    let query = format!(
        "SELECT {AUDIT_COLUMNS} FROM events
          WHERE tenant_id = $1 AND ($2::text IS NULL OR aggregate_id = $2)
          ORDER BY global_position"
    );
    let mut rows = sqlx::query_as::<_, AuditRow>(&query)
        .bind(tenant_id)
        .bind(customer_id.map(|id| id.to_string()))
        .fetch(pool);
    let mut written = 0;
    let mut keys: std::collections::HashMap<Uuid, Option<DataKey>> =
        std::collections::HashMap::new();
    while let Some(row) = rows.try_next().await? {
        let customer = row.customer_id()?;
        if !keys.contains_key(&customer) {
            keys.extend(data_keys.load(&[customer]).await?);
        }
        let key = keys.get(&customer).and_then(Option::as_ref);
        out.write_all(ndjson_line(&row.to_audit_event(key)?).as_bytes())?;
        written += 1;
    }
    out.flush()?;
    Ok(written)
}

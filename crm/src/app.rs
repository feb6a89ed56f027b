//! The whole HTTP application as a `Router` tests can call without a socket.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sqlx::PgPool;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use command::idempotency::IdempotencyStore;
use command::{CommandApi, CommandService};
use query::QueryApi;
use store::keys::KeyStore;

use crate::metrics::Metrics;
use web::extract::MAX_BODY_BYTES;
use web::JwtKeys;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "CRM event store API",
        description = "Commands and queries of the event-sourced CRM. Errors are application/problem+json (RFC 9457).",
    ),
    modifiers(&BearerAuth),
    components(schemas(web::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Everything the routes share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub keys: JwtKeys,
    pub data_keys: KeyStore,
    pub metrics: Arc<Metrics>,
    /// The relay running in this process, if any (`/readyz`, `/metrics`).
    pub relay: Option<RelayMonitor>,
    /// Answers of the read routes ([`query::ReadCache::disabled`] unless set).
    pub cache: query::ReadCache,
}

/// What `/readyz` and `/metrics` read of a running relay.
#[derive(Clone)]
pub struct RelayMonitor {
    pub topic: String,
    pub health: relay::RelayHealth,
}

/// The state of the operations routes.
#[derive(Clone)]
pub struct Operations {
    pub pool: PgPool,
    pub metrics: Arc<Metrics>,
    pub relay: Option<RelayMonitor>,
}

impl Operations {
    /// The relay's checkpoint and lag, when one runs here.
    pub async fn relay_status(&self) -> Option<Result<relay::RelayStatus, sqlx::Error>> {
        let monitor = self.relay.as_ref()?;
        Some(relay::status(&self.pool, &monitor.topic, Some(&monitor.health)).await)
    }
}

impl AppState {
    pub fn new(pool: PgPool, keys: JwtKeys, data_keys: KeyStore) -> Self {
        Self {
            pool,
            keys,
            data_keys,
            metrics: Arc::new(Metrics::default()),
            relay: None,
            cache: query::ReadCache::disabled(),
        }
    }
}

/// Builds the router: command and query routes, health, metrics, the OpenAPI document.
pub fn router(state: AppState) -> Router {
    let commands = CommandApi {
        service: Arc::new(CommandService::new(
            state.pool.clone(),
            state.data_keys.clone(),
        )),
        idempotency: IdempotencyStore::new(state.pool.clone()),
        keys: state.keys.clone(),
    };
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(command::router().with_state(commands))
        .merge(query::router(QueryApi {
            pool: state.pool.clone(),
            keys: state.keys.clone(),
            data_keys: state.data_keys.clone(),
            cache: state.cache,
        }))
        .merge(operations_router().with_state(Operations {
            pool: state.pool,
            metrics: state.metrics.clone(),
            relay: state.relay,
        }))
        .split_for_parts();
    let openapi = Arc::new(openapi);
    let request_id = HeaderName::from_static(command::http::REQUEST_ID);
    api.route(
        "/openapi.json",
        get(move || {
            let openapi = Arc::clone(&openapi);
            async move { Json(openapi.as_ref().clone()) }
        }),
    )
    .layer(axum::middleware::from_fn_with_state(
        state.metrics,
        crate::metrics::track,
    ))
    .fallback(web::problem::not_found)
    .method_not_allowed_fallback(web::problem::method_not_allowed)
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .layer(PropagateRequestIdLayer::new(request_id.clone()))
    .layer(
        TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get(command::http::REQUEST_ID)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!(
                "request",
                method = %request.method(),
                uri = %request.uri().path(),
                request_id = %request_id,
            )
        }),
    )
    .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

fn operations_router() -> OpenApiRouter<Operations> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(crate::metrics::render))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// `ok` (liveness), `ready`, `degraded` (ready, but some events were
    /// dead-lettered: see `dead_letters`) or why the service is not ready.
    status: &'static str,
    /// Events that projections or the relay gave up on and passed, per
    /// consumer (`crm projector status` lists them, `crm projector retry`
    /// applies them again). Absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dead_letters: Vec<DeadLetterCount>,
    /// The Kafka relay of this process, when KAFKA_BROKERS is set. A broker
    /// being down does not make the service unready (commands keep working,
    /// the relay catches up); it shows here as lag and `last_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    relay: Option<RelayReadiness>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DeadLetterCount {
    /// A projection name, or `relay:<topic>`.
    consumer: String,
    events: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RelayReadiness {
    topic: String,
    /// Global position of the last event confirmed by the broker.
    position: i64,
    /// Committed events not yet on the topic.
    lag_events: i64,
    /// Age of the oldest event not yet on the topic, in seconds.
    lag_seconds: f64,
    last_error: Option<String>,
}

/// Liveness: 200 while the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        dead_letters: Vec::new(),
        relay: None,
    })
}

/// Readiness: 200 only when the database is reachable and migrated; reports
/// the relay's lag, and `degraded` (still 200) with the dead-lettered events.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Database unreachable or not migrated", body = Health),
    ))]
async fn readyz(State(operations): State<Operations>) -> Response {
    if !crate::db::is_ready(&operations.pool).await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "database unreachable or not migrated",
                dead_letters: Vec::new(),
                relay: None,
            }),
        )
            .into_response();
    }
    let relay = match operations.relay_status().await {
        Some(Ok(status)) => Some(RelayReadiness {
            topic: status.topic,
            position: status.checkpoint.position,
            lag_events: status.lag_events,
            lag_seconds: status.lag_seconds,
            last_error: status.last_error,
        }),
        Some(Err(error)) => {
            tracing::warn!(%error, "relay status unavailable for /readyz");
            None
        }
        None => None,
    };
    let dead_letters: Vec<DeadLetterCount> =
        match store::dead_letters::counts(&operations.pool).await {
            Ok(counts) => counts
                .into_iter()
                .map(|(consumer, events)| DeadLetterCount { consumer, events })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "dead letters unavailable for /readyz");
                Vec::new()
            }
        };
    Json(Health {
        status: if dead_letters.is_empty() {
            "ready"
        } else {
            "degraded"
        },
        dead_letters,
        relay,
    })
    .into_response()
}

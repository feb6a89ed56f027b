//! The whole HTTP application as a `Router` tests can call without a socket.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::routing::get;
use axum::{Json, Router};
use sqlx::PgPool;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use command::idempotency::IdempotencyStore;
use command::{CommandApi, CommandService};
use query::QueryApi;
use store::data_keys::DataKeys;

use crate::ops::{Metrics, Operations, RelayMonitor};
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
    pub jwt: JwtKeys,
    pub data_keys: DataKeys,
    pub metrics: Arc<Metrics>,
    /// The relay running in this process, if any (`/readyz`, `/metrics`).
    pub relay: Option<RelayMonitor>,
    /// Answers of the read routes ([`query::ReadCache::disabled`] unless set).
    pub cache: query::ReadCache,
    /// Sign-in attempts allowed per login and per client address.
    pub sign_in_limits: command::http::sessions::AttemptLimits,
    /// WeChat sign-in's client; `None` (the default): not configured.
    pub wechat: Option<command::wechat::WeChatClient>,
    /// The mini-program's H5 build, served at `/app/` ([`crate::app_files`]).
    pub app_dir: Option<std::path::PathBuf>,
    /// Wakes the live notification feeds of this process.
    pub arrivals: notify::Arrivals,
    /// Turns true when shutdown begins, so that live feeds end and the
    /// server's graceful shutdown is not held up by them.
    pub feeds_shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    /// What the webhook routes check URLs against.
    pub webhooks: Arc<webhooks::WebhookSettings>,
}

impl AppState {
    pub fn new(pool: PgPool, jwt: JwtKeys, data_keys: DataKeys) -> Self {
        Self {
            pool,
            jwt,
            data_keys,
            metrics: Arc::new(Metrics::default()),
            relay: None,
            cache: query::ReadCache::disabled(),
            sign_in_limits: command::http::sessions::AttemptLimits::default(),
            wechat: None,
            app_dir: None,
            arrivals: notify::Arrivals::default(),
            feeds_shutdown: Arc::new(tokio::sync::watch::channel(false).0),
            webhooks: Arc::new(webhooks::WebhookSettings::default()),
        }
    }
}

/// Builds the router: command and query routes, health, metrics, the OpenAPI document.
pub fn router(state: AppState) -> Router {
    let customers = Arc::new(CommandService::new(
        state.pool.clone(),
        state.data_keys.clone(),
    ));
    let commands = CommandApi {
        follow_ups: command::follow_up::FollowUpService::new(customers.clone()),
        service: customers,
        directory: command::directory::DirectoryService::new(
            state.pool.clone(),
            state.data_keys.clone(),
        ),
        sessions: command::http::sessions::SessionService::new(
            state.pool.clone(),
            state.jwt.clone(),
            state.sign_in_limits,
        ),
        idempotency: IdempotencyStore::new(state.pool.clone()),
        jwt: state.jwt.clone(),
        wechat: state.wechat,
    };
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(command::router().with_state(commands))
        .merge(query::router(QueryApi {
            pool: state.pool.clone(),
            jwt: state.jwt.clone(),
            data_keys: state.data_keys.clone(),
            cache: state.cache,
        }))
        .merge(automation::router(automation::AutomationApi {
            pool: state.pool.clone(),
            jwt: state.jwt.clone(),
        }))
        .merge(notify::router(notify::NotifyApi {
            pool: state.pool.clone(),
            jwt: state.jwt.clone(),
            arrivals: state.arrivals,
            shutdown: state.feeds_shutdown.subscribe(),
        }))
        .merge(webhooks::router(webhooks::WebhooksApi {
            pool: state.pool.clone(),
            jwt: state.jwt.clone(),
            data_keys: state.data_keys.clone(),
            settings: state.webhooks.clone(),
        }))
        .merge(crate::ops::router().with_state(Operations {
            pool: state.pool,
            metrics: state.metrics.clone(),
            relay: state.relay,
        }))
        .split_for_parts();
    let openapi = Arc::new(openapi);
    let request_id = HeaderName::from_static(command::http::REQUEST_ID);
    let api = match &state.app_dir {
        Some(dir) => api.merge(crate::app_files::router(dir)),
        None => api,
    };
    api.route(
        "/openapi.json",
        get(move || {
            let openapi = Arc::clone(&openapi);
            async move { Json(openapi.as_ref().clone()) }
        }),
    )
    .layer(axum::middleware::from_fn_with_state(
        state.metrics,
        crate::ops::metrics::track,
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

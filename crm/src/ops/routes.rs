//! The operations routes: `/healthz`, `/readyz` and `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::metrics::scrape;
use super::state::Operations;

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Health {
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
pub(super) struct DeadLetterCount {
    /// A projection name, or `relay:<topic>`.
    consumer: String,
    events: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct RelayReadiness {
    topic: String,
    /// Global position of the last event confirmed by the broker.
    position: i64,
    /// Committed events not yet on the topic.
    lag_events: i64,
    /// Age of the oldest event not yet on the topic, in seconds.
    lag_seconds: f64,
    last_error: Option<String>,
    /// `leader` when this instance holds the relay lease and publishes;
    /// `standby` when another instance does (healthy: it takes over within
    /// seconds when the leader goes). Lag and position are the topic's,
    /// whoever publishes.
    role: &'static str,
    /// Events this instance has handed to the Kafka producer since it started.
    published_here: u64,
}

/// Liveness: 200 while the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
pub(super) async fn healthz() -> Json<Health> {
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
pub(super) async fn readyz(State(operations): State<Operations>) -> Response {
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
            role: status.role.unwrap_or_default().as_str(),
            published_here: status.published_here,
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

/// Prometheus/OpenMetrics text: request counts and latencies per route,
/// projection checkpoints and lag, the Kafka relay's checkpoint and lag.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub(super) async fn render(State(operations): State<Operations>) -> Response {
    scrape(
        &operations.metrics,
        &operations.pool,
        operations.relay_status().await,
    )
    .await
}

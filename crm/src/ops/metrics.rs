//! `/metrics` in Prometheus text format: request counts and latencies per
//! route, each projection's checkpoint and lag (read at scrape time), and
//! the relay's: lag, failing, and whether this instance leads or stands by.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectionLabels {
    projection: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    checkpoint: Family<ProjectionLabels, Gauge>,
    lag_events: Family<ProjectionLabels, Gauge>,
    lag_seconds: Family<ProjectionLabels, Gauge<f64, AtomicU64>>,
    relay_checkpoint: Family<TopicLabels, Gauge>,
    relay_lag_events: Family<TopicLabels, Gauge>,
    relay_lag_seconds: Family<TopicLabels, Gauge<f64, AtomicU64>>,
    relay_failing: Family<TopicLabels, Gauge>,
    relay_leader: Family<TopicLabels, Gauge>,
    relay_published_here: Family<TopicLabels, Gauge>,
    dead_letters: Family<ConsumerLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabels {
    consumer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("crm");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        let checkpoint = Family::<ProjectionLabels, Gauge>::default();
        let lag_events = Family::<ProjectionLabels, Gauge>::default();
        let lag_seconds = Family::<ProjectionLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "projection_checkpoint_position",
            "Global position of the last applied event",
            checkpoint.clone(),
        );
        registry.register(
            "projection_lag_events",
            "Committed events not yet applied",
            lag_events.clone(),
        );
        registry.register(
            "projection_lag_seconds",
            "Age of the oldest event not yet applied",
            lag_seconds.clone(),
        );
        let dead_letters = Family::<ConsumerLabels, Gauge>::default();
        registry.register(
            "dead_letters",
            "Events a projection or the relay gave up on and passed (`crm projector status`)",
            dead_letters.clone(),
        );
        let relay_checkpoint = Family::<TopicLabels, Gauge>::default();
        let relay_lag_events = Family::<TopicLabels, Gauge>::default();
        let relay_lag_seconds = Family::<TopicLabels, Gauge<f64, AtomicU64>>::default();
        let relay_failing = Family::<TopicLabels, Gauge>::default();
        registry.register(
            "relay_checkpoint_position",
            "Global position of the last event the broker confirmed",
            relay_checkpoint.clone(),
        );
        registry.register(
            "relay_lag_events",
            "Committed events not yet on the Kafka topic",
            relay_lag_events.clone(),
        );
        registry.register(
            "relay_lag_seconds",
            "Age of the oldest event not yet on the Kafka topic",
            relay_lag_seconds.clone(),
        );
        registry.register(
            "relay_failing",
            "1 while the relay's last batch failed (broker unreachable, topic missing)",
            relay_failing.clone(),
        );
        let relay_leader = Family::<TopicLabels, Gauge>::default();
        let relay_published_here = Family::<TopicLabels, Gauge>::default();
        registry.register(
            "relay_leader",
            "1 while this instance holds the relay lease and publishes, 0 while it stands by",
            relay_leader.clone(),
        );
        registry.register(
            "relay_published_here_events",
            "Events this instance has handed to the Kafka producer since it started (stays 0 on a standby)",
            relay_published_here.clone(),
        );
        Metrics {
            registry,
            relay_leader,
            relay_published_here,
            relay_checkpoint,
            relay_lag_events,
            relay_lag_seconds,
            relay_failing,
            dead_letters,
            requests,
            latency,
            checkpoint,
            lag_events,
            lag_seconds,
        }
    }
}

/// Middleware: counts and times every request under its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// The OpenMetrics text of `metrics`, with the gauges read now: projection
/// checkpoints and lag, dead letters, the relay's checkpoint and lag (when
/// `relay` is given).
pub async fn scrape(
    metrics: &Metrics,
    pool: &sqlx::PgPool,
    relay: Option<Result<relay::RelayStatus, sqlx::Error>>,
) -> Response {
    match projector::runner::status(pool).await {
        Ok(statuses) => {
            for status in statuses {
                let labels = ProjectionLabels {
                    projection: status.name.to_owned(),
                };
                metrics
                    .checkpoint
                    .get_or_create(&labels)
                    .set(status.checkpoint.position);
                metrics
                    .lag_events
                    .get_or_create(&labels)
                    .set(status.lag_events);
                metrics
                    .lag_seconds
                    .get_or_create(&labels)
                    .set(status.lag_seconds);
            }
        }
        Err(error) => tracing::warn!(%error, "projection status unavailable for /metrics"),
    }
    match store::dead_letters::counts(pool).await {
        Ok(counts) => {
            // Cleared first, so a consumer whose dead letters were retried drops to nothing.
            metrics.dead_letters.clear();
            let named = projector::Projection::ALL.map(|p| (p.name().to_owned(), 0));
            for (consumer, count) in named.into_iter().chain(counts) {
                metrics
                    .dead_letters
                    .get_or_create(&ConsumerLabels { consumer })
                    .set(count);
            }
        }
        Err(error) => tracing::warn!(%error, "dead letters unavailable for /metrics"),
    }
    match relay {
        Some(Ok(status)) => {
            let labels = TopicLabels {
                topic: status.topic.clone(),
            };
            metrics
                .relay_checkpoint
                .get_or_create(&labels)
                .set(status.checkpoint.position);
            metrics
                .relay_lag_events
                .get_or_create(&labels)
                .set(status.lag_events);
            metrics
                .relay_lag_seconds
                .get_or_create(&labels)
                .set(status.lag_seconds);
            metrics
                .relay_failing
                .get_or_create(&labels)
                .set(i64::from(status.last_error.is_some()));
            metrics
                .relay_leader
                .get_or_create(&labels)
                .set(i64::from(status.role == Some(relay::RelayRole::Leader)));
            metrics
                .relay_published_here
                .get_or_create(&labels)
                .set(i64::try_from(status.published_here).unwrap_or(i64::MAX));
        }
        Some(Err(error)) => tracing::warn!(%error, "relay status unavailable for /metrics"),
        None => {}
    }
    let mut body = String::new();
    if encode(&mut body, &metrics.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

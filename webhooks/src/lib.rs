//! Tenant webhooks: delivery of the tenant's events to other systems,
//! without Kafka.
//!
//! - [`router`]: the admins' routes under `/v1/webhooks` (endpoints, their
//!   secrets, attempts, dead letters and replays);
//! - [`run`]: the two loops `crm serve` runs — the [`outbox`] reader, which
//!   follows the event log in commit-safe order with its own checkpoint and
//!   writes one delivery per matching endpoint, and the [`sender`], which
//!   claims due deliveries with `FOR UPDATE SKIP LOCKED`, signs them
//!   ([`signature`], Standard Webhooks), retries with backoff in order per
//!   customer and endpoint ([`schedule`]), dead-letters, and disables
//!   endpoints that keep failing ([`alerts`]).
//!
//! Destinations are checked against server-side request forgery
//! ([`address`]) when registered and at every send.
#![forbid(unsafe_code)]

pub mod address;
pub mod alerts;
mod endpoints;
pub mod filter;
mod history;
pub mod outbox;
pub mod schedule;
pub mod sender;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use sqlx::PgPool;
use store::data_keys::DataKeys;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use web::JwtKeys;

pub use address::AddressPolicy;
pub use alerts::{AdminAlerts, EndpointDisabled, NoAlerts};
pub use schedule::RetrySchedule;

/// What the master key's sealed webhook secrets are bound to.
pub(crate) const SECRET_PURPOSE: &str = "webhook-signing-key";

/// How webhooks behave; `crm serve` fills it from its settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Private and loopback destinations allowed (`CRM_WEBHOOKS_ALLOW_PRIVATE`).
    pub addresses: AddressPolicy,
    /// How long one attempt may take, connection to the answer's end.
    pub timeout: Duration,
    /// The waits between attempts.
    pub retries: RetrySchedule,
    /// Dead letters in a row (no delivery succeeding in between) after which
    /// the sender disables the endpoint.
    pub disable_after_dead_letters: u32,
    /// How long the secret before a rotation is still signed with.
    pub previous_secret_valid: Duration,
    /// Deliveries in flight per process.
    pub concurrency: usize,
    /// Deliveries in flight per endpoint across all processes: an endpoint
    /// that only times out holds at most this many of the sender's slots.
    pub per_endpoint_in_flight: u32,
    /// How often the loops look for work when there was none.
    pub poll_interval: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            addresses: AddressPolicy::default(),
            timeout: Duration::from_secs(10),
            retries: RetrySchedule::default(),
            disable_after_dead_letters: 5,
            previous_secret_valid: Duration::from_secs(24 * 3600),
            concurrency: 32,
            per_endpoint_in_flight: 4,
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// What the webhook routes need.
#[derive(Clone)]
pub struct WebhooksApi {
    pub pool: PgPool,
    pub jwt: JwtKeys,
    pub data_keys: DataKeys,
    pub settings: Arc<WebhookSettings>,
}

impl FromRef<WebhooksApi> for JwtKeys {
    fn from_ref(api: &WebhooksApi) -> JwtKeys {
        api.jwt.clone()
    }
}

pub fn router(api: WebhooksApi) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(
            endpoints::list_endpoints,
            endpoints::create_endpoint
        ))
        .routes(routes!(
            endpoints::get_endpoint,
            endpoints::update_endpoint,
            endpoints::delete_endpoint
        ))
        .routes(routes!(endpoints::rotate_secret))
        .routes(routes!(history::list_attempts))
        .routes(routes!(history::list_dead_letters))
        .routes(routes!(history::replay_dead_letter))
        .routes(routes!(history::replay_all_dead_letters))
        .with_state(api)
}

/// Runs the outbox reader and the sender until `shutdown` turns true.
/// Several processes may run it on one database: the reader's batches take
/// turns on its checkpoint row, the sender's claims never overlap.
pub async fn run(
    pool: PgPool,
    data_keys: DataKeys,
    settings: WebhookSettings,
    alerts: Arc<dyn AdminAlerts>,
    shutdown: watch::Receiver<bool>,
) {
    let settings = Arc::new(settings);
    let reader = tokio::spawn(outbox::run(
        pool.clone(),
        data_keys.clone(),
        settings.clone(),
        shutdown.clone(),
    ));
    match sender::Sender::new(pool, data_keys, settings, alerts) {
        Ok(sender) => sender.run(shutdown).await,
        Err(error) => tracing::error!(%error, "cannot create the webhook sender's HTTP client"),
    }
    if let Err(error) = reader.await {
        tracing::error!(%error, "the webhook outbox reader failed");
    }
}

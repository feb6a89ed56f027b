//! What the operations routes read: the pool, the metrics, the relay of this process.

use std::sync::Arc;

use sqlx::PgPool;

use super::metrics::Metrics;

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

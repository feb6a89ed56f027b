//! The operations routes and what they read: `/healthz`, `/readyz`,
//! `/metrics` (Prometheus), and the state they share.

pub mod metrics;
mod routes;
mod state;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use metrics::Metrics;
pub use state::{Operations, RelayMonitor};

/// The operations routes (no authentication).
pub fn router() -> OpenApiRouter<Operations> {
    OpenApiRouter::new()
        .routes(routes!(routes::healthz))
        .routes(routes!(routes::readyz))
        .routes(routes!(routes::render))
}

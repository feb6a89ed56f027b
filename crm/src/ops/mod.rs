//! The operations routes and what they read: `/healthz`, `/readyz`,
//! `/metrics` (Prometheus), and the state they share.

mod health;
pub mod metrics;
mod state;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use metrics::Metrics;
pub use state::{Operations, RelayMonitor};

/// The operations routes (no authentication).
pub fn router() -> OpenApiRouter<Operations> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::render))
}

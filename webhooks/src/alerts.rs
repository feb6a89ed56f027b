//! Telling admins that the sender disabled an endpoint. The sender always
//! records the disabling in `webhook_endpoint_disablements` and logs a
//! warning; an [`AdminAlerts`] implementation adds whatever else should
//! happen (the notifications inbox), in the same transaction, so an alert is
//! written exactly when the endpoint is disabled.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Why and when an endpoint was disabled.
#[derive(Debug, Clone)]
pub struct EndpointDisabled {
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub url: String,
    pub reason: String,
    pub disabled_at: DateTime<Utc>,
}

/// A hook run inside the transaction that disables an endpoint. An error
/// rolls the disabling back; the sender tries again at the next failure.
#[async_trait]
pub trait AdminAlerts: Send + Sync {
    async fn endpoint_disabled(
        &self,
        conn: &mut PgConnection,
        alert: &EndpointDisabled,
    ) -> Result<(), sqlx::Error>;
}

/// The default: the disablements table and the log are all there is.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAlerts;

#[async_trait]
impl AdminAlerts for NoAlerts {
    async fn endpoint_disabled(
        &self,
        _conn: &mut PgConnection,
        _alert: &EndpointDisabled,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

//! Reminders that reach people.
//!
//! - [`scheduler`]: fires each follow-up's reminder once, at its due time
//!   minus its lead time, from the `follow_up_reminders` rows the follow-up
//!   service keeps; several instances share the work, and a reminder missed
//!   while no instance ran fires at the next start, marked late;
//! - [`inbox`]: a person's notifications (`GET /v1/notifications`, mark
//!   read);
//! - [`live`]: the same notifications as they arrive, over Server-Sent
//!   Events (`GET /v1/notifications/stream`), resumable with
//!   `Last-Event-ID`, with heartbeats and a clean end at shutdown; one
//!   PostgreSQL listener per process fans arrivals out to the connections.
#![forbid(unsafe_code)]

mod inbox;
pub mod live;
pub mod scheduler;

use axum::extract::FromRef;
use sqlx::PgPool;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use web::JwtKeys;

pub use live::Arrivals;

/// The channel on which the scheduler announces, at commit, whose inbox got
/// something: `<tenant id>:<login>` per recipient.
pub const NOTIFICATIONS_CHANNEL: &str = "crm_notifications";

/// What the notification routes need.
#[derive(Clone)]
pub struct NotifyApi {
    pub pool: PgPool,
    pub jwt: JwtKeys,
    pub arrivals: Arrivals,
    /// Turns true when the service shuts down: live feeds end then.
    pub shutdown: watch::Receiver<bool>,
}

impl FromRef<NotifyApi> for JwtKeys {
    fn from_ref(api: &NotifyApi) -> JwtKeys {
        api.jwt.clone()
    }
}

pub fn router(api: NotifyApi) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(inbox::list_notifications))
        .routes(routes!(inbox::mark_read))
        .routes(routes!(inbox::mark_all_read))
        .routes(routes!(live::stream_notifications))
        .with_state(api)
}

/// Tells a tenant's active admins, in their inboxes, that the webhook
/// sender disabled an endpoint (in the transaction that disables it).
#[derive(Debug, Clone, Copy, Default)]
pub struct InboxAlerts;

#[async_trait::async_trait]
impl webhooks::AdminAlerts for InboxAlerts {
    async fn endpoint_disabled(
        &self,
        conn: &mut sqlx::PgConnection,
        alert: &webhooks::EndpointDisabled,
    ) -> Result<(), sqlx::Error> {
        let subject: String = format!("Webhook 已停用：{}（{}）", alert.url, alert.reason)
            .chars()
            .take(200)
            .collect();
        sqlx::query(
            "WITH written AS (
                 INSERT INTO notifications (tenant_id, recipient, kind, subject, meant_for, dedupe_key)
                 SELECT $1, login, 'webhook_disabled', $2, $3,
                        'webhook-disabled:' || $4::text || '@'
                            || floor(extract(epoch FROM $3::timestamptz) * 1000000)::bigint
                            || ':' || login
                   FROM directory_users
                  WHERE tenant_id = $1 AND role = 'admin' AND active
                 ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
                 RETURNING tenant_id, recipient)
             SELECT pg_notify($5, tenant_id::text || ':' || recipient) FROM written",
        )
        .bind(alert.tenant_id)
        .bind(subject)
        .bind(alert.disabled_at)
        .bind(alert.endpoint_id)
        .bind(NOTIFICATIONS_CHANNEL)
        .execute(conn)
        .await?;
        Ok(())
    }
}

//! The sender: claims due deliveries, signs and posts them, and records
//! every attempt.
//!
//! A claim (`FOR UPDATE SKIP LOCKED`, then a lease in `claimed_until`
//! longer than the request timeout) gives a delivery to one sender: others
//! skip it while the claim lasts, so several instances share the work and
//! none sends a delivery another is sending. Only the claimant records the
//! outcome; a sender that died leaves its claims to expire and be taken up
//! again (at least once).
//!
//! Order per key: only the earliest pending delivery of an endpoint and key
//! (the customer) may be claimed, so a later one waits while an earlier one
//! is retrying, and proceeds once that one is delivered or dead. A failing
//! endpoint costs the others nothing but its own slots: at most
//! [`crate::WebhookSettings::per_endpoint_in_flight`] of its deliveries are
//! in flight, and a failed one waits out its backoff unclaimed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;
use uuid::Uuid;

use store::data_keys::DataKeys;

use crate::address::CheckingResolver;
use crate::alerts::{AdminAlerts, EndpointDisabled};
use crate::signature::{
    signature_header, SigningKey, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use crate::{WebhookSettings, SECRET_PURPOSE};

/// How much of an answer's body the attempt log keeps.
pub const EXCERPT_BYTES: usize = 512;
/// A claim outlasts the request timeout by this much, so it never expires
/// while its sender may still be sending.
const CLAIM_MARGIN: Duration = Duration::from_secs(30);

/// A delivery a sender holds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub delivery_id: i64,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub message_id: String,
    pub body: String,
    /// Attempts before this one.
    pub attempts: i32,
    pub url: String,
    secret_sealed: Vec<u8>,
    previous_secret_sealed: Option<Vec<u8>>,
    previous_secret_until: Option<DateTime<Utc>>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; tried again at this instant.
    Retrying(DateTime<Utc>),
    Dead,
    /// The endpoint answered 410 Gone: it is disabled, the delivery waits.
    Gone,
    /// Another sender holds the delivery now (this one's claim expired).
    ClaimLost,
}

/// An attempt's answer, or why there was none.
struct Answer {
    status: Option<u16>,
    error: Option<String>,
    excerpt: Option<String>,
}

pub struct Sender {
    pool: PgPool,
    data_keys: DataKeys,
    settings: Arc<WebhookSettings>,
    alerts: Arc<dyn AdminAlerts>,
    client: reqwest::Client,
    /// This sender's claims carry its id.
    id: Uuid,
}

impl Sender {
    pub fn new(
        pool: PgPool,
        data_keys: DataKeys,
        settings: Arc<WebhookSettings>,
        alerts: Arc<dyn AdminAlerts>,
    ) -> Result<Arc<Self>, reqwest::Error> {
        let client = reqwest::Client::builder()
            // Every name is resolved by the checking resolver; a redirect
            // could lead anywhere, so a 3xx is an answer like any non-2xx.
            .dns_resolver(CheckingResolver::shared(settings.addresses))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.timeout)
            .user_agent(concat!("crm-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Arc::new(Sender {
            pool,
            data_keys,
            settings,
            alerts,
            client,
            id: Uuid::new_v4(),
        }))
    }

    /// Claims at most `limit` due deliveries: the earliest pending one of
    /// each endpoint and key, of enabled endpoints with a free slot.
    pub async fn claim(&self, limit: i64) -> Result<Vec<Claimed>, sqlx::Error> {
        let lease = chrono::Duration::from_std(self.settings.timeout + CLAIM_MARGIN)
            .unwrap_or(chrono::Duration::minutes(5));
        sqlx::query_as(
            "WITH in_flight AS (
                 SELECT endpoint_id, count(*) AS n FROM webhook_deliveries
                  WHERE status = 'pending' AND claimed_until > now()
                  GROUP BY endpoint_id),
             heads AS (
                 SELECT d.delivery_id, d.endpoint_id,
                        row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.delivery_id) AS rank
                   FROM webhook_deliveries d
                   JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id AND e.enabled
                  WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                    AND (d.claimed_until IS NULL OR d.claimed_until <= now())
                    AND NOT EXISTS (
                        SELECT 1 FROM webhook_deliveries earlier
                         WHERE earlier.endpoint_id = d.endpoint_id
                           AND earlier.ordering_key = d.ordering_key
                           AND earlier.status = 'pending'
                           AND earlier.delivery_id < d.delivery_id)),
             chosen AS (
                 SELECT d.delivery_id FROM webhook_deliveries d
                  WHERE d.delivery_id IN (
                        SELECT h.delivery_id FROM heads h LEFT JOIN in_flight f USING (endpoint_id)
                         WHERE h.rank <= $2 - coalesce(f.n, 0)
                         ORDER BY h.delivery_id LIMIT $1)
                    AND d.status = 'pending'
                    AND (d.claimed_until IS NULL OR d.claimed_until <= now())
                    FOR UPDATE SKIP LOCKED)
             UPDATE webhook_deliveries d
                SET claimed_by = $3, claimed_until = now() + $4
               FROM chosen, webhook_endpoints e
              WHERE d.delivery_id = chosen.delivery_id AND e.endpoint_id = d.endpoint_id
             RETURNING d.delivery_id, d.tenant_id, d.endpoint_id, d.message_id, d.body, d.attempts,
                       e.url, e.secret_sealed, e.previous_secret_sealed, e.previous_secret_until",
        )
        .bind(limit)
        .bind(i64::from(self.settings.per_endpoint_in_flight))
        .bind(self.id)
        .bind(lease)
        .fetch_all(&self.pool)
        .await
    }

    /// Sends one claimed delivery and records the attempt.
    pub async fn deliver(&self, claimed: Claimed) -> Result<Outcome, sqlx::Error> {
        let attempted_at = Utc::now();
        let started = Instant::now();
        let answer = self.attempt(&claimed, attempted_at.timestamp()).await;
        let duration = started.elapsed();
        self.record(&claimed, attempted_at, duration, &answer).await
    }

    async fn attempt(&self, claimed: &Claimed, timestamp: i64) -> Answer {
        let failed = |error: String| Answer {
            status: None,
            error: Some(error),
            excerpt: None,
        };
        let Some(keys) = self.keys(claimed) else {
            return failed(
                "the endpoint's secret does not open: was CRM_MASTER_KEY changed?".to_owned(),
            );
        };
        // A name is checked by the resolver as the connection is made; an
        // address literal never reaches it, so it is checked here.
        let url = match self.settings.addresses.parse(&claimed.url) {
            Ok(url) => url,
            Err(refused) => return failed(format!("the URL {refused}")),
        };
        if matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))) {
            if let Err(refused) = self.settings.addresses.resolve(&url).await {
                return failed(format!("the URL {refused}"));
            }
        }
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, &claimed.message_id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(
                HEADER_SIGNATURE,
                signature_header(&keys, &claimed.message_id, timestamp, &claimed.body),
            )
            .body(claimed.body.clone());
        let exchange = async {
            let mut response = request.send().await?;
            let status = response.status();
            let mut excerpt = Vec::new();
            while excerpt.len() < EXCERPT_BYTES {
                match response.chunk().await? {
                    Some(chunk) => excerpt.extend_from_slice(&chunk),
                    None => break,
                }
            }
            excerpt.truncate(EXCERPT_BYTES);
            Ok::<_, reqwest::Error>((status, excerpt))
        };
        match tokio::time::timeout(self.settings.timeout, exchange).await {
            Err(_) => failed(format!(
                "no complete answer within {} ms",
                self.settings.timeout.as_millis()
            )),
            Ok(Err(error)) => failed(error_chain(&error)),
            Ok(Ok((status, excerpt))) => Answer {
                status: Some(status.as_u16()),
                error: (!status.is_success()).then(|| format!("answered {status}")),
                excerpt: (!excerpt.is_empty())
                    .then(|| String::from_utf8_lossy(&excerpt).into_owned()),
            },
        }
    }

    /// The keys to sign with: the current one, and the one before the last
    /// rotation while it is still valid.
    fn keys(&self, claimed: &Claimed) -> Option<Vec<SigningKey>> {
        let open = |sealed: &[u8]| {
            self.data_keys
                .open_secret(sealed, SECRET_PURPOSE, claimed.endpoint_id)
                .map(SigningKey::from_bytes)
        };
        let mut keys = vec![open(&claimed.secret_sealed)?];
        if let (Some(previous), Some(until)) = (
            &claimed.previous_secret_sealed,
            claimed.previous_secret_until,
        ) {
            if until > Utc::now() {
                keys.extend(open(previous));
            }
        }
        Some(keys)
    }

    async fn record(
        &self,
        claimed: &Claimed,
        attempted_at: DateTime<Utc>,
        duration: Duration,
        answer: &Answer,
    ) -> Result<Outcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, tenant_id, endpoint_id, attempted_at,
                                           status_code, duration_ms, error, response_excerpt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(claimed.delivery_id)
        .bind(claimed.tenant_id)
        .bind(claimed.endpoint_id)
        .bind(attempted_at)
        .bind(answer.status.map(i32::from))
        .bind(i32::try_from(duration.as_millis()).unwrap_or(i32::MAX))
        .bind(&answer.error)
        .bind(&answer.excerpt)
        .execute(&mut *tx)
        .await?;
        let attempts = claimed.attempts.saturating_add(1);
        let delivered = answer
            .status
            .is_some_and(|status| StatusCode::from_u16(status).is_ok_and(|s| s.is_success()));
        let gone = answer.status == Some(StatusCode::GONE.as_u16());
        let wait = self
            .settings
            .retries
            .wait_after(u32::try_from(attempts).unwrap_or(u32::MAX));
        let outcome = if delivered {
            Outcome::Delivered
        } else if gone {
            Outcome::Gone
        } else {
            match wait {
                Some(wait) => Outcome::Retrying(
                    attempted_at
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1)),
                ),
                None => Outcome::Dead,
            }
        };
        let (status, next_attempt_at) = match &outcome {
            Outcome::Delivered => ("delivered", None),
            Outcome::Dead => ("dead", None),
            Outcome::Retrying(at) => ("pending", Some(*at)),
            // Waits for the endpoint to be enabled again, then goes at once.
            Outcome::Gone | Outcome::ClaimLost => ("pending", Some(attempted_at)),
        };
        let updated = sqlx::query(
            "UPDATE webhook_deliveries
                SET status = $3, attempts = $4, last_error = $5,
                    next_attempt_at = coalesce($6, next_attempt_at),
                    delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,
                    dead_at = CASE WHEN $3 = 'dead' THEN now() END,
                    claimed_by = NULL, claimed_until = NULL
              WHERE delivery_id = $1 AND claimed_by = $2",
        )
        .bind(claimed.delivery_id)
        .bind(self.id)
        .bind(status)
        .bind(attempts)
        .bind(&answer.error)
        .bind(next_attempt_at)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            // The attempt happened and stays in the log; the delivery is
            // someone else's now.
            tx.commit().await?;
            return Ok(Outcome::ClaimLost);
        }
        match &outcome {
            Outcome::Delivered => {
                sqlx::query(
                    "UPDATE webhook_endpoints SET consecutive_dead_letters = 0
                      WHERE endpoint_id = $1 AND consecutive_dead_letters <> 0",
                )
                .bind(claimed.endpoint_id)
                .execute(&mut *tx)
                .await?;
            }
            Outcome::Gone => {
                self.disable(
                    &mut tx,
                    claimed,
                    "the endpoint answered 410 Gone".to_owned(),
                )
                .await?;
            }
            Outcome::Dead => {
                let in_a_row: i32 = sqlx::query_scalar(
                    "UPDATE webhook_endpoints SET consecutive_dead_letters = consecutive_dead_letters + 1
                      WHERE endpoint_id = $1 RETURNING consecutive_dead_letters",
                )
                .bind(claimed.endpoint_id)
                .fetch_one(&mut *tx)
                .await?;
                let limit = self.settings.disable_after_dead_letters;
                if limit > 0 && i64::from(in_a_row) >= i64::from(limit) {
                    let reason = format!(
                        "{in_a_row} deliveries in a row failed every attempt (the last: {})",
                        answer.error.as_deref().unwrap_or("no answer")
                    );
                    self.disable(&mut tx, claimed, reason).await?;
                }
            }
            Outcome::Retrying(_) | Outcome::ClaimLost => {}
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Disables the endpoint (once: an endpoint already disabled stays as it
    /// is), records why, and tells the admins.
    async fn disable(
        &self,
        conn: &mut PgConnection,
        claimed: &Claimed,
        reason: String,
    ) -> Result<(), sqlx::Error> {
        let disabled: Option<(String, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = now()
              WHERE endpoint_id = $1 AND enabled
             RETURNING url, updated_at",
        )
        .bind(claimed.endpoint_id)
        .bind(&reason)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((url, disabled_at)) = disabled else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO webhook_endpoint_disablements (tenant_id, endpoint_id, url, reason, disabled_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(claimed.tenant_id)
        .bind(claimed.endpoint_id)
        .bind(&url)
        .bind(&reason)
        .bind(disabled_at)
        .execute(&mut *conn)
        .await?;
        tracing::warn!(
            tenant_id = %claimed.tenant_id,
            endpoint_id = %claimed.endpoint_id,
            %reason,
            "webhook endpoint disabled"
        );
        let alert = EndpointDisabled {
            tenant_id: claimed.tenant_id,
            endpoint_id: claimed.endpoint_id,
            url,
            reason,
            disabled_at,
        };
        self.alerts.endpoint_disabled(conn, &alert).await
    }

    /// Sends due deliveries until `shutdown` turns true, at most
    /// `concurrency` at a time; lets the ones in flight finish before it
    /// returns (each within the timeout).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(sender = %self.id, "webhook sender running");
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut in_flight = JoinSet::new();
        while !*shutdown.borrow() {
            while in_flight.try_join_next().is_some() {}
            let free = slots.available_permits();
            let mut pause = self.settings.poll_interval;
            if free > 0 {
                match self.claim(i64::try_from(free).unwrap_or(i64::MAX)).await {
                    Ok(claimed) => {
                        if claimed.len() == free {
                            pause = Duration::ZERO;
                        }
                        for delivery in claimed {
                            let Ok(slot) = slots.clone().try_acquire_owned() else {
                                break;
                            };
                            let sender = self.clone();
                            let span = tracing::info_span!(
                                "webhook_delivery",
                                delivery_id = delivery.delivery_id,
                                endpoint_id = %delivery.endpoint_id,
                                attempt = delivery.attempts + 1,
                            );
                            in_flight.spawn(
                                async move {
                                    match sender.deliver(delivery).await {
                                        Ok(outcome) => tracing::debug!(?outcome, "webhook attempt"),
                                        Err(error) => tracing::warn!(%error, "recording a webhook attempt failed; the claim will expire and it is sent again"),
                                    }
                                    drop(slot);
                                }
                                .instrument(span),
                            );
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "claiming webhook deliveries failed; trying again shortly");
                        pause = Duration::from_secs(2);
                    }
                }
            }
            if pause.is_zero() && slots.available_permits() > 0 {
                continue;
            }
            // A finished delivery frees a slot and may unblock its key's next one.
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(pause) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
        tracing::info!(sender = %self.id, "webhook sender stopped");
    }
}

/// An error with its causes ("error sending request: …: refused address").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

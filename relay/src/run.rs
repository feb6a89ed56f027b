//! The relay as a service: [`run`] keeps relaying until shutdown while it
//! holds the relay lease (`crate::lease`: one publisher among several
//! instances), backing off while the broker is unreachable and starting over
//! from the checkpoint with a new producer; [`catch_up`] relays what is
//! committed once and returns.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::watch;

use store::dead_letters::{self, Retries};
use store::source::Wakeup;

use crate::config::RelayConfig;
use crate::error::RelayError;
use crate::lease::Lease;
use crate::producer::Relay;
use crate::status::{RelayHealth, RelayRole};

const POLL_INTERVAL: Duration = Duration::from_millis(100);
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often a standby tries to take the lease, and a leader checks it still
/// holds it between batches (each commit checks it too).
const LEASE_INTERVAL: Duration = Duration::from_secs(1);

/// Relays everything committed so far and returns how many events went out
/// (`crm relay --until-caught-up`, benchmarks). Fails on the first error,
/// and at once when another relay holds the lease (it would publish beside it).
pub async fn catch_up(pool: PgPool, config: RelayConfig) -> Result<usize, RelayError> {
    let mut lease = Lease::new(&pool.connect_options(), &config.topic);
    if !lease.refresh().await {
        return Err(RelayError::LeaseHeld {
            topic: config.topic,
        });
    }
    let mut relay = Relay::new(pool, config)?;
    relay.fenced_by(lease.fence());
    let outcome = async {
        relay.ensure_topic().await?;
        let (_never, running) = watch::channel(false);
        relay.drain(&running).await
    }
    .await;
    lease.release().await;
    outcome
}

/// Relays until `shutdown` turns true, while this process holds the relay
/// lease: without it, it stands by (healthy, publishing nothing) and tries
/// again every second; with it, it checks every second that it still does,
/// and every checkpoint commit is fenced by it. While the broker is
/// unreachable it backs off (0.5 s doubling to 30 s), records the failure in
/// `health`, and starts again from its checkpoint; commands are never affected.
pub async fn run(
    pool: PgPool,
    config: RelayConfig,
    health: RelayHealth,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wakeup = Wakeup::connect(&pool).await;
    let mut lease = Lease::new(&pool.connect_options(), &config.topic);
    let mut lease_checked = Instant::now();
    let mut relay: Option<Relay> = None;
    let mut topic_ready = false;
    let mut backoff = MIN_BACKOFF;
    let mut retries = Retries::default();
    tracing::info!(brokers = %config.brokers, topic = %config.topic, "relay running");
    while !*shutdown.borrow() {
        if !lease.is_held() || lease_checked.elapsed() >= LEASE_INTERVAL {
            let held = lease.refresh().await;
            lease_checked = Instant::now();
            if !held {
                health.set_role(RelayRole::Standby);
                // A new leader starts afresh: topic check, new producer.
                relay = None;
                topic_ready = false;
                backoff = MIN_BACKOFF;
                tokio::select! {
                    _ = shutdown.changed() => {}
                    () = tokio::time::sleep(LEASE_INTERVAL) => {}
                }
                continue;
            }
            health.set_role(RelayRole::Leader);
        }
        let mut current = match relay.take() {
            Some(current) => current,
            None => match Relay::new(pool.clone(), config.clone()) {
                Ok(mut created) => {
                    created.published = health.published.clone();
                    created
                }
                Err(error) => {
                    health.set(Some(error.to_string()));
                    tracing::error!(%error, "cannot create the Kafka producer");
                    wakeup.wait(MAX_BACKOFF, &mut shutdown).await;
                    continue;
                }
            },
        };
        current.fenced_by(lease.fence());
        let outcome = async {
            if !topic_ready {
                current.ensure_topic().await?;
                topic_ready = true;
            }
            current.drain(&shutdown).await
        }
        .await;
        match outcome {
            Ok(relayed) => {
                if relayed > 0 {
                    tracing::debug!(relayed, "relayed");
                }
                health.set(None);
                backoff = MIN_BACKOFF;
                relay = Some(current);
                wakeup.wait(POLL_INTERVAL, &mut shutdown).await;
            }
            Err(RelayError::Delivery {
                failed,
                confirmed,
                reason,
                poison: true,
            }) => {
                tracing::warn!(position = failed.position, %reason, "the broker refused an event");
                let passed = current
                    .settle_refused(failed, confirmed, &reason, &mut retries)
                    .await;
                relay = Some(current);
                let pause = match passed {
                    Ok(true) => POLL_INTERVAL,
                    Ok(false) => dead_letters::RETRY_PAUSE,
                    Err(error) => {
                        health.set(Some(error.to_string()));
                        MIN_BACKOFF
                    }
                };
                tokio::select! {
                    _ = shutdown.changed() => {}
                    () = tokio::time::sleep(pause) => {}
                }
            }
            Err(RelayError::LeaseLost { .. }) => {
                // Someone else may be publishing already: stop at once and
                // try for the lease again like any standby.
                tracing::warn!("a checkpoint commit found the relay lease lost: standing by");
                lease.forget();
                health.set_role(RelayRole::Standby);
                drop(current);
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "relay batch failed; it will be sent again from the checkpoint");
                health.set(Some(error.to_string()));
                // A broker that came back may have lost the topic and the
                // producer's id (then the old producer would only time out
                // again): start over with the topic check and a new producer.
                topic_ready = false;
                if let Some(fatal) = current.fatal_error() {
                    tracing::error!(%fatal, "the Kafka producer failed fatally");
                }
                drop(current);
                tokio::select! {
                    _ = shutdown.changed() => {}
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    lease.release().await;
    health.set_role(RelayRole::Standby);
    tracing::info!("relay stopped");
}

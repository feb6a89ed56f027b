//! The consuming loops: [`run`] keeps a group member applying batches until
//! shutdown, starting a new consumer from the stored offsets after a failure;
//! [`catch_up`] consumes until the topic falls quiet.

use std::time::Duration;

use rdkafka::consumer::StreamConsumer;
use rdkafka::error::KafkaError;
use sqlx::PgPool;
use tokio::sync::watch;

use store::data_keys::DataKeys;
use store::dead_letters::{self, Retries};

use crate::runner::{Projection, ProjectorError};

use super::apply::{apply, apply_one_by_one};
use super::message::{delivered, Delivered};
use super::offsets::commit_hint;
use super::source::KafkaSource;

const BATCH_WAIT: Duration = Duration::from_millis(20);
const BACKOFF: Duration = Duration::from_secs(1);

/// Consumes until the topic has been quiet for `idle` and returns how many
/// messages were applied and when the last batch committed
/// (`crm projector run --source kafka --until-caught-up`, benchmarks). The end
/// is found by silence, not by high watermarks: tansu 0.6.0 reports those as
/// a partition's last record batch's base offset + 1.
pub async fn catch_up(
    pool: &PgPool,
    keys: &DataKeys,
    source: &KafkaSource,
    projections: &[Projection],
    idle: Duration,
) -> Result<(u64, Option<std::time::Instant>), ProjectorError> {
    let consumer = source.consumer().map_err(kafka_error)?;
    let (_never, mut forever) = watch::channel(false);
    let mut applied = 0;
    let mut last = None;
    while let Ok(batch) =
        tokio::time::timeout(idle, next_batch(&consumer, source.batch, &mut forever)).await
    {
        let batch = batch?;
        let next = apply(pool, keys, source, projections, &batch).await?;
        applied += batch.len() as u64;
        last = Some(std::time::Instant::now());
        commit_hint(&consumer, source, &next);
    }
    Ok((applied, last))
}

/// Consumes the topic into `projections` until `shutdown` turns true.
pub async fn run(
    pool: PgPool,
    keys: DataKeys,
    source: KafkaSource,
    projections: Vec<Projection>,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::info!(brokers = %source.brokers, topic = %source.topic, group = %source.group, "Kafka-fed projector running");
    let mut retries = Retries::default();
    while !*shutdown.borrow() {
        let consumer = match source.consumer() {
            Ok(consumer) => consumer,
            Err(error) => {
                tracing::error!(%error, "cannot create the Kafka consumer");
                pause(BACKOFF, &mut shutdown).await;
                continue;
            }
        };
        while !*shutdown.borrow() {
            let batch = match next_batch(&consumer, source.batch, &mut shutdown).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "consuming failed; retrying");
                    pause(BACKOFF, &mut shutdown).await;
                    continue;
                }
            };
            if batch.is_empty() {
                continue;
            }
            let failure = match apply(&pool, &keys, &source, &projections, &batch).await {
                Ok(next) => {
                    commit_hint(&consumer, &source, &next);
                    continue;
                }
                Err(error) if error.is_data_error() => {
                    tracing::warn!(%error, "Kafka batch failed on its data; applying its messages one by one");
                    match apply_one_by_one(
                        &pool,
                        &keys,
                        &source,
                        &projections,
                        &batch,
                        &mut retries,
                    )
                    .await
                    {
                        Ok(true) => None,
                        Ok(false) => Some(dead_letters::RETRY_PAUSE),
                        Err(error) => {
                            tracing::error!(%error, "Kafka batch failed; consuming again from the stored offsets");
                            Some(BACKOFF)
                        }
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "Kafka batch failed; consuming again from the stored offsets");
                    Some(BACKOFF)
                }
            };
            // A new consumer starts again from the committed offsets;
            // anything already applied is dropped by offset.
            pause(failure.unwrap_or_default(), &mut shutdown).await;
            break;
        }
    }
    tracing::info!("Kafka-fed projector stopped");
}

async fn pause(duration: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = shutdown.changed() => {}
        () = tokio::time::sleep(duration) => {}
    }
}

/// Waits for a message, then takes what else arrives within a short wait, up
/// to `limit` messages.
async fn next_batch(
    consumer: &StreamConsumer,
    limit: usize,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Vec<Delivered>, ProjectorError> {
    let mut batch = Vec::new();
    let first = tokio::select! {
        _ = shutdown.changed() => return Ok(batch),
        message = consumer.recv() => message.map_err(kafka_error)?,
    };
    batch.push(delivered(&first));
    let deadline = tokio::time::Instant::now() + BATCH_WAIT;
    while batch.len() < limit {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(message) => batch.push(delivered(&message.map_err(kafka_error)?)),
            Err(_) => break,
        }
    }
    Ok(batch)
}

fn kafka_error(error: KafkaError) -> ProjectorError {
    ProjectorError::Kafka(error.to_string())
}

//! The outbox relay: events leave the store for the Kafka topic without a
//! dual write. The store is the outbox; the relay reads it in commit-safe
//! order (`store::source`), produces each event keyed by its customer id
//! with an idempotent producer (`acks=all`), and advances its checkpoint in
//! PostgreSQL only once the broker has confirmed every event of the batch.
//! Delivery is therefore at least once: after a crash or a failed batch the
//! same events (same `id`) are produced again, in the same order.

#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use events::envelope::{CloudEvent, PersonalFields};
use store::dead_letters::{self, Retries, Verdict};
use store::source::{self, Checkpoint, EventRow, Wakeup, EVENT_COLUMNS};

/// The topic analysts and Kafka-fed projectors read.
pub const DEFAULT_TOPIC: &str = "crm.events.v1";
pub const DEFAULT_PARTITIONS: i32 = 6;
/// Events read, produced and checkpointed together.
pub const DEFAULT_BATCH: i64 = 5_000;
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Kafka bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    pub topic: String,
    /// Partitions of the topic when the relay creates it.
    pub partitions: i32,
    /// Replication factor of the topic when the relay creates it.
    pub replication: i32,
    pub batch: i64,
    /// How long the producer keeps trying one event before the batch fails.
    pub delivery_timeout: Duration,
    /// The largest message the producer sends (`message.max.bytes`); larger
    /// events are dead-lettered.
    pub max_message_bytes: usize,
}

impl RelayConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        RelayConfig {
            brokers: brokers.into(),
            topic: DEFAULT_TOPIC.to_owned(),
            partitions: DEFAULT_PARTITIONS,
            replication: 1,
            batch: DEFAULT_BATCH,
            delivery_timeout: Duration::from_secs(10),
            max_message_bytes: 1_000_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {topic}: {reason}")]
    Topic { topic: String, reason: String },
    #[error("event at position {} was not delivered: {reason}", .failed.position)]
    Delivery {
        /// The first event of the batch the broker did not take.
        failed: Checkpoint,
        /// Events before it were confirmed: how many, and up to where.
        confirmed: Option<(Checkpoint, usize)>,
        reason: String,
        /// The broker refused this message for what it is (too large, invalid),
        /// so sending it again cannot help: see [`is_message_error`].
        poison: bool,
    },
    #[error("event at position {position} cannot be encoded: {reason}")]
    Encode { position: i64, reason: String },
}

/// One event ready to produce.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub checkpoint: Checkpoint,
    /// The customer id: every event of a customer lands on one partition, in order.
    pub key: String,
    pub envelope: CloudEvent,
}

/// The relay's place in the log and what it has not sent yet.
#[derive(Debug, Clone, Serialize)]
pub struct RelayStatus {
    pub topic: String,
    pub checkpoint: Checkpoint,
    pub events_relayed: i64,
    pub updated_at: Option<DateTime<Utc>>,
    pub lag_events: i64,
    pub lag_seconds: f64,
    /// The last failure, until a batch succeeds again.
    pub last_error: Option<String>,
}

/// What a running relay last saw, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct RelayHealth(Arc<Mutex<Option<String>>>);

impl RelayHealth {
    pub fn last_error(&self) -> Option<String> {
        self.0.lock().map(|error| error.clone()).unwrap_or(None)
    }

    fn set(&self, error: Option<String>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = error;
        }
    }
}

pub struct Relay {
    pool: PgPool,
    config: RelayConfig,
    producer: FutureProducer,
}

impl Relay {
    /// A relay with its producer; nothing is contacted until the first batch.
    pub fn new(pool: PgPool, config: RelayConfig) -> Result<Self, RelayError> {
        let producer = client_config(&config)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set(
                "message.timeout.ms",
                config.delivery_timeout.as_millis().to_string(),
            )
            .set("message.max.bytes", config.max_message_bytes.to_string())
            .create()?;
        Ok(Relay {
            pool,
            config,
            producer,
        })
    }

    /// Creates the topic unless it exists.
    pub async fn ensure_topic(&self) -> Result<(), RelayError> {
        let admin: AdminClient<DefaultClientContext> = client_config(&self.config).create()?;
        let topic = NewTopic::new(
            &self.config.topic,
            self.config.partitions,
            TopicReplication::Fixed(self.config.replication),
        );
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        let results = admin.create_topics([&topic], &options).await?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(RelayError::Topic {
                        topic,
                        reason: code.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    pub async fn checkpoint(&self) -> Result<Checkpoint, RelayError> {
        Ok(load_checkpoint(&self.pool, &self.config.topic).await?)
    }

    /// The next committed events after `after`, at most the batch size
    /// (ordered by `events.tx`, not the text column: see `store::source::read_batch`).
    pub async fn read(&self, after: Checkpoint) -> Result<Vec<Outgoing>, RelayError> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS}
               FROM events
              WHERE (tx, global_position) > ($1::text::xid8, $2)
                AND tx < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY events.tx, events.global_position
              LIMIT $3"
        ))
        .bind(after.tx.to_string())
        .bind(after.position)
        .bind(self.config.batch)
        .fetch_all(&self.pool)
        .await?;
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows {
            match row.envelope(PersonalFields::Sealed) {
                Ok(envelope) => batch.push(Outgoing {
                    checkpoint: row.checkpoint(),
                    key: row.aggregate_id,
                    envelope,
                }),
                Err(error) => {
                    // Encoding it again would fail the same way: pass it.
                    let mut conn = self.pool.acquire().await?;
                    dead_letters::record(
                        &mut conn,
                        &self.consumer(),
                        dead_letters::Source::Postgres,
                        &dead_letters::Failed {
                            checkpoint: row.checkpoint(),
                            event_id: Some(row.event_id),
                            tenant_id: Some(row.tenant_id),
                            aggregate_id: Some(&row.aggregate_id),
                        },
                        &format!("the stored payload is not JSON: {error}"),
                        1,
                        Utc::now(),
                    )
                    .await?;
                }
            }
        }
        Ok(batch)
    }

    /// This relay's name in `dead_letters`.
    pub fn consumer(&self) -> String {
        format!("relay:{}", self.config.topic)
    }

    /// Produces `batch` and waits until the broker has confirmed every event.
    pub async fn deliver(&self, batch: &[Outgoing]) -> Result<(), RelayError> {
        self.send(batch).await?.confirmed().await.map(|_| ())
    }

    /// Hands `batch` to the producer, in order; the broker confirms later.
    async fn send(&self, batch: &[Outgoing]) -> Result<InFlight, RelayError> {
        let mut pending = Vec::with_capacity(batch.len());
        for event in batch {
            let payload =
                serde_json::to_vec(&event.envelope).map_err(|error| RelayError::Encode {
                    position: event.checkpoint.position,
                    reason: error.to_string(),
                })?;
            let mut record = FutureRecord::to(&self.config.topic)
                .key(&event.key)
                .payload(&payload);
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push((event.checkpoint, delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The local queue drains as the broker confirms.
                        record = back;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err((error, _)) => {
                        // What was handed over before it may still be confirmed.
                        let confirmed = match InFlight(pending).confirmed().await {
                            Ok(confirmed) => confirmed,
                            Err(earlier) => return Err(earlier),
                        };
                        return Err(RelayError::Delivery {
                            failed: event.checkpoint,
                            confirmed,
                            poison: is_message_error(&error),
                            reason: error.to_string(),
                        });
                    }
                }
            }
        }
        Ok(InFlight(pending))
    }

    /// Records that everything up to `last` is on the topic. The commit does
    /// not wait for its WAL flush: a crash can only lose checkpoint advances,
    /// which means sending those events again — what at-least-once allows —
    /// and commands do not queue behind the relay's fsyncs.
    pub async fn commit(&self, last: Checkpoint, delivered: usize) -> Result<(), RelayError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO relay_checkpoints (topic, tx, position, events, updated_at)
             VALUES ($1, $2::text::xid8, $3, $4, now())
             ON CONFLICT (topic) DO UPDATE
                SET tx = EXCLUDED.tx, position = EXCLUDED.position,
                    events = relay_checkpoints.events + EXCLUDED.events, updated_at = now()",
        )
        .bind(&self.config.topic)
        .bind(last.tx.to_string())
        .bind(last.position)
        .bind(i64::try_from(delivered).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Relays until a read finds nothing new; returns how many events. The
    /// next batch is read and handed to the producer while the broker is
    /// still confirming the previous one; checkpoints follow confirmations,
    /// in order.
    pub async fn drain(&self, stop: &watch::Receiver<bool>) -> Result<usize, RelayError> {
        let mut after = self.checkpoint().await?;
        let mut previous: Option<(Checkpoint, usize, InFlight)> = None;
        let mut total = 0;
        loop {
            let batch = if *stop.borrow() {
                Vec::new()
            } else {
                self.read(after).await?
            };
            let current = match batch.last() {
                Some(last) => {
                    after = last.checkpoint;
                    match self.send(&batch).await {
                        Ok(in_flight) => Some((last.checkpoint, batch.len(), in_flight)),
                        Err(error) => {
                            // The error may name events of this batch as
                            // confirmed: the previous batch's checkpoint
                            // must be committed before anything past it.
                            if let Some((last, count, in_flight)) = previous.take() {
                                in_flight.confirmed().await?;
                                self.commit(last, count).await?;
                            }
                            return Err(error);
                        }
                    }
                }
                None => None,
            };
            if let Some((last, count, in_flight)) = previous.take() {
                in_flight.confirmed().await?;
                self.commit(last, count).await?;
                total += count;
            }
            match current {
                Some(current) => previous = Some(current),
                None => return Ok(total),
            }
        }
    }

    /// Relays the next batch: read, deliver, checkpoint. Returns how many events.
    pub async fn step(&self) -> Result<usize, RelayError> {
        let batch = self.read(self.checkpoint().await?).await?;
        let Some(last) = batch.last() else {
            return Ok(0);
        };
        self.deliver(&batch).await?;
        self.commit(last.checkpoint, batch.len()).await?;
        Ok(batch.len())
    }

    /// Settles a batch that failed at an event the broker refused for what
    /// it is: commits what was confirmed before it, then either leaves the
    /// event to be sent again (`false`) or, once `retries` gives up on it,
    /// dead-letters it and moves the checkpoint past it (`true`).
    pub async fn settle_refused(
        &self,
        failed: Checkpoint,
        confirmed: Option<(Checkpoint, usize)>,
        reason: &str,
        retries: &mut Retries,
    ) -> Result<bool, RelayError> {
        if let Some((last, count)) = confirmed {
            self.commit(last, count).await?;
        }
        let consumer = self.consumer();
        let Verdict::GiveUp {
            attempts,
            first_seen,
        } = retries.failed(&consumer, failed)
        else {
            return Ok(false);
        };
        let (event_id, tenant_id, aggregate_id): (Uuid, Uuid, String) = sqlx::query_as(
            "SELECT event_id, tenant_id, aggregate_id FROM events WHERE global_position = $1",
        )
        .bind(failed.position)
        .fetch_one(&self.pool)
        .await?;
        let mut conn = self.pool.acquire().await?;
        dead_letters::record(
            &mut conn,
            &consumer,
            dead_letters::Source::Postgres,
            &dead_letters::Failed {
                checkpoint: failed,
                event_id: Some(event_id),
                tenant_id: Some(tenant_id),
                aggregate_id: Some(&aggregate_id),
            },
            reason,
            attempts,
            first_seen,
        )
        .await?;
        drop(conn);
        self.commit(failed, 0).await?;
        Ok(true)
    }

    /// A producer error that makes it unusable (then a new one is needed).
    fn fatal_error(&self) -> Option<String> {
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code}: {reason}"))
    }
}

/// Events handed to the producer, with their checkpoints, awaiting the broker.
struct InFlight(Vec<(Checkpoint, rdkafka::producer::DeliveryFuture)>);

impl InFlight {
    /// Waits for every confirmation; the first failure (in log order) fails
    /// the batch. Returns the last event confirmed and how many were.
    async fn confirmed(self) -> Result<Option<(Checkpoint, usize)>, RelayError> {
        let (checkpoints, deliveries): (Vec<Checkpoint>, Vec<_>) = self.0.into_iter().unzip();
        let mut confirmed = None;
        for (index, (checkpoint, outcome)) in checkpoints
            .into_iter()
            .zip(join_all(deliveries).await)
            .enumerate()
        {
            let (reason, poison) = match outcome {
                Ok(Ok(_)) => {
                    confirmed = Some((checkpoint, index + 1));
                    continue;
                }
                Ok(Err((error, _))) => (error.to_string(), is_message_error(&error)),
                Err(_) => ("the producer was dropped".to_owned(), false),
            };
            return Err(RelayError::Delivery {
                failed: checkpoint,
                confirmed,
                reason,
                poison,
            });
        }
        Ok(confirmed)
    }
}

/// Whether the broker (or the producer) refused a message for what it is —
/// too large, invalid — rather than because it is unreachable or busy.
pub fn is_message_error(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::{
        BadMessage, InvalidMessage, InvalidMessageSize, InvalidRecord, MessageSizeTooLarge,
    };
    matches!(
        error.rdkafka_error_code(),
        Some(
            BadMessage | MessageSizeTooLarge | InvalidMessage | InvalidMessageSize | InvalidRecord
        )
    )
}

fn client_config(config: &RelayConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "crm-relay");
    client
}

async fn load_checkpoint(pool: &PgPool, topic: &str) -> Result<Checkpoint, sqlx::Error> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT tx::text, position FROM relay_checkpoints WHERE topic = $1")
            .bind(topic)
            .fetch_optional(pool)
            .await?;
    Ok(
        row.map_or_else(Checkpoint::default, |(tx, position)| Checkpoint {
            tx: tx.parse().unwrap_or(0),
            position,
        }),
    )
}

/// The relay's checkpoint and lag for `topic` (no running relay needed).
pub async fn status(
    pool: &PgPool,
    topic: &str,
    health: Option<&RelayHealth>,
) -> Result<RelayStatus, sqlx::Error> {
    let row: Option<(String, i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT tx::text, position, events, updated_at FROM relay_checkpoints WHERE topic = $1",
    )
    .bind(topic)
    .fetch_optional(pool)
    .await?;
    let (checkpoint, events_relayed, updated_at) = match row {
        Some((tx, position, events, updated_at)) => (
            Checkpoint {
                tx: tx.parse().unwrap_or(0),
                position,
            },
            events,
            Some(updated_at),
        ),
        None => (Checkpoint::default(), 0, None),
    };
    let (lag_events, lag_seconds) = source::lag(pool, checkpoint).await?;
    Ok(RelayStatus {
        topic: topic.to_owned(),
        checkpoint,
        events_relayed,
        updated_at,
        lag_events,
        lag_seconds,
        last_error: health.and_then(RelayHealth::last_error),
    })
}

/// Relays everything committed so far and returns how many events went out
/// (`crm relay --until-caught-up`, benchmarks). Fails on the first error.
pub async fn catch_up(pool: PgPool, config: RelayConfig) -> Result<usize, RelayError> {
    let relay = Relay::new(pool, config)?;
    relay.ensure_topic().await?;
    let (_never, running) = watch::channel(false);
    relay.drain(&running).await
}

/// Relays until `shutdown` turns true. While the broker is unreachable it
/// backs off (0.5 s doubling to 30 s), records the failure in `health`, and
/// starts again from its checkpoint; commands are never affected.
pub async fn run(
    pool: PgPool,
    config: RelayConfig,
    health: RelayHealth,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wakeup = Wakeup::connect(&pool).await;
    let mut relay: Option<Relay> = None;
    let mut topic_ready = false;
    let mut backoff = MIN_BACKOFF;
    let mut retries = Retries::default();
    tracing::info!(brokers = %config.brokers, topic = %config.topic, "relay running");
    while !*shutdown.borrow() {
        let current = match relay.take() {
            Some(current) => current,
            None => match Relay::new(pool.clone(), config.clone()) {
                Ok(created) => created,
                Err(error) => {
                    health.set(Some(error.to_string()));
                    tracing::error!(%error, "cannot create the Kafka producer");
                    wakeup.wait(MAX_BACKOFF, &mut shutdown).await;
                    continue;
                }
            },
        };
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
    tracing::info!("relay stopped");
}

//! Projections fed from the Kafka topic instead of the store: a member of a
//! consumer group applies the events of the partitions it is assigned, and
//! stores each partition's next offset in PostgreSQL in the same transaction
//! as the read-model changes (exactly-once effect). Redelivered messages
//! (offsets below the stored one, or events a read model already reflects)
//! change nothing. Offsets are also committed to Kafka afterwards, only so a
//! member taking a partition over starts near the right place
//! ([`Resume::Committed`]); with [`Resume::Beginning`] nothing is committed to
//! Kafka and every assignment reads the partition from its start, the stored
//! offsets dropping what was applied. That mode exists for brokers that
//! cannot fetch from the middle of a record batch: tansu 0.6.0's fetch skips
//! any batch whose base offset is below the requested offset, so a member
//! resuming mid-batch would wait forever for the batch's remaining records.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use uuid::Uuid;

use events::envelope::{stored_type, CloudEvent};
use events::CustomerEvent;
use store::keys::KeyStore;

use crate::runner::{
    announce_changes, keys_for, relaxed_durability, Projection, ProjectorError, Rows,
};
use store::dead_letters::{self, Failed, Retries, Verdict};
use store::source::{Checkpoint, SourceError, StoredEvent};

pub const DEFAULT_GROUP: &str = "crm-projector";

/// Where a member starts reading a partition it is assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resume {
    /// At the group's committed offset (committed after each batch).
    #[default]
    Committed,
    /// At the partition's first message, every time (nothing is committed to
    /// Kafka; use a group that never ran with `Committed`).
    Beginning,
}
const BATCH_WAIT: Duration = Duration::from_millis(20);
const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct KafkaSource {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    /// Messages applied together in one transaction, at most.
    pub batch: usize,
    pub resume: Resume,
}

impl KafkaSource {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSource {
            brokers: brokers.into(),
            topic: topic.into(),
            group: DEFAULT_GROUP.to_owned(),
            batch: 1_000,
            resume: Resume::default(),
        }
    }

    fn consumer(&self) -> Result<StreamConsumer, KafkaError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            .set("client.id", "crm-projector")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()?;
        consumer.subscribe(&[&self.topic])?;
        Ok(consumer)
    }
}

/// One message of the topic, decoded, or why it does not decode (then it is
/// dead-lettered and passed: decoding it again would fail the same way).
#[derive(Debug, Clone)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub event: Result<StoredEvent, Unreadable>,
}

/// A message that is not an event this version can read.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// The envelope's `position`, 0 when the message is not an envelope.
    pub position: i64,
    pub event_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub aggregate_id: Option<String>,
    pub reason: String,
}

/// Turns a message value (the CloudEvents envelope) back into the event the
/// projections fold. Personal fields arrive sealed, as stored.
pub fn decode(payload: &[u8]) -> Result<StoredEvent, SourceError> {
    let envelope: CloudEvent =
        serde_json::from_slice(payload).map_err(|error| SourceError::Undecodable {
            position: 0,
            reason: format!("not a CloudEvents envelope: {error}"),
        })?;
    let position = envelope.position;
    let undecodable = |reason: String| SourceError::Undecodable { position, reason };
    let (name, version) = stored_type(&envelope.event_type)
        .ok_or_else(|| undecodable(format!("unknown type {}", envelope.event_type)))?;
    if version != events::customer::V1 {
        return Err(undecodable(format!("unknown event version {version}")));
    }
    let tagged = serde_json::Value::Object(serde_json::Map::from_iter([(
        name.to_owned(),
        envelope.data,
    )]));
    let event: CustomerEvent =
        serde_json::from_value(tagged).map_err(|error| undecodable(error.to_string()))?;
    Ok(StoredEvent {
        // Projections use the position only; commit order is Kafka's job here.
        checkpoint: Checkpoint { tx: 0, position },
        event_id: envelope.id,
        tenant_id: envelope.tenantid,
        customer_id: Uuid::parse_str(&envelope.subject)
            .map_err(|_| undecodable(format!("subject {} is not a UUID", envelope.subject)))?,
        sequence: envelope.sequence,
        actor: envelope.actor,
        occurred_at: envelope.time,
        recorded_at: envelope.recordedtime,
        event,
    })
}

/// Applies `batch` (in partition order) to `projections` and stores the next
/// offset of every partition in it, in one transaction. Messages below a
/// partition's stored offset were applied before and are dropped; messages
/// that do not decode are dead-lettered and passed. Returns the next offset
/// per partition.
pub async fn apply(
    pool: &PgPool,
    keys: &KeyStore,
    source: &KafkaSource,
    projections: &[Projection],
    batch: &[Delivered],
) -> Result<BTreeMap<i32, i64>, ProjectorError> {
    let mut tx = pool.begin().await?;
    relaxed_durability(&mut tx).await?;
    let mut next = locked_offsets(&mut tx, source, batch).await?;
    let unapplied =
        |message: &&Delivered| message.offset >= next.get(&message.partition).copied().unwrap_or(0);
    let fresh: Vec<StoredEvent> = batch
        .iter()
        .filter(unapplied)
        .filter_map(|message| message.event.as_ref().ok().cloned())
        .collect();
    let unreadable: Vec<(&Delivered, &Unreadable)> = batch
        .iter()
        .filter(unapplied)
        .filter_map(|message| message.event.as_ref().err().map(|why| (message, why)))
        .collect();
    if !fresh.is_empty() {
        let batch_keys = keys_for(keys, &fresh).await?;
        for projection in projections {
            projection
                .apply(&mut tx, "", &fresh, &batch_keys, Rows::Existing)
                .await?;
        }
        announce_changes(&mut tx, &fresh).await?;
    }
    for (message, why) in unreadable {
        let reason = format!(
            "partition {} offset {}: {}",
            message.partition, message.offset, why.reason
        );
        dead_letter(&mut tx, projections, why, &reason, 1, Utc::now()).await?;
    }
    let mut applied: BTreeMap<i32, i64> = BTreeMap::new();
    for message in batch {
        let slot = next.entry(message.partition).or_insert(0);
        if message.offset >= *slot {
            *slot = message.offset + 1;
            *applied.entry(message.partition).or_insert(0) += 1;
        }
    }
    save_offsets(&mut tx, source, &next, &applied).await?;
    tx.commit().await?;
    Ok(next)
}

async fn save_offsets(
    conn: &mut PgConnection,
    source: &KafkaSource,
    next: &BTreeMap<i32, i64>,
    applied: &BTreeMap<i32, i64>,
) -> Result<(), sqlx::Error> {
    for (partition, next_offset) in next {
        sqlx::query(
            "UPDATE kafka_offsets
                SET next_offset = $4, events = events + $5, updated_at = now()
              WHERE consumer_group = $1 AND topic = $2 AND partition = $3",
        )
        .bind(&source.group)
        .bind(&source.topic)
        .bind(partition)
        .bind(next_offset)
        .bind(applied.get(partition).copied().unwrap_or(0))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records that `projections` gave up on a message.
async fn dead_letter(
    conn: &mut PgConnection,
    projections: &[Projection],
    message: &Unreadable,
    error: &str,
    attempts: u32,
    first_seen: chrono::DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for projection in projections {
        dead_letters::record(
            conn,
            projection.name(),
            dead_letters::Source::Kafka,
            &Failed {
                checkpoint: Checkpoint {
                    tx: 0,
                    position: message.position,
                },
                event_id: message.event_id,
                tenant_id: message.tenant_id,
                aggregate_id: message.aggregate_id.as_deref(),
            },
            error,
            attempts,
            first_seen,
        )
        .await?;
    }
    Ok(())
}

/// Applies `batch` one message at a time after it failed as a whole on its
/// data: messages before the failing one are applied; the failing one is
/// either tried again later (returns `false`: consume again from the stored
/// offsets after [`dead_letters::RETRY_PAUSE`]) or, once `retries` gives up
/// on it, dead-lettered and passed.
async fn apply_one_by_one(
    pool: &PgPool,
    keys: &KeyStore,
    source: &KafkaSource,
    projections: &[Projection],
    batch: &[Delivered],
    retries: &mut Retries,
) -> Result<bool, ProjectorError> {
    let consumer = format!("kafka:{}", source.group);
    for message in batch {
        let error = match apply(
            pool,
            keys,
            source,
            projections,
            std::slice::from_ref(message),
        )
        .await
        {
            Ok(_) => continue,
            Err(error) if error.is_data_error() => error,
            Err(error) => return Err(error),
        };
        let Ok(event) = &message.event else {
            continue;
        };
        let checkpoint = Checkpoint {
            tx: 0,
            position: event.checkpoint.position,
        };
        match retries.failed(&consumer, checkpoint) {
            Verdict::Retry => {
                tracing::warn!(partition = message.partition, offset = message.offset, %error, "message failed; trying it again shortly");
                return Ok(false);
            }
            Verdict::GiveUp {
                attempts,
                first_seen,
            } => {
                let mut tx = pool.begin().await?;
                let mut next =
                    locked_offsets(&mut tx, source, std::slice::from_ref(message)).await?;
                let slot = next.entry(message.partition).or_insert(0);
                if message.offset >= *slot {
                    *slot = message.offset + 1;
                    let why = Unreadable {
                        position: event.checkpoint.position,
                        event_id: Some(event.event_id),
                        tenant_id: Some(event.tenant_id),
                        aggregate_id: Some(event.customer_id.to_string()),
                        reason: error.to_string(),
                    };
                    dead_letter(
                        &mut tx,
                        projections,
                        &why,
                        &why.reason,
                        attempts,
                        first_seen,
                    )
                    .await?;
                    save_offsets(&mut tx, source, &next, &BTreeMap::new()).await?;
                }
                tx.commit().await?;
            }
        }
    }
    Ok(true)
}

/// The stored next offsets of the batch's partitions, locked so that two
/// members briefly owning one partition during a rebalance take turns.
async fn locked_offsets(
    conn: &mut PgConnection,
    source: &KafkaSource,
    batch: &[Delivered],
) -> Result<BTreeMap<i32, i64>, sqlx::Error> {
    let mut partitions: Vec<i32> = batch.iter().map(|message| message.partition).collect();
    partitions.sort_unstable();
    partitions.dedup();
    sqlx::query(
        "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset)
         SELECT $1, $2, partition, 0 FROM unnest($3::int[]) AS partition
         ON CONFLICT DO NOTHING",
    )
    .bind(&source.group)
    .bind(&source.topic)
    .bind(&partitions)
    .execute(&mut *conn)
    .await?;
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT partition, next_offset FROM kafka_offsets
          WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3)
          ORDER BY partition
          FOR UPDATE",
    )
    .bind(&source.group)
    .bind(&source.topic)
    .bind(&partitions)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Per-partition offsets stored for a consumer group, for status and tests.
pub async fn offsets(
    pool: &PgPool,
    group: &str,
    topic: &str,
) -> Result<BTreeMap<i32, i64>, sqlx::Error> {
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT partition, next_offset FROM kafka_offsets WHERE consumer_group = $1 AND topic = $2",
    )
    .bind(group)
    .bind(topic)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Consumes until the topic has been quiet for `idle` and returns how many
/// messages were applied and when the last batch committed
/// (`crm projector run --source kafka --until-caught-up`, benchmarks). The end
/// is found by silence, not by high watermarks: tansu 0.6.0 reports those as
/// a partition's last record batch's base offset + 1.
pub async fn catch_up(
    pool: &PgPool,
    keys: &KeyStore,
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

/// Commits `next` offsets to Kafka: only a starting hint for a member taking
/// a partition over; PostgreSQL holds the truth.
fn commit_hint(consumer: &StreamConsumer, source: &KafkaSource, next: &BTreeMap<i32, i64>) {
    if source.resume == Resume::Beginning {
        return;
    }
    let topic = &source.topic;
    let mut list = TopicPartitionList::new();
    for (partition, offset) in next {
        let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    if let Err(error) = consumer.commit(&list, CommitMode::Async) {
        tracing::debug!(%error, "committing offsets to Kafka failed (PostgreSQL holds them)");
    }
}

/// Consumes the topic into `projections` until `shutdown` turns true.
pub async fn run(
    pool: PgPool,
    keys: KeyStore,
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

fn delivered(message: &impl Message) -> Delivered {
    let payload = message.payload().unwrap_or_default();
    Delivered {
        partition: message.partition(),
        offset: message.offset(),
        event: decode(payload).map_err(|reason| unreadable(payload, reason)),
    }
}

/// What can be told of a message that does not decode.
fn unreadable(payload: &[u8], error: SourceError) -> Unreadable {
    #[derive(serde::Deserialize)]
    struct Known {
        position: Option<i64>,
        id: Option<Uuid>,
        tenantid: Option<Uuid>,
        subject: Option<String>,
    }
    let known = serde_json::from_slice::<Known>(payload).ok();
    let known = known.as_ref();
    Unreadable {
        position: known.and_then(|k| k.position).unwrap_or(0),
        event_id: known.and_then(|k| k.id),
        tenant_id: known.and_then(|k| k.tenantid),
        aggregate_id: known.and_then(|k| k.subject.clone()),
        reason: error.to_string(),
    }
}

fn kafka_error(error: KafkaError) -> ProjectorError {
    ProjectorError::Kafka(error.to_string())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use events::envelope::{PersonalFields, StoredParts};
    use events::personal::DataKey;

    use super::*;

    #[test]
    fn an_envelope_on_the_topic_decodes_back_into_the_stored_event() {
        let key = DataKey::generate();
        let customer = Uuid::new_v4();
        let tenant = Uuid::new_v4();
        let sealed = String::from(key.seal("张三", customer));
        let occurred_at = Utc::now();
        let payload = serde_json::json!({"CustomerRegistered": {
            "tenant_id": tenant, "name": sealed, "phone": null, "email": null,
            "company": "星辰科技", "industry": null, "position": null, "source": null,
            "owner_id": "rep-1", "tags": [], "deal_value": "5000", "stage": "lead",
            "probability": 0.1, "registered_at": occurred_at,
        }});
        let envelope = CloudEvent::from_stored(StoredParts {
            event_id: Uuid::new_v4(),
            tenant_id: tenant,
            aggregate_id: &customer.to_string(),
            sequence: 1,
            position: 42,
            event_type: "CustomerRegistered",
            event_version: "1",
            occurred_at,
            recorded_at: occurred_at,
            actor: "rep-1",
            hash: &[1, 2],
            payload,
            personal: PersonalFields::Sealed,
        });
        let bytes = serde_json::to_vec(&envelope).expect("json");
        let stored = decode(&bytes).expect("decodes");
        assert_eq!(stored.event_id, envelope.id);
        assert_eq!(stored.customer_id, customer);
        assert_eq!(stored.tenant_id, tenant);
        assert_eq!(stored.sequence, 1);
        assert_eq!(stored.checkpoint.position, 42);
        assert_eq!(stored.actor, "rep-1");
        assert_eq!(stored.recorded_at, occurred_at);
        let CustomerEvent::CustomerRegistered(registered) = stored.event else {
            panic!("not a registration: {:?}", stored.event);
        };
        assert_eq!(
            registered.name.reveal(Some(&key), customer).as_deref(),
            Some("张三")
        );
    }

    #[test]
    fn foreign_or_broken_messages_are_refused_with_a_reason() {
        assert!(decode(b"not json").is_err());
        let unknown = serde_json::json!({
            "specversion": "1.0", "id": Uuid::new_v4(), "source": "x",
            "type": "crm.customer.teleported.v1", "subject": Uuid::new_v4().to_string(),
            "time": Utc::now(), "datacontenttype": "application/json",
            "tenantid": Uuid::new_v4(), "sequence": 1, "position": 7, "hash": "00",
            "actor": "a", "recordedtime": Utc::now(), "data": {},
        });
        let error = decode(unknown.to_string().as_bytes()).expect_err("unknown type");
        assert!(error.to_string().contains("teleported"), "{error}");
    }
}

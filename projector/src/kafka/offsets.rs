//! Partition offsets. PostgreSQL holds the truth (`kafka_offsets`, written in
//! the same transaction as the read models); the offsets committed to Kafka
//! are only a starting hint for a member taking a partition over.

use std::collections::BTreeMap;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::{PgConnection, PgPool};

use super::message::Delivered;
use super::source::{KafkaSource, Resume};

pub(super) async fn save_offsets(
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

/// The stored next offsets of the batch's partitions, locked so that two
/// members briefly owning one partition during a rebalance take turns.
pub(super) async fn locked_offsets(
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

/// Commits `next` offsets to Kafka: only a starting hint for a member taking
/// a partition over; PostgreSQL holds the truth.
pub(super) fn commit_hint(
    consumer: &StreamConsumer,
    source: &KafkaSource,
    next: &BTreeMap<i32, i64>,
) {
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

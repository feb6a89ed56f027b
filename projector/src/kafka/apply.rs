//! Applying a batch of messages to the projections in one transaction with
//! the partitions' next offsets (exactly-once effect), and, when a batch
//! fails on its data, applying it one message at a time so that only the
//! failing message is tried again or dead-lettered.

use std::collections::BTreeMap;

use chrono::Utc;
use sqlx::{PgConnection, PgPool};

use store::data_keys::DataKeys;
use store::dead_letters::{self, Failed, Retries, Verdict};
use store::source::{Checkpoint, StoredEvent};

use crate::runner::{
    announce_changes, keys_for, relaxed_durability, Projection, ProjectorError, Rows,
};

use super::message::{Delivered, Unreadable};
use super::offsets::{locked_offsets, save_offsets};
use super::source::KafkaSource;

/// Applies `batch` (in partition order) to `projections` and stores the next
/// offset of every partition in it, in one transaction. Messages below a
/// partition's stored offset were applied before and are dropped; messages
/// that do not decode are dead-lettered and passed. Returns the next offset
/// per partition.
pub async fn apply(
    pool: &PgPool,
    keys: &DataKeys,
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
        .filter_map(|message| message.customer_event().cloned())
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
pub(super) async fn apply_one_by_one(
    pool: &PgPool,
    keys: &DataKeys,
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
        let Some(event) = message.customer_event() else {
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

//! Keeping projections current: batches in commit-safe order, each applied
//! in one transaction with its checkpoints; woken by NOTIFY, with a polling
//! fallback.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use crate::copy::Rows;
use store::data_keys::DataKeys;
use store::dead_letters::{self, Retries};
use store::source;

use super::checkpoint::*;
use super::poison::*;
use super::projection::*;

const POLL_INTERVAL: Duration = Duration::from_millis(100);
const BACKOFF: Duration = Duration::from_secs(1);

/// What one [`step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stepped {
    /// Rows of the log read (events, and rows that did not decode).
    pub read: usize,
    /// A projection stopped before an event that failed and will try it
    /// again after [`dead_letters::RETRY_PAUSE`].
    pub retrying: bool,
}

/// Applies the next batch of `projections` and advances their checkpoints,
/// all in one transaction: the log is read, decoded and its data keys loaded
/// once for all of them, and their changes become visible together. The batch
/// starts at the lowest checkpoint; a projection that is further on takes
/// only the events after its own.
///
/// When the batch fails on its data, the step runs again finding the event
/// that fails (see [`dead_letters`]): what precedes it is applied, and the
/// event is either tried again later (the projection stops before it) or,
/// once `retries` gives up on it, dead-lettered and passed. Rows that do not
/// decode are dead-lettered at once.
pub async fn step(
    pool: &PgPool,
    keys: &DataKeys,
    projections: &[Projection],
    limit: i64,
    retries: &mut Retries,
) -> Result<Stepped, ProjectorError> {
    match step_with(pool, keys, projections, limit, retries, false).await {
        Err(error) if error.is_data_error() => {
            tracing::warn!(%error, "a projection batch failed on its data; finding the event");
            step_with(pool, keys, projections, limit, retries, true).await
        }
        outcome => outcome,
    }
}

async fn step_with(
    pool: &PgPool,
    keys: &DataKeys,
    projections: &[Projection],
    limit: i64,
    retries: &mut Retries,
    isolate: bool,
) -> Result<Stepped, ProjectorError> {
    let mut tx = pool.begin().await?;
    relaxed_durability(&mut tx).await?;
    // The row locks also serialise with a rebuild's swap.
    let checkpoints = locked_checkpoints(&mut tx, projections).await?;
    let Some(lowest) = checkpoints.iter().map(|(_, checkpoint)| *checkpoint).min() else {
        tx.rollback().await?;
        return Ok(Stepped::default());
    };
    let batch = source::read_batch(&mut tx, lowest, limit).await?;
    let Some(last) = batch.last() else {
        tx.rollback().await?;
        return Ok(Stepped::default());
    };
    let batch_keys = keys_for(keys, &batch.events).await?;
    let mut retrying = false;
    for (projection, checkpoint) in checkpoints {
        let unseen = &batch.events[batch
            .events
            .partition_point(|stored| stored.checkpoint <= checkpoint)..];
        let held_at = if isolate {
            apply_isolating(&mut tx, projection, unseen, &batch_keys, retries).await?
        } else {
            if !unseen.is_empty() {
                projection
                    .apply(&mut tx, "", unseen, &batch_keys, Rows::Existing)
                    .await?;
            }
            None
        };
        let reached = match held_at {
            Some(held_at) => {
                retrying = true;
                batch.before(held_at).unwrap_or(checkpoint).max(checkpoint)
            }
            None => last,
        };
        if reached <= checkpoint {
            continue;
        }
        dead_letter_undecodable(&mut tx, projection, &batch, checkpoint, reached).await?;
        let applied = unseen.partition_point(|stored| stored.checkpoint <= reached);
        save_checkpoint(&mut tx, projection, reached, applied, false).await?;
        retries.passed(projection.name(), reached);
    }
    announce_changes(&mut tx, &batch.events).await?;
    tx.commit().await?;
    Ok(Stepped {
        read: batch.len(),
        retrying,
    })
}

/// Applies batches until `projections` have caught up with the committed log
/// or one of them stopped before an event to try again.
async fn drain(
    pool: &PgPool,
    keys: &DataKeys,
    projections: &[Projection],
    retries: &mut Retries,
) -> Result<Stepped, ProjectorError> {
    let mut total = Stepped::default();
    loop {
        let stepped = step(pool, keys, projections, LIVE_BATCH, retries).await?;
        total.read += stepped.read;
        total.retrying = stepped.retrying;
        if stepped.retrying || stepped.read < usize::try_from(LIVE_BATCH).unwrap_or(usize::MAX) {
            return Ok(total);
        }
    }
}

/// Applies batches until `projections` have caught up with the committed
/// log, trying events that fail again until they apply or are dead-lettered.
/// Returns how many rows of the log it read.
pub async fn catch_up(
    pool: &PgPool,
    keys: &DataKeys,
    projections: &[Projection],
) -> Result<usize, ProjectorError> {
    let mut retries = Retries::default();
    let mut total = 0;
    loop {
        let drained = drain(pool, keys, projections, &mut retries).await?;
        total += drained.read;
        if !drained.retrying {
            return Ok(total);
        }
        tokio::time::sleep(dead_letters::RETRY_PAUSE).await;
    }
}

/// Keeps `projections` up to date until `shutdown` turns true.
pub async fn run(
    pool: PgPool,
    keys: DataKeys,
    projections: Vec<Projection>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wakeup = source::Wakeup::connect(&pool).await;
    let mut retries = Retries::default();
    tracing::info!(projections = ?projections.iter().map(|p| p.name()).collect::<Vec<_>>(), "projector running");
    while !*shutdown.borrow() {
        let mut failed = false;
        let mut retrying = false;
        match drain(&pool, &keys, &projections, &mut retries).await {
            Ok(drained) => retrying = drained.retrying,
            Err(error) => {
                // Alone, a projection that keeps failing holds back only itself.
                tracing::warn!(error = %error, "projection batch failed; applying each projection alone");
                for projection in &projections {
                    match drain(&pool, &keys, &[*projection], &mut retries).await {
                        Ok(drained) => retrying |= drained.retrying,
                        Err(error) => {
                            tracing::error!(projection = projection.name(), error = %error, "projection batch failed; retrying");
                            failed = true;
                        }
                    }
                }
            }
        }
        let pause = if failed {
            BACKOFF
        } else if retrying {
            dead_letters::RETRY_PAUSE
        } else {
            POLL_INTERVAL
        };
        wakeup.wait(pause, &mut shutdown).await;
    }
    tracing::info!("projector stopped");
}

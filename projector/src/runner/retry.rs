//! `crm projector retry`: dead-lettered events applied again after a fix.

use serde::Serialize;
use sqlx::PgPool;

use crate::copy::Rows;
use store::data_keys::DataKeys;
use store::dead_letters::{self};
use store::source::{self, SourceError};

use super::checkpoint::*;
use super::projection::*;

/// What [`retry`] did with the dead letters it took up.
#[derive(Debug, Default, Serialize)]
pub struct Retried {
    /// Positions of events that applied now (their dead letters are gone).
    pub applied: Vec<i64>,
    /// Positions of events that still fail, with why.
    pub failing: Vec<(i64, String)>,
}

/// Applies dead-lettered events of `projection` again (all, or the one at
/// `position`), after a fix. An event that was passed left its stream's
/// later events applied without it, so each affected customer's stream is
/// folded again from its first event up to the projection's checkpoint, in
/// one transaction per stream; its dead letters go once that succeeds.
pub async fn retry(
    pool: &PgPool,
    keys: &DataKeys,
    projection: Projection,
    position: Option<i64>,
) -> Result<Retried, ProjectorError> {
    let letters: Vec<dead_letters::DeadLetter> = dead_letters::list(pool, Some(projection.name()))
        .await?
        .into_iter()
        .filter(|letter| position.is_none_or(|position| letter.position == position))
        .collect();
    let mut streams: Vec<Option<String>> = letters.iter().map(|l| l.aggregate_id.clone()).collect();
    streams.sort();
    streams.dedup();
    let mut retried = Retried::default();
    for stream in streams {
        let positions: Vec<i64> = letters
            .iter()
            .filter(|letter| letter.aggregate_id == stream)
            .map(|letter| letter.position)
            .collect();
        let outcome = match stream.as_deref().map(uuid::Uuid::parse_str) {
            Some(Ok(customer)) => refold_stream(pool, keys, projection, customer, &positions).await,
            _ => Err(ProjectorError::Source(SourceError::Undecodable {
                position: positions.first().copied().unwrap_or(0),
                reason: "the event names no customer stream to fold again".to_owned(),
            })),
        };
        match outcome {
            Ok(()) => retried.applied.extend(positions),
            Err(error) if error.is_data_error() => {
                let reason = error.to_string();
                for position in positions {
                    dead_letters::failed_again(pool, projection.name(), position, &reason).await?;
                    retried.failing.push((position, reason.clone()));
                }
            }
            Err(error) => return Err(error),
        }
    }
    Ok(retried)
}

/// Folds one customer's stream into `projection` again and removes the
/// dead letters at `positions`, in one transaction.
async fn refold_stream(
    pool: &PgPool,
    keys: &DataKeys,
    projection: Projection,
    customer: uuid::Uuid,
    positions: &[i64],
) -> Result<(), ProjectorError> {
    let mut tx = pool.begin().await?;
    let locked = locked_checkpoints(&mut tx, &[projection]).await?;
    let upto = locked
        .first()
        .map(|(_, checkpoint)| *checkpoint)
        .unwrap_or_default();
    let stream = source::read_stream(&mut tx, &customer.to_string(), upto).await?;
    if let Some(row) = stream.undecodable.first() {
        return Err(SourceError::from(row.clone()).into());
    }
    projection.reset(&mut tx, &[customer]).await?;
    let batch_keys = keys_for(keys, &stream.events).await?;
    projection
        .apply(&mut tx, "", &stream.events, &batch_keys, Rows::Existing)
        .await?;
    for position in positions {
        dead_letters::remove(&mut tx, projection.name(), *position).await?;
    }
    announce_changes(&mut tx, &stream.events).await?;
    tx.commit().await?;
    Ok(())
}

//! The poison-event policy applied to projections (see
//! [`store::dead_letters`]): finding the event a batch fails on, retrying it,
//! dead-lettering it.

use chrono::Utc;
use sqlx::PgConnection;

use crate::copy::Rows;
use store::dead_letters::{self, Failed, Retries, Source, Verdict};
use store::source::{self, Checkpoint, StoredEvent};

use super::projection::*;

/// Dead-letters the rows of `batch` after `from` up to `to` that did not decode.
pub(crate) async fn dead_letter_undecodable(
    conn: &mut PgConnection,
    projection: Projection,
    batch: &source::Batch,
    from: Checkpoint,
    to: Checkpoint,
) -> Result<(), sqlx::Error> {
    for row in batch
        .undecodable
        .iter()
        .filter(|row| row.checkpoint > from && row.checkpoint <= to)
    {
        dead_letters::record(
            conn,
            projection.name(),
            Source::Postgres,
            &Failed {
                checkpoint: row.checkpoint,
                event_id: Some(row.event_id),
                tenant_id: Some(row.tenant_id),
                aggregate_id: Some(&row.aggregate_id),
            },
            &row.reason,
            1,
            Utc::now(),
        )
        .await?;
    }
    Ok(())
}

/// Applies `events` to `projection`, passing events that `retries` gives up
/// on (dead-lettered); returns the checkpoint of an event to try again later,
/// before which the projection stops.
pub(crate) async fn apply_isolating(
    conn: &mut PgConnection,
    projection: Projection,
    events: &[StoredEvent],
    keys: &BatchKeys,
    retries: &mut Retries,
) -> Result<Option<Checkpoint>, ProjectorError> {
    let mut rest = events;
    loop {
        let (applied, failure) = apply_longest_prefix(conn, projection, rest, keys).await?;
        let (Some(error), Some(failed)) = (failure, rest.get(applied)) else {
            return Ok(None);
        };
        match retries.failed(projection.name(), failed.checkpoint) {
            Verdict::Retry => {
                tracing::warn!(
                    projection = projection.name(),
                    position = failed.checkpoint.position,
                    event_id = %failed.event_id,
                    %error,
                    "event failed; trying it again shortly"
                );
                return Ok(Some(failed.checkpoint));
            }
            Verdict::GiveUp {
                attempts,
                first_seen,
            } => {
                let customer = failed.customer_id.to_string();
                dead_letters::record(
                    conn,
                    projection.name(),
                    Source::Postgres,
                    &Failed {
                        checkpoint: failed.checkpoint,
                        event_id: Some(failed.event_id),
                        tenant_id: Some(failed.tenant_id),
                        aggregate_id: Some(&customer),
                    },
                    &error.to_string(),
                    attempts,
                    first_seen,
                )
                .await?;
                rest = &rest[applied + 1..];
            }
        }
    }
}

/// Applies the longest prefix of `events` that applies without a data error
/// and returns its length, with the error of the event after it (if any).
/// Halving the failing range finds that event in about 2·log2(n) attempts.
async fn apply_longest_prefix(
    conn: &mut PgConnection,
    projection: Projection,
    events: &[StoredEvent],
    keys: &BatchKeys,
) -> Result<(usize, Option<ProjectorError>), ProjectorError> {
    let (mut applied, mut end) = (0, events.len());
    while applied < events.len() {
        match attempt(conn, projection, &events[applied..end], keys).await? {
            Ok(()) => (applied, end) = (end, events.len()),
            Err(error) if end - applied == 1 => return Ok((applied, Some(error))),
            Err(_) => end = applied + (end - applied) / 2,
        }
    }
    Ok((applied, None))
}

/// Applies `events` inside a savepoint: a data error undoes them and is
/// returned as the inner error; any other error is the outer one.
async fn attempt(
    conn: &mut PgConnection,
    projection: Projection,
    events: &[StoredEvent],
    keys: &BatchKeys,
) -> Result<Result<(), ProjectorError>, ProjectorError> {
    sqlx::query("SAVEPOINT projection_attempt")
        .execute(&mut *conn)
        .await?;
    let outcome = projection
        .apply(conn, "", events, keys, Rows::Existing)
        .await;
    match &outcome {
        Ok(()) => {}
        Err(error) if error.is_data_error() => {
            sqlx::query("ROLLBACK TO SAVEPOINT projection_attempt")
                .execute(&mut *conn)
                .await?;
        }
        Err(_) => return outcome.map(Ok),
    }
    sqlx::query("RELEASE SAVEPOINT projection_attempt")
        .execute(&mut *conn)
        .await?;
    Ok(outcome)
}

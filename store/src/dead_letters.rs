//! The poison-event policy shared by the projections and the relay.
//!
//! A reader that fails on one event retries it a few times, [`RETRY_PAUSE`]
//! apart (a failure may be passing: a lock, a restart of the database); when
//! the event still fails after [`RETRY_BUDGET`] attempts, the reader records
//! it in `dead_letters` and goes on past it. An event that cannot even be
//! decoded is recorded at once (decoding it again gives the same answer).
//! Only failures that belong to the event count: data errors of the database
//! (SQLSTATE classes 22 and 23) and undecodable rows. A database that is down
//! or a missing table fails every event alike, so the reader keeps retrying
//! the batch instead of dead-lettering the whole log.
//!
//! The retry budget is therefore the longest one tenant's bad event can hold
//! back other tenants' read models: about `RETRY_BUDGET × RETRY_PAUSE`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::source::Checkpoint;

/// Attempts before an event is dead-lettered.
pub const RETRY_BUDGET: u32 = 3;
/// The pause between two attempts at an event that failed.
pub const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Where the failing reader took the event from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Postgres,
    Kafka,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Postgres => "postgres",
            Source::Kafka => "kafka",
        }
    }
}

/// One event a reader gave up on.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    /// A projection name, or `relay:<topic>`.
    pub consumer: String,
    /// The event's global position.
    pub position: i64,
    pub source: String,
    pub event_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub aggregate_id: Option<String>,
    pub error: String,
    pub attempts: i32,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Which event failed, as a reader knows it.
#[derive(Debug, Clone)]
pub struct Failed<'a> {
    pub checkpoint: Checkpoint,
    /// Unknown only for a message that is not an event envelope at all.
    pub event_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub aggregate_id: Option<&'a str>,
}

/// Whether a database error belongs to the event being written (its data)
/// rather than to the database or the schema.
pub fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

/// Failed attempts of a running reader at events it has not given up on yet.
/// Kept in memory: after a restart an event gets its attempts again.
#[derive(Debug)]
pub struct Retries {
    budget: u32,
    pending: HashMap<(String, Checkpoint), (u32, DateTime<Utc>)>,
}

impl Default for Retries {
    fn default() -> Self {
        Retries::new(RETRY_BUDGET)
    }
}

/// What to do with an event that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stop before it and try again after [`RETRY_PAUSE`].
    Retry,
    /// Record it as dead and go on past it.
    GiveUp {
        attempts: u32,
        first_seen: DateTime<Utc>,
    },
}

impl Retries {
    pub fn new(budget: u32) -> Self {
        Retries {
            budget: budget.max(1),
            pending: HashMap::new(),
        }
    }

    /// Counts a failed attempt of `consumer` at the event at `checkpoint`.
    pub fn failed(&mut self, consumer: &str, checkpoint: Checkpoint) -> Verdict {
        let key = (consumer.to_owned(), checkpoint);
        let (attempts, first_seen) = self.pending.entry(key.clone()).or_insert((0, Utc::now()));
        *attempts += 1;
        if *attempts < self.budget {
            return Verdict::Retry;
        }
        let verdict = Verdict::GiveUp {
            attempts: *attempts,
            first_seen: *first_seen,
        };
        self.pending.remove(&key);
        verdict
    }

    /// Forgets the attempts of `consumer` at events up to `checkpoint` (it got past them).
    pub fn passed(&mut self, consumer: &str, checkpoint: Checkpoint) {
        self.pending
            .retain(|(name, failed_at), _| name != consumer || *failed_at > checkpoint);
    }

    /// Whether `consumer` is waiting to try an event again.
    pub fn is_retrying(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// Records that `consumer` gave up on `event`. Recording it again (a reader
/// that gave up on it once more, e.g. after `crm projector retry`) adds the
/// attempts and keeps when it was first seen.
pub async fn record(
    conn: &mut PgConnection,
    consumer: &str,
    source: Source,
    event: &Failed<'_>,
    error: &str,
    attempts: u32,
    first_seen: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    tracing::error!(
        consumer,
        position = event.checkpoint.position,
        event_id = ?event.event_id,
        tenant_id = ?event.tenant_id,
        attempts,
        error,
        "event dead-lettered; going on past it (`crm projector retry` applies it again)"
    );
    sqlx::query(
        "INSERT INTO dead_letters (consumer, position, source, event_id, tenant_id, aggregate_id,
                                   error, attempts, first_seen, last_seen)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
         ON CONFLICT (consumer, position) DO UPDATE
            SET error = EXCLUDED.error, attempts = dead_letters.attempts + EXCLUDED.attempts,
                last_seen = now()",
    )
    .bind(consumer)
    .bind(event.checkpoint.position)
    .bind(source.as_str())
    .bind(event.event_id)
    .bind(event.tenant_id)
    .bind(event.aggregate_id)
    .bind(error)
    .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
    .bind(first_seen)
    .execute(conn)
    .await?;
    Ok(())
}

/// Dead letters, oldest first; of one consumer when given.
pub async fn list(pool: &PgPool, consumer: Option<&str>) -> Result<Vec<DeadLetter>, sqlx::Error> {
    sqlx::query_as(
        "SELECT consumer, position, source, event_id, tenant_id, aggregate_id, error, attempts,
                first_seen, last_seen
           FROM dead_letters
          WHERE $1::text IS NULL OR consumer = $1
          ORDER BY consumer, position",
    )
    .bind(consumer)
    .fetch_all(pool)
    .await
}

/// How many dead letters each consumer has (consumers without any are absent).
pub async fn counts(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT consumer, count(*) FROM dead_letters GROUP BY consumer ORDER BY consumer",
    )
    .fetch_all(pool)
    .await
}

/// Deletes a dead letter once its event applied.
pub async fn remove(
    conn: &mut PgConnection,
    consumer: &str,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM dead_letters WHERE consumer = $1 AND position = $2")
        .bind(consumer)
        .bind(position)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts another failed attempt at a dead letter (a retry that failed again).
pub async fn failed_again(
    pool: &PgPool,
    consumer: &str,
    position: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE dead_letters SET attempts = attempts + 1, error = $3, last_seen = now()
          WHERE consumer = $1 AND position = $2",
    )
    .bind(consumer)
    .bind(position)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(position: i64) -> Checkpoint {
        Checkpoint { tx: 1, position }
    }

    #[test]
    fn an_event_is_given_up_after_the_budget_and_attempts_restart_afterwards() {
        let mut retries = Retries::new(3);
        assert_eq!(retries.failed("timeline", at(7)), Verdict::Retry);
        assert_eq!(retries.failed("timeline", at(7)), Verdict::Retry);
        assert!(retries.is_retrying());
        assert!(matches!(
            retries.failed("timeline", at(7)),
            Verdict::GiveUp { attempts: 3, .. }
        ));
        assert!(!retries.is_retrying());
        assert_eq!(retries.failed("timeline", at(7)), Verdict::Retry);
    }

    #[test]
    fn consumers_count_apart_and_passing_an_event_forgets_it() {
        let mut retries = Retries::new(2);
        assert_eq!(retries.failed("timeline", at(7)), Verdict::Retry);
        assert_eq!(retries.failed("customers", at(7)), Verdict::Retry);
        retries.passed("timeline", at(7));
        assert_eq!(
            retries.failed("timeline", at(7)),
            Verdict::Retry,
            "forgotten"
        );
        assert!(matches!(
            retries.failed("customers", at(7)),
            Verdict::GiveUp { attempts: 2, .. }
        ));
    }
}

//! Runs projections: batches in commit-safe order, each applied in one
//! transaction together with its checkpoint (a crash mid-batch loses and
//! doubles nothing); woken by NOTIFY, with a polling fallback; rebuilt from
//! zero into shadow tables that are swapped in atomically.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

use std::collections::HashMap;

use events::personal::DataKey;
use store::keys::{KeyError, KeyStore};

use crate::{customers, timeline};
use store::dead_letters::{self, Failed, Retries, Source, Verdict};
use store::source::{self, Checkpoint, SourceError, StoredEvent};

/// The named read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Projection {
    Customers,
    Timeline,
}

impl Projection {
    pub const ALL: [Projection; 2] = [Projection::Customers, Projection::Timeline];

    pub fn name(self) -> &'static str {
        match self {
            Projection::Customers => "customers",
            Projection::Timeline => "timeline",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|projection| projection.name() == name)
    }

    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Projection::Customers => customers::TABLES,
            Projection::Timeline => timeline::TABLES,
        }
    }

    pub(crate) async fn apply(
        self,
        conn: &mut PgConnection,
        suffix: &str,
        batch: &[StoredEvent],
        keys: &BatchKeys,
        rows: Rows,
    ) -> Result<(), ProjectorError> {
        match self {
            Projection::Customers => customers::apply(conn, suffix, batch, keys, rows).await?,
            Projection::Timeline => timeline::apply(conn, suffix, batch, keys, rows).await?,
        }
        Ok(())
    }

    /// Removes what the projection holds of `customers`.
    async fn reset(
        self,
        conn: &mut PgConnection,
        customers: &[uuid::Uuid],
    ) -> Result<(), sqlx::Error> {
        match self {
            Projection::Customers => customers::reset(conn, customers).await,
            Projection::Timeline => timeline::reset(conn, customers).await,
        }
    }

    /// Derives what a rebuild's fresh phase left out (see [`Rows::Fresh`]).
    async fn complete_fresh(
        self,
        conn: &mut PgConnection,
        suffix: &str,
    ) -> Result<(), sqlx::Error> {
        match self {
            Projection::Customers => crate::funnel::recompute(conn, suffix).await,
            Projection::Timeline => Ok(()),
        }
    }
}

/// What a batch may find in the tables it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Rows of the batch's customers may exist (live projection, replays, a
    /// rebuild's catch-up): they are read, folded further and replaced.
    Existing,
    /// A rebuild's bulk phase: every stream in the batch is whole and none of
    /// its rows exists yet, so nothing is read back or deleted, and totals
    /// over many customers are computed once at the end instead of per batch.
    Fresh,
}

/// Data keys of a batch's customers (`None`: erased).
type BatchKeys = HashMap<uuid::Uuid, Option<DataKey>>;

pub(crate) async fn keys_for(
    keys: &KeyStore,
    batch: &[StoredEvent],
) -> Result<BatchKeys, ProjectorError> {
    let mut ids: Vec<uuid::Uuid> = batch.iter().map(|stored| stored.customer_id).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(keys.load(&ids).await?)
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("data keys: {0}")]
    Keys(#[from] KeyError),
    #[error("kafka: {0}")]
    Kafka(String),
}

impl ProjectorError {
    /// Whether the error belongs to the data being written (see
    /// [`dead_letters::is_data_error`]), not to the database or the schema.
    pub fn is_data_error(&self) -> bool {
        match self {
            ProjectorError::Database(error)
            | ProjectorError::Source(SourceError::Database(error)) => {
                dead_letters::is_data_error(error)
            }
            ProjectorError::Source(SourceError::Undecodable { .. }) => true,
            ProjectorError::Keys(_) | ProjectorError::Kafka(_) => false,
        }
    }
}

/// Live batches are small for low lag; rebuild batches large for throughput.
pub const LIVE_BATCH: i64 = 1_000;
pub const REBUILD_BATCH: i64 = 10_000;
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const BACKOFF: Duration = Duration::from_secs(1);

/// The checkpoints of `projections`, locked until the transaction ends (in
/// name order, so that two lockers cannot deadlock).
async fn locked_checkpoints(
    conn: &mut PgConnection,
    projections: &[Projection],
) -> Result<Vec<(Projection, Checkpoint)>, sqlx::Error> {
    let mut names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    names.sort_unstable();
    names.dedup();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT name, tx::text, position FROM projection_checkpoints
          WHERE name = ANY($1) ORDER BY name FOR UPDATE",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    let locked = rows
        .into_iter()
        .filter_map(|(name, tx, position)| {
            let checkpoint = Checkpoint {
                tx: tx.parse().unwrap_or(0),
                position,
            };
            Projection::parse(&name).map(|projection| (projection, checkpoint))
        })
        .collect::<Vec<_>>();
    if locked.len() < names.len() {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(locked)
}

async fn save_checkpoint(
    conn: &mut PgConnection,
    projection: Projection,
    checkpoint: Checkpoint,
    applied: usize,
    reset: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints
            SET tx = $2::text::xid8, position = $3,
                events = CASE WHEN $5 THEN 0 ELSE events END + $4, updated_at = now()
          WHERE name = $1",
    )
    .bind(projection.name())
    .bind(checkpoint.tx.to_string())
    .bind(checkpoint.position)
    .bind(i64::try_from(applied).unwrap_or(i64::MAX))
    .bind(reset)
    .execute(conn)
    .await?;
    Ok(())
}

/// Lets a projection transaction commit without waiting for its WAL flush. A
/// crash can lose the last such commits, but each loses its read-model changes
/// and its checkpoint together, and they are simply applied again; meanwhile
/// commands no longer queue behind projector fsyncs.
pub(crate) async fn relaxed_durability(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(conn)
        .await?;
    Ok(())
}

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
    keys: &KeyStore,
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
    keys: &KeyStore,
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

/// Dead-letters the rows of `batch` after `from` up to `to` that did not decode.
async fn dead_letter_undecodable(
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
async fn apply_isolating(
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

/// The channel on which projections announce, at commit, which tenants' read
/// models changed: tenant ids separated by commas, or [`ALL_TENANTS`].
pub const READ_MODELS_CHANNEL: &str = "crm_read_models";
pub const ALL_TENANTS: &str = "*";
/// NOTIFY payloads must stay below 8,000 bytes.
const MAX_NOTICE_BYTES: usize = 7_000;

/// Announces the tenants of `batch` on [`READ_MODELS_CHANNEL`]; delivered
/// when (and only if) the transaction commits.
pub(crate) async fn announce_changes(
    conn: &mut PgConnection,
    batch: &[StoredEvent],
) -> Result<(), sqlx::Error> {
    let mut tenants: Vec<uuid::Uuid> = batch.iter().map(|stored| stored.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut payload = tenants
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if payload.is_empty() {
        return Ok(());
    }
    if payload.len() > MAX_NOTICE_BYTES {
        ALL_TENANTS.clone_into(&mut payload);
    }
    notify_read_models(conn, &payload).await
}

async fn notify_read_models(conn: &mut PgConnection, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(READ_MODELS_CHANNEL)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

/// Applies batches until `projections` have caught up with the committed log
/// or one of them stopped before an event to try again.
async fn drain(
    pool: &PgPool,
    keys: &KeyStore,
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
    keys: &KeyStore,
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
    keys: KeyStore,
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
    keys: &KeyStore,
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
    keys: &KeyStore,
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

/// One projection's position, for `crm projector status` and `/metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub name: &'static str,
    pub checkpoint: Checkpoint,
    pub events_applied: i64,
    pub updated_at: DateTime<Utc>,
    /// Committed events not yet applied.
    pub lag_events: i64,
    /// Age of the oldest committed event not yet applied, in seconds.
    pub lag_seconds: f64,
}

pub async fn status(pool: &PgPool) -> Result<Vec<Status>, sqlx::Error> {
    let mut statuses = Vec::new();
    for projection in Projection::ALL {
        let (tx, position, events, updated_at): (String, i64, i64, DateTime<Utc>) = sqlx::query_as(
            "SELECT tx::text, position, events, updated_at FROM projection_checkpoints WHERE name = $1",
        )
        .bind(projection.name())
        .fetch_one(pool)
        .await?;
        let checkpoint = Checkpoint {
            tx: tx.parse().unwrap_or(0),
            position,
        };
        let (lag_events, lag_seconds) = source::lag(pool, checkpoint).await?;
        statuses.push(Status {
            name: projection.name(),
            checkpoint,
            events_applied: events,
            updated_at,
            lag_events,
            lag_seconds,
        });
    }
    Ok(statuses)
}

/// Whether every projection in `projections` has applied the event at `position`.
pub async fn has_applied(
    pool: &PgPool,
    projections: &[Projection],
    position: i64,
) -> Result<bool, sqlx::Error> {
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    sqlx::query_scalar(
        "SELECT coalesce(bool_and((e.tx, e.global_position) <= (c.tx, c.position)), true)
           FROM projection_checkpoints c, events e
          WHERE c.name = ANY($1) AND e.global_position = $2",
    )
    .bind(&names)
    .bind(position)
    .fetch_one(pool)
    .await
}

const SHADOW: &str = "_rebuild";

/// Rebuilds `projections` from the first event into shadow tables, then swaps
/// them in atomically; the live tables keep serving (and being updated) until
/// the swap. Each event is read and decoded once for all of them.
/// `progress(applied, total)` is called after each batch.
///
/// Everything committed before the rebuild started (below the snapshot
/// horizon) is read stream by stream into tables without secondary indexes,
/// so each row is written once; the indexes are then built in bulk, and what
/// committed meanwhile is applied in commit order inside the swap transaction.
pub async fn rebuild(
    pool: &PgPool,
    keys: &KeyStore,
    projections: &[Projection],
    progress: impl FnMut(u64, u64),
) -> Result<u64, ProjectorError> {
    rebuild_in_batches(pool, keys, projections, REBUILD_BATCH, progress).await
}

/// [`rebuild`] reading `batch_size` events at a time (tests use a few, so
/// that streams run across reads).
pub async fn rebuild_in_batches(
    pool: &PgPool,
    keys: &KeyStore,
    projections: &[Projection],
    batch_size: i64,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, ProjectorError> {
    let batch_size = batch_size.max(1);
    let mut indexes = Vec::new();
    for projection in projections {
        indexes.extend(create_shadow_tables(pool, *projection).await?);
    }
    let mut conn = pool.acquire().await?;
    let horizon = source::horizon(&mut conn).await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'Customer' AND tx < $1::text::xid8",
    )
    .bind(horizon.to_string())
    .fetch_one(&mut *conn)
    .await?;
    drop(conn);
    let total = u64::try_from(total).unwrap_or(0);
    let (mut applied, mut undecodable) =
        bulk_load(pool, keys, projections, horizon, batch_size, |applied| {
            progress(applied, total.max(applied));
        })
        .await?;
    let mut conn = pool.acquire().await?;
    for projection in projections {
        projection.complete_fresh(&mut conn, SHADOW).await?;
    }
    drop(conn);
    let index_builds = indexes
        .iter()
        .filter(|(_, definition)| !definition.is_empty())
        .map(|(_, definition)| definition.clone());
    concurrently(pool, index_builds).await?;
    // Every event of a transaction below the horizon is applied: no such event
    // lies after (horizon - 1, their highest position) in commit order.
    let highest: Option<i64> =
        sqlx::query_scalar("SELECT max(global_position) FROM events WHERE tx < $1::text::xid8")
            .bind(horizon.to_string())
            .fetch_one(pool)
            .await?;
    let mut checkpoint = Checkpoint {
        tx: horizon.saturating_sub(1),
        position: highest.unwrap_or(0),
    };
    // Swap: hold the live checkpoints (the live projector waits), apply what
    // committed meanwhile, then rename the shadow tables and indexes into place.
    let mut tx = pool.begin().await?;
    locked_checkpoints(&mut tx, projections).await?;
    loop {
        let mut batch = source::read_batch(&mut tx, checkpoint, batch_size).await?;
        let Some(last) = batch.last() else { break };
        checkpoint = last;
        let batch_keys = keys_for(keys, &batch.events).await?;
        for projection in projections {
            projection
                .apply(&mut tx, SHADOW, &batch.events, &batch_keys, Rows::Existing)
                .await?;
        }
        applied += batch.events.len() as u64;
        undecodable.append(&mut batch.undecodable);
    }
    // The rebuild applied every event that decodes: what is still dead is
    // what does not.
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    sqlx::query("DELETE FROM dead_letters WHERE consumer = ANY($1)")
        .bind(&names)
        .execute(&mut *tx)
        .await?;
    let rebuilt = source::Batch {
        undecodable,
        ..source::Batch::default()
    };
    for projection in projections {
        let everything = Checkpoint {
            tx: u64::MAX,
            position: i64::MAX,
        };
        dead_letter_undecodable(
            &mut tx,
            *projection,
            &rebuilt,
            Checkpoint::default(),
            everything,
        )
        .await?;
    }
    for table in projections
        .iter()
        .flat_map(|projection| projection.tables())
    {
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("ALTER TABLE {table}{SHADOW} RENAME TO {table}"))
            .execute(&mut *tx)
            .await?;
    }
    for (live_name, _) in &indexes {
        sqlx::query(&format!(
            "ALTER INDEX {live_name}{SHADOW} RENAME TO {live_name}"
        ))
        .execute(&mut *tx)
        .await?;
    }
    notify_read_models(&mut tx, ALL_TENANTS).await?;
    for projection in projections {
        save_checkpoint(
            &mut tx,
            *projection,
            checkpoint,
            usize::try_from(applied).unwrap_or(usize::MAX),
            true,
        )
        .await?;
    }
    tx.commit().await?;
    progress(applied, total.max(applied));
    Ok(applied)
}

/// Runs independent statements (index builds) on [`REBUILD_WRITERS`]
/// connections at once.
async fn concurrently(
    pool: &PgPool,
    statements: impl Iterator<Item = String>,
) -> Result<(), sqlx::Error> {
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(statements)
        .map(|statement| async move { sqlx::query(&statement).execute(pool).await.map(|_| ()) })
        .buffer_unordered(REBUILD_WRITERS)
        .try_collect::<()>()
        .await
}

/// Batches a rebuild writes at once: one reader decodes while the writers'
/// transactions run, so the service's and the database's CPUs both work.
const REBUILD_WRITERS: usize = 2;

/// The bulk phase of a rebuild: every event below `horizon`, stream by
/// stream, into the shadow tables. Batches hold whole streams only, so they
/// are independent (`Rows::Fresh`) and written concurrently, each in its own
/// transaction. `progress(applied)` is called as batches land. Returns how
/// many events it applied and the rows that did not decode.
async fn bulk_load(
    pool: &PgPool,
    keys: &KeyStore,
    projections: &[Projection],
    horizon: u64,
    batch_size: i64,
    mut progress: impl FnMut(u64),
) -> Result<(u64, Vec<source::Undecodable>), ProjectorError> {
    let (batches, queue) = tokio::sync::mpsc::channel::<Vec<StoredEvent>>(REBUILD_WRITERS);
    let queue = Arc::new(tokio::sync::Mutex::new(queue));
    let (landed, mut landings) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..REBUILD_WRITERS {
        let (pool, keys, projections) = (pool.clone(), keys.clone(), projections.to_vec());
        let (queue, landed) = (Arc::clone(&queue), landed.clone());
        writers.spawn(async move {
            loop {
                let next = queue.lock().await.recv().await;
                let Some(batch) = next else {
                    return Ok::<(), ProjectorError>(());
                };
                let batch_keys = keys_for(&keys, &batch).await?;
                let mut tx = pool.begin().await?;
                for projection in &projections {
                    projection
                        .apply(&mut tx, SHADOW, &batch, &batch_keys, Rows::Fresh)
                        .await?;
                }
                tx.commit().await?;
                let _ = landed.send(batch.len() as u64);
            }
        });
    }
    drop(landed);
    let mut applied: u64 = 0;
    let mut report = |landings: &mut tokio::sync::mpsc::UnboundedReceiver<u64>| {
        while let Ok(count) = landings.try_recv() {
            applied += count;
            progress(applied);
        }
    };
    let mut reader = pool.acquire().await?;
    let mut after = (String::new(), 0_i64);
    let mut undecodable = Vec::new();
    // The last stream of a read may go on in the next one: it waits for it,
    // so that each batch holds whole streams only.
    let mut unfinished: Vec<StoredEvent> = Vec::new();
    let mut read_result = Ok(());
    loop {
        let read =
            match source::read_streams_below(&mut reader, horizon, (&after.0, after.1), batch_size)
                .await
            {
                Ok(read) => read,
                Err(error) => {
                    read_result = Err(ProjectorError::from(error));
                    break;
                }
            };
        let exhausted = i64::try_from(read.len()).unwrap_or(i64::MAX) < batch_size;
        if let Some(last_row) = read.last_row {
            after = last_row;
        }
        undecodable.extend(read.undecodable);
        let mut batch = std::mem::take(&mut unfinished);
        batch.extend(read.events);
        if !exhausted {
            if let Some(last_stream) = batch.last().map(|stored| stored.customer_id) {
                let cut = batch.partition_point(|stored| stored.customer_id != last_stream);
                unfinished = batch.split_off(cut);
            }
        }
        // A failed send means every writer stopped: their error tells why.
        if !batch.is_empty() && batches.send(batch).await.is_err() {
            break;
        }
        report(&mut landings);
        if exhausted {
            break;
        }
    }
    drop(batches);
    drop(reader);
    let mut first_error = read_result.err();
    while let Some(finished) = writers.join_next().await {
        let outcome = finished.unwrap_or_else(|error| {
            Err(ProjectorError::Database(sqlx::Error::Protocol(format!(
                "a rebuild writer stopped: {error}"
            ))))
        });
        if let Err(error) = outcome {
            first_error.get_or_insert(error);
        }
    }
    while let Some(count) = landings.recv().await {
        applied += count;
        progress(applied);
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok((applied, undecodable)),
    }
}

/// Creates empty shadow tables shaped like the live ones, with only their
/// primary keys; returns every live index (primary keys included) as
/// (live name, definition for the shadow table) — the secondary ones still to
/// build, all of them to rename at the swap.
async fn create_shadow_tables(
    pool: &PgPool,
    projection: Projection,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut pending = Vec::new();
    for table in projection.tables() {
        let shadow = format!("{table}{SHADOW}");
        sqlx::query(&format!("DROP TABLE IF EXISTS {shadow}"))
            .execute(pool)
            .await?;
        sqlx::query(&format!(
            "CREATE TABLE {shadow} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        ))
        .execute(pool)
        .await?;
        let indexes: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT i.relname::text, pg_get_indexdef(x.indexrelid), x.indisprimary
               FROM pg_index x
               JOIN pg_class i ON i.oid = x.indexrelid
              WHERE x.indrelid = $1::regclass",
        )
        .bind(*table)
        .fetch_all(pool)
        .await?;
        for (name, definition, primary) in indexes {
            // `CREATE [UNIQUE] INDEX <name> ON public.<table> USING …`
            let shadow_definition = definition
                .replacen(
                    &format!("INDEX {name} ON "),
                    &format!("INDEX {name}{SHADOW} ON "),
                    1,
                )
                .replacen(
                    &format!(" public.{table} "),
                    &format!(" public.{shadow} "),
                    1,
                );
            if primary {
                // Lookups by id during the bulk phase need the key from the start.
                sqlx::query(&shadow_definition).execute(pool).await?;
                sqlx::query(&format!(
                    "ALTER TABLE {shadow} ADD CONSTRAINT {name}{SHADOW} PRIMARY KEY USING INDEX {name}{SHADOW}"
                ))
                .execute(pool)
                .await?;
                pending.push((name, String::new()));
            } else {
                pending.push((name, shadow_definition));
            }
        }
    }
    Ok(pending)
}

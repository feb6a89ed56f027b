//! Rebuilding projections from the first event into shadow tables that are
//! swapped in atomically.

use std::sync::Arc;

use sqlx::PgPool;

use crate::copy::Rows;
use store::data_keys::DataKeys;
use store::source::{self, Checkpoint, StoredEvent};

use super::checkpoint::*;
use super::poison::*;
use super::projection::*;

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
    keys: &DataKeys,
    projections: &[Projection],
    progress: impl FnMut(u64, u64),
) -> Result<u64, ProjectorError> {
    rebuild_in_batches(pool, keys, projections, REBUILD_BATCH, progress).await
}

/// [`rebuild`] reading `batch_size` events at a time (tests use a few, so
/// that streams run across reads).
pub async fn rebuild_in_batches(
    pool: &PgPool,
    keys: &DataKeys,
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
    keys: &DataKeys,
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

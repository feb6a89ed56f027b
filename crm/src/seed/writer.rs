//! The bulk writer: appends generated batches through the normal `events`
//! table, thousands of rows per statement, on a few connections at once.

use std::sync::Arc;

use anyhow::{ensure, Context};
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use uuid::Uuid;

use events::customer::V1;
use events::CustomerEvent;

/// Rows per INSERT. Each statement is its own transaction; a few thousand rows
/// amortise the round trip and the commit without making one statement's
/// trigger work (and a failure's rollback) large. Measured on the 2-core
/// development machine (300k events, 2 writers, other builds running):
/// 1k rows 22k events/s, 2k 27k, 4k 29k, 8k 28.5k.
pub(super) const ROWS_PER_STATEMENT: usize = 4_000;

/// Concurrent INSERT statements, each on its own connection and on different
/// customers. The server's per-row work (the chain trigger's PL/pgSQL index
/// lookup and SHA-256, seven indexes, the jsonb round trip) is the
/// bottleneck; one statement keeps one server core busy. Measured on the
/// 2-core development machine (200k events): 1 writer 25k events/s, 2 34k,
/// 3 34k, 4 31k.
const WRITERS: usize = 2;

/// Batches generated ahead of the writers: generation overlaps the inserts
/// and never waits on them, while memory stays bounded.
const BATCHES_AHEAD: usize = WRITERS * 2;

/// `Customer::TYPE`, the aggregate type postgres-es writes (crm does not
/// depend on cqrs-es to name the constant; the tests load the seeded streams
/// through the real service, which would find nothing under another name).
const AGGREGATE_TYPE: &str = "Customer";

/// Appends a batch: the customers' data keys (none when seeding in clear) and
/// their events, in one statement and so one transaction, so no committed
/// event ever lacks its key.
///
/// The JSON goes through `jsonb` on its way into the `json` columns because
/// that is what the service stores: postgres-es binds a `serde_json::Value`,
/// which sqlx sends as `jsonb`, so the stored (and hashed) text is jsonb's
/// normalised rendering (storing serde's compact text instead would be about
/// 12% faster, but seeded events would not look like the service's).
/// `WITH ORDINALITY ... ORDER BY` keeps the array
/// order, so each stream's rows are inserted in sequence order and the
/// trigger finds the previous event (earlier rows of the same statement are
/// visible to it).
const INSERT_EVENTS: &str = "
WITH keys AS (
    INSERT INTO customer_keys (customer_id, tenant_id, wrapped_key, created_at)
    SELECT * FROM UNNEST($8::uuid[], $9::uuid[], $10::bytea[], $11::timestamptz[])
)
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT $1, e.aggregate_id, e.sequence, e.event_type, $2, e.payload::jsonb::json, e.metadata::jsonb::json
  FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY
       AS e(aggregate_id, sequence, event_type, payload, metadata, position)
 ORDER BY e.position";

/// What the writers appended.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Written {
    pub(super) customers: u64,
    pub(super) events: u64,
}

/// One blocking thread generates batches of whole customers (so every stream
/// lies in one statement, in sequence order) while [`WRITERS`] tasks insert
/// them. A failed statement rolls back only itself: the customers committed
/// before it stay, complete and valid.
pub(super) async fn write(
    pool: &PgPool,
    generate: impl FnOnce(&mut dyn FnMut(Batch) -> bool) -> anyhow::Result<()> + Send + 'static,
    progress: &ProgressBar,
) -> anyhow::Result<Written> {
    let (sender, receiver) = mpsc::channel::<Batch>(BATCHES_AHEAD);
    let generating = tokio::task::spawn_blocking(move || {
        // A closed channel means a writer failed and the run is being
        // abandoned: stop quietly, the writer's error is the one reported.
        generate(&mut |batch| sender.blocking_send(batch).is_ok())
    });

    let receiver = Arc::new(Mutex::new(receiver));
    let mut writers = JoinSet::new();
    for _ in 0..WRITERS {
        writers.spawn(write_batches(
            pool.clone(),
            Arc::clone(&receiver),
            progress.clone(),
        ));
    }
    drop(receiver);

    let mut written = Written::default();
    while let Some(joined) = writers.join_next().await {
        // Returning early drops `writers` (aborting the other tasks) and with
        // them the receiver, which stops the generator.
        let done = joined.context("a seed writer task panicked")??;
        written.customers += done.customers;
        written.events += done.events;
    }
    generating
        .await
        .context("the seed generator panicked")?
        .context("generating seed data")?;

    Ok(written)
}

/// One writer: takes the next batch, appends it in one statement, repeats.
async fn write_batches(
    pool: PgPool,
    receiver: Arc<Mutex<mpsc::Receiver<Batch>>>,
    progress: ProgressBar,
) -> anyhow::Result<Written> {
    let mut written = Written::default();
    loop {
        // The lock is held only while waiting for a batch, never during the insert.
        let next = receiver.lock().await.recv().await;
        let Some(batch) = next else {
            return Ok(written);
        };
        let inserted = sqlx::query(INSERT_EVENTS)
            .bind(AGGREGATE_TYPE)
            .bind(V1)
            .bind(&batch.aggregate_ids)
            .bind(&batch.sequences)
            .bind(&batch.event_types)
            .bind(&batch.payloads)
            .bind(&batch.metadata)
            .bind(&batch.key_customers)
            .bind(&batch.key_tenants)
            .bind(&batch.wrapped_keys)
            .bind(&batch.key_created)
            .execute(&pool)
            .await
            .with_context(|| {
                format!(
                    "appending {} seeded events of {} customers",
                    batch.len(),
                    batch.customers
                )
            })?
            .rows_affected();
        ensure!(
            inserted == batch.len() as u64,
            "appended {inserted} events instead of {}",
            batch.len()
        );
        written.customers += batch.customers;
        written.events += inserted;
        progress.inc(batch.customers);
    }
}

/// Rows of one INSERT, column by column (the shape `UNNEST` takes).
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) aggregate_ids: Vec<String>,
    pub(super) sequences: Vec<i64>,
    pub(super) event_types: Vec<&'static str>,
    pub(super) payloads: Vec<String>,
    pub(super) metadata: Vec<String>,
    /// `customer_keys` rows: one per customer when sealing.
    pub(super) key_customers: Vec<Uuid>,
    pub(super) key_tenants: Vec<Uuid>,
    pub(super) wrapped_keys: Vec<Vec<u8>>,
    pub(super) key_created: Vec<DateTime<Utc>>,
    /// Whole customers in the batch.
    pub(super) customers: u64,
}

impl Batch {
    pub(super) fn with_capacity(rows: usize) -> Self {
        Self {
            aggregate_ids: Vec::with_capacity(rows),
            sequences: Vec::with_capacity(rows),
            event_types: Vec::with_capacity(rows),
            payloads: Vec::with_capacity(rows),
            metadata: Vec::with_capacity(rows),
            ..Self::default()
        }
    }

    /// Event rows.
    pub(super) fn len(&self) -> usize {
        self.sequences.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    /// A customer's data key, wrapped by the master key.
    pub(super) fn push_key(
        &mut self,
        customer: Uuid,
        tenant: Uuid,
        wrapped_key: Vec<u8>,
        created_at: DateTime<Utc>,
    ) {
        self.key_customers.push(customer);
        self.key_tenants.push(tenant);
        self.wrapped_keys.push(wrapped_key);
        self.key_created.push(created_at);
    }

    /// An event row: the payload (sealed by the caller) and its metadata as JSON.
    pub(super) fn push_event(
        &mut self,
        aggregate_id: &str,
        sequence: i64,
        event: &CustomerEvent,
        metadata: &Metadata<'_>,
    ) -> anyhow::Result<()> {
        let payload = serde_json::to_string(event)?;
        let metadata = serde_json::to_string(metadata)?;
        self.aggregate_ids.push(aggregate_id.to_owned());
        self.sequences.push(sequence);
        self.event_types.push(event.type_name());
        self.payloads.push(payload);
        self.metadata.push(metadata);
        Ok(())
    }
}

/// The event metadata the command service writes (`command::service`), minus
/// `idempotency_key`, which it adds only for keyed requests.
#[derive(Serialize)]
pub(super) struct Metadata<'a> {
    pub(super) tenant_id: &'a str,
    pub(super) actor: &'a str,
    pub(super) role: &'a str,
    pub(super) command: &'a str,
    pub(super) correlation_id: &'a str,
    pub(super) occurred_at: &'a str,
}

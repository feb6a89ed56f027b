//! The store read as the outbox: the next committed events after the
//! checkpoint, in commit-safe order, as [`Outgoing`] messages keyed by
//! aggregate (customer, user or team). A stored event that cannot be
//! encoded is dead-lettered here.

use chrono::Utc;

use events::envelope::{CloudEvent, PersonalFields};
use store::dead_letters;
use store::source::{Checkpoint, EventRow, EVENT_COLUMNS};

use crate::error::RelayError;
use crate::producer::Relay;

/// One event ready to produce.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub checkpoint: Checkpoint,
    /// The aggregate id (customer, user or team): every event of a stream
    /// lands on one partition, in order.
    pub key: String,
    pub envelope: CloudEvent,
}

impl Relay {
    /// The next committed events after `after`, at most the batch size
    /// (ordered by `events.tx`, not the text column: see `store::source::read_batch`).
    pub async fn read(&self, after: Checkpoint) -> Result<Vec<Outgoing>, RelayError> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS}
               FROM events
              WHERE (tx, global_position) > ($1::text::xid8, $2)
                AND tx < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY events.tx, events.global_position
              LIMIT $3"
        ))
        .bind(after.tx.to_string())
        .bind(after.position)
        .bind(self.config.batch)
        .fetch_all(&self.pool)
        .await?;
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows {
            match row.envelope(PersonalFields::Sealed) {
                Ok(envelope) => batch.push(Outgoing {
                    checkpoint: row.checkpoint(),
                    key: row.aggregate_id,
                    envelope,
                }),
                Err(error) => {
                    // Encoding it again would fail the same way: pass it.
                    let mut conn = self.pool.acquire().await?;
                    dead_letters::record(
                        &mut conn,
                        &self.consumer(),
                        dead_letters::Source::Postgres,
                        &dead_letters::Failed {
                            checkpoint: row.checkpoint(),
                            event_id: Some(row.event_id),
                            tenant_id: Some(row.tenant_id),
                            aggregate_id: Some(&row.aggregate_id),
                        },
                        &format!("the stored payload is not JSON: {error}"),
                        1,
                        Utc::now(),
                    )
                    .await?;
                }
            }
        }
        Ok(batch)
    }
}

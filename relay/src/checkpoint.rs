//! The relay's place in the log, in `relay_checkpoints`: read when a batch
//! starts, advanced only once the broker has confirmed the batch's events.

use sqlx::PgPool;

use store::source::Checkpoint;

use crate::error::RelayError;
use crate::producer::Relay;

impl Relay {
    pub async fn checkpoint(&self) -> Result<Checkpoint, RelayError> {
        Ok(load_checkpoint(&self.pool, &self.config.topic).await?)
    }

    /// Records that everything up to `last` is on the topic. The commit does
    /// not wait for its WAL flush: a crash can only lose checkpoint advances,
    /// which means sending those events again — what at-least-once allows —
    /// and commands do not queue behind the relay's fsyncs.
    ///
    /// A fenced relay (one of several instances, `crate::lease`) commits only
    /// while its lease is held; otherwise [`RelayError::LeaseLost`].
    pub async fn commit(&self, last: Checkpoint, delivered: usize) -> Result<(), RelayError> {
        let mut tx = self.pool.begin().await?;
        if let Some(fence) = &self.fence {
            if !fence.holds(&mut tx).await? {
                return Err(RelayError::LeaseLost {
                    topic: self.config.topic.clone(),
                });
            }
        }
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO relay_checkpoints (topic, tx, position, events, updated_at)
             VALUES ($1, $2::text::xid8, $3, $4, now())
             ON CONFLICT (topic) DO UPDATE
                SET tx = EXCLUDED.tx, position = EXCLUDED.position,
                    events = relay_checkpoints.events + EXCLUDED.events, updated_at = now()",
        )
        .bind(&self.config.topic)
        .bind(last.tx.to_string())
        .bind(last.position)
        .bind(i64::try_from(delivered).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn load_checkpoint(pool: &PgPool, topic: &str) -> Result<Checkpoint, sqlx::Error> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT tx::text, position FROM relay_checkpoints WHERE topic = $1")
            .bind(topic)
            .fetch_optional(pool)
            .await?;
    Ok(
        row.map_or_else(Checkpoint::default, |(tx, position)| Checkpoint {
            tx: tx.parse().unwrap_or(0),
            position,
        }),
    )
}

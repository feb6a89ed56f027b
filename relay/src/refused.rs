//! Events the broker refuses for what they are (too large, invalid): the
//! batch is settled up to the refused event, which is sent again until
//! `Retries` gives up on it, then dead-lettered and passed.

use uuid::Uuid;

use store::dead_letters::{self, Retries, Verdict};
use store::source::Checkpoint;

use crate::error::RelayError;
use crate::producer::Relay;

impl Relay {
    /// Settles a batch that failed at an event the broker refused for what
    /// it is: commits what was confirmed before it, then either leaves the
    /// event to be sent again (`false`) or, once `retries` gives up on it,
    /// dead-letters it and moves the checkpoint past it (`true`).
    pub async fn settle_refused(
        &self,
        failed: Checkpoint,
        confirmed: Option<(Checkpoint, usize)>,
        reason: &str,
        retries: &mut Retries,
    ) -> Result<bool, RelayError> {
        if let Some((last, count)) = confirmed {
            self.commit(last, count).await?;
        }
        let consumer = self.consumer();
        let Verdict::GiveUp {
            attempts,
            first_seen,
        } = retries.failed(&consumer, failed)
        else {
            return Ok(false);
        };
        let (event_id, tenant_id, aggregate_id): (Uuid, Uuid, String) = sqlx::query_as(
            "SELECT event_id, tenant_id, aggregate_id FROM events WHERE global_position = $1",
        )
        .bind(failed.position)
        .fetch_one(&self.pool)
        .await?;
        let mut conn = self.pool.acquire().await?;
        dead_letters::record(
            &mut conn,
            &consumer,
            dead_letters::Source::Postgres,
            &dead_letters::Failed {
                checkpoint: failed,
                event_id: Some(event_id),
                tenant_id: Some(tenant_id),
                aggregate_id: Some(&aggregate_id),
            },
            reason,
            attempts,
            first_seen,
        )
        .await?;
        drop(conn);
        self.commit(failed, 0).await?;
        Ok(true)
    }
}

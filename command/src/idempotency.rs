//! `Idempotency-Key`: the first request with a key claims it, runs, and stores
//! its response; retries with the same key and body get that response, even
//! when they arrive while the first is still running.
//!
//! Claims are committed rows, not open transactions, so a waiting retry holds
//! no connection. A claim whose owner died is taken over after
//! [`ABANDONED_AFTER_SECONDS`]; the event store's own record of the key (see
//! `CommandService::execute`) keeps that takeover from appending twice.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// A claim older than this with no response is considered abandoned.
pub const ABANDONED_AFTER_SECONDS: i32 = 60;
/// How long a concurrent retry waits for the first request's response.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(10);
const POLL_EVERY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request owns the key: run it, then `complete` or `release`.
    Owned,
    /// A previous request with this key and body already answered.
    Replay(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
    /// The first request is still running after the wait.
    InProgress,
}

/// Identifies a key: keys are scoped to the tenant and the user who sent them.
#[derive(Debug, Clone)]
pub struct KeyScope<'a> {
    pub tenant_id: Uuid,
    pub actor: &'a str,
    pub key: &'a str,
}

#[derive(Clone)]
pub struct IdempotencyStore {
    pool: PgPool,
}

impl IdempotencyStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn claim(
        &self,
        scope: &KeyScope<'_>,
        fingerprint: &[u8],
    ) -> Result<Claim, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, actor, key, fingerprint)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(scope.tenant_id)
        .bind(scope.actor)
        .bind(scope.key)
        .bind(fingerprint)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Owned);
        }
        let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
        loop {
            let row: Option<(Vec<u8>, Option<i16>, Option<Value>)> = sqlx::query_as(
                "SELECT fingerprint, response_status, response_body
                   FROM idempotency_keys
                  WHERE tenant_id = $1 AND actor = $2 AND key = $3",
            )
            .bind(scope.tenant_id)
            .bind(scope.actor)
            .bind(scope.key)
            .fetch_optional(&self.pool)
            .await?;
            match row {
                // Released by its owner (a retryable failure): claim it afresh.
                None => return Box::pin(self.claim(scope, fingerprint)).await,
                Some((stored, _, _)) if stored != fingerprint => return Ok(Claim::Mismatch),
                Some((_, Some(status), Some(body))) => {
                    return Ok(Claim::Replay(StoredResponse {
                        status: u16::try_from(status).unwrap_or(500),
                        body,
                    }))
                }
                Some(_) => {
                    if self.take_over_abandoned(scope).await? {
                        return Ok(Claim::Owned);
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Ok(Claim::InProgress);
                    }
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
        }
    }

    async fn take_over_abandoned(&self, scope: &KeyScope<'_>) -> Result<bool, sqlx::Error> {
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET created_at = now()
              WHERE tenant_id = $1 AND actor = $2 AND key = $3
                AND response_status IS NULL
                AND created_at < now() - make_interval(secs => $4)",
        )
        .bind(scope.tenant_id)
        .bind(scope.actor)
        .bind(scope.key)
        .bind(ABANDONED_AFTER_SECONDS)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Stores the final response of the request that owns the key.
    pub async fn complete(
        &self,
        scope: &KeyScope<'_>,
        response: &StoredResponse,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE idempotency_keys SET response_status = $4, response_body = $5
              WHERE tenant_id = $1 AND actor = $2 AND key = $3",
        )
        .bind(scope.tenant_id)
        .bind(scope.actor)
        .bind(scope.key)
        .bind(i16::try_from(response.status).unwrap_or(500))
        .bind(&response.body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Frees the key after an outcome worth retrying (a conflict, a server error).
    pub async fn release(&self, scope: &KeyScope<'_>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM idempotency_keys
              WHERE tenant_id = $1 AND actor = $2 AND key = $3 AND response_status IS NULL",
        )
        .bind(scope.tenant_id)
        .bind(scope.actor)
        .bind(scope.key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

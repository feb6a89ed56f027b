//! Customers' data keys, stored wrapped by the master key.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::PgPool;
use uuid::Uuid;

use events::personal::{DataKey, MasterKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the data key of customer {0} does not unwrap: wrong master key?")]
    Unwrap(Uuid),
    #[error("the personal data of customer {0} was erased")]
    Destroyed(Uuid),
}

#[derive(Clone)]
pub struct DataKeys {
    pool: PgPool,
    master: Arc<MasterKey>,
}

impl DataKeys {
    pub fn new(pool: PgPool, master: MasterKey) -> Self {
        Self {
            pool,
            master: Arc::new(master),
        }
    }

    /// Seals a service secret with the master key (see
    /// [`MasterKey::seal_secret`]): webhook signing keys are stored so.
    pub fn seal_secret(&self, secret: &[u8], purpose: &str, owner: Uuid) -> Vec<u8> {
        self.master.seal_secret(secret, purpose, owner)
    }

    /// A secret [`DataKeys::seal_secret`] sealed; `None` when it does not
    /// open (another master key).
    pub fn open_secret(&self, sealed: &[u8], purpose: &str, owner: Uuid) -> Option<Vec<u8>> {
        self.master.open_secret(sealed, purpose, owner)
    }

    /// The customer's key, created on first use.
    pub async fn get_or_create(&self, customer: Uuid, tenant: Uuid) -> Result<DataKey, KeyError> {
        // Nearly every call finds the key: one read instead of an insert
        // attempt and a read. A row without a key is a destroyed one.
        let wrapped: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT wrapped_key FROM customer_keys WHERE customer_id = $1")
                .bind(customer)
                .fetch_optional(&self.pool)
                .await?;
        match wrapped {
            Some(Some(wrapped)) => {
                return self
                    .master
                    .unwrap_key(&wrapped, customer)
                    .ok_or(KeyError::Unwrap(customer));
            }
            Some(None) => return Err(KeyError::Destroyed(customer)),
            None => {}
        }
        let candidate = DataKey::generate();
        sqlx::query(
            "INSERT INTO customer_keys (customer_id, tenant_id, wrapped_key) VALUES ($1, $2, $3)
             ON CONFLICT (customer_id) DO NOTHING",
        )
        .bind(customer)
        .bind(tenant)
        .bind(self.master.wrap(&candidate, customer))
        .execute(&self.pool)
        .await?;
        self.load(&[customer])
            .await?
            .remove(&customer)
            .flatten()
            .ok_or(KeyError::Destroyed(customer))
    }

    /// Keys of `customers`; `None` for a destroyed (or never created) key.
    pub async fn load(
        &self,
        customers: &[Uuid],
    ) -> Result<HashMap<Uuid, Option<DataKey>>, KeyError> {
        let rows: Vec<(Uuid, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT customer_id, wrapped_key FROM customer_keys WHERE customer_id = ANY($1)",
        )
        .bind(customers)
        .fetch_all(&self.pool)
        .await?;
        let mut keys: HashMap<Uuid, Option<DataKey>> =
            customers.iter().map(|id| (*id, None)).collect();
        for (customer, wrapped) in rows {
            let key = match wrapped {
                Some(wrapped) => Some(
                    self.master
                        .unwrap_key(&wrapped, customer)
                        .ok_or(KeyError::Unwrap(customer))?,
                ),
                None => None,
            };
            keys.insert(customer, key);
        }
        Ok(keys)
    }

    /// Which of `customers` still have a data key (without unwrapping any).
    pub async fn existing(
        &self,
        customers: &[Uuid],
    ) -> Result<std::collections::HashSet<Uuid>, KeyError> {
        let alive: Vec<Uuid> = sqlx::query_scalar(
            "SELECT customer_id FROM customer_keys WHERE customer_id = ANY($1) AND wrapped_key IS NOT NULL",
        )
        .bind(customers)
        .fetch_all(&self.pool)
        .await?;
        Ok(alive.into_iter().collect())
    }

    /// Destroys the customer's key (idempotent); a key never created is
    /// recorded as destroyed so none can be created later.
    pub async fn destroy(
        &self,
        customer: Uuid,
        tenant: Uuid,
        reason: &str,
    ) -> Result<(), KeyError> {
        sqlx::query(
            "INSERT INTO customer_keys (customer_id, tenant_id, wrapped_key, destroyed_at, destroyed_reason)
             VALUES ($1, $2, NULL, now(), $3)
             ON CONFLICT (customer_id) DO UPDATE
                SET wrapped_key = NULL,
                    destroyed_at = coalesce(customer_keys.destroyed_at, now()),
                    destroyed_reason = coalesce(customer_keys.destroyed_reason, EXCLUDED.destroyed_reason)",
        )
        .bind(customer)
        .bind(tenant)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

//! The named projections, what a batch may find in their tables, and their errors.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::PgConnection;

use crate::copy::Rows;
use events::personal::DataKey;
use store::data_keys::{DataKeys, KeyError};
use store::dead_letters::{self};
use store::source::{SourceError, StoredEvent};

use crate::{customers, timeline};

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
    pub(crate) async fn reset(
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
    pub(crate) async fn complete_fresh(
        self,
        conn: &mut PgConnection,
        suffix: &str,
    ) -> Result<(), sqlx::Error> {
        match self {
            Projection::Customers => crate::customers::funnel::recompute(conn, suffix).await,
            Projection::Timeline => Ok(()),
        }
    }
}

/// Data keys of a batch's customers (`None`: erased).
pub(crate) type BatchKeys = HashMap<uuid::Uuid, Option<DataKey>>;

pub(crate) async fn keys_for(
    keys: &DataKeys,
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

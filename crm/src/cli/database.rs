//! The database every subcommand but `serve` and `migrate` works against:
//! DATABASE_URL, or else the private PostgreSQL under the data directory, which
//! must be stopped again however the work ends.

use anyhow::Context;
use sqlx::PgPool;
use store::data_keys::DataKeys;

use super::secrets::master_key;
use crate::config::DatabaseArgs;
use crate::db;
use crate::embedded::EmbeddedPostgres;

/// Connects to DATABASE_URL, or to the private PostgreSQL under the data dir.
/// The returned server (if any) must be stopped by the caller.
async fn open_database(
    database: &DatabaseArgs,
) -> anyhow::Result<(String, Option<EmbeddedPostgres>)> {
    match &database.database_url {
        Some(url) => Ok((url.expose().to_owned(), None)),
        None => {
            let postgres = EmbeddedPostgres::start(&database.data_dir).await.context(
                "starting the private PostgreSQL (set DATABASE_URL to use your own server)",
            )?;
            Ok((postgres.database_url().to_owned(), Some(postgres)))
        }
    }
}

async fn stop_embedded(embedded: Option<EmbeddedPostgres>) {
    if let Some(postgres) = embedded {
        if let Err(error) = postgres.stop().await {
            tracing::error!(error = %format!("{error:#}"), "the private PostgreSQL did not stop cleanly");
        }
    }
}

/// Runs `work` against a migrated pool, then stops a private server if one was started.
pub(super) async fn with_pool<F, Fut>(database: &DatabaseArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(PgPool, DataKeys) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let master = master_key(database)?;
    let (url, embedded) = open_database(database).await?;
    let outcome = async {
        let pool = db::connect(&url, 8).await?;
        db::migrate(&pool).await?;
        let data_keys = DataKeys::new(pool.clone(), master);
        work(pool, data_keys).await
    }
    .await;
    stop_embedded(embedded).await;
    outcome
}

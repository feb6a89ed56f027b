//! Database connection and migrations (`schema/`).

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// Every migration in `schema/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../schema");

pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = database_url
        .parse()
        .map_err(|error| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL: {error}"))?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection it hands out by default: one more round
        // trip per query (without it the uncached list and detail routes
        // answered 13-15 % more requests/s, BENCHMARKS.md). A broken
        // connection fails its query instead and is discarded.
        .test_before_acquire(false)
        .connect_with(options.application_name("crm"))
        .await
        .map_err(|error| anyhow::anyhow!("cannot connect to PostgreSQL: {error}"))?;
    Ok(pool)
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|error| anyhow::anyhow!("migrations failed: {error}"))
}

/// True when the database answers and every embedded migration is applied.
pub async fn is_ready(pool: &PgPool) -> bool {
    let applied: Result<Vec<i64>, _> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await;
    match applied {
        Ok(applied) => MIGRATOR
            .iter()
            .filter(|migration| !migration.migration_type.is_down_migration())
            .all(|migration| applied.contains(&migration.version)),
        Err(_) => false,
    }
}

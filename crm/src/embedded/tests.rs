//! The whole module against a real server: what the unit tests next to each
//! part cannot show is that start, stop and restart work together.

use std::fs;

use anyhow::Result;
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::EmbeddedPostgres;

/// Needs the PostgreSQL server binaries; run with
/// `cargo test -p crm embedded -- --ignored`.
#[tokio::test]
#[ignore = "starts a real PostgreSQL server"]
async fn starts_stops_and_restarts_a_real_server() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("crm-embedded-{}", uuid::Uuid::new_v4()));
    let select_one = |url: String| async move {
        let mut connection = PgConnection::connect(&url).await?;
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut connection)
            .await?;
        connection.close().await?;
        anyhow::Ok(one)
    };

    let first = EmbeddedPostgres::start(&dir).await?;
    let url = first.database_url().to_owned();
    assert!(url.starts_with("postgres://postgres@127.0.0.1:") && url.ends_with("/crm"));
    assert_eq!(select_one(url.clone()).await?, 1);
    first.stop().await?;

    let second = EmbeddedPostgres::start(&dir).await?;
    assert_eq!(second.database_url(), url, "the stored port is reused");
    assert_eq!(select_one(url).await?, 1);
    second.stop().await?;

    fs::remove_dir_all(&dir)?;
    Ok(())
}

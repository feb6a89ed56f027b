//! `crm stream`: a tenant's events as JSON lines on stdout, optionally
//! following new ones, for piping into other tools.

use super::database::with_pool;
use super::shutdown::shutdown_signal;
use crate::config::StreamArgs;

pub(super) async fn stream(args: StreamArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let StreamArgs {
        tenant,
        after,
        follow,
        database,
    } = args;
    with_pool(&database, |pool, data_keys| async move {
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
        listener.listen("crm_events").await?;
        let mut after = after;
        let mut out = std::io::BufWriter::new(std::io::stdout());
        let interrupted = shutdown_signal();
        tokio::pin!(interrupted);
        loop {
            let events = query::stream::read(&pool, &data_keys, tenant, after, 1_000).await?;
            for event in &events {
                serde_json::to_writer(&mut out, event)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            match events.last() {
                Some(last) => after = last.position,
                None if !follow => return Ok(()),
                None => {
                    tokio::select! {
                        () = &mut interrupted => return Ok(()),
                        _ = listener.recv() => {}
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    })
    .await
}

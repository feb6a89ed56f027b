//! `crm relay`: publishes the event log to Kafka, either until it is caught up
//! (a one-off export or a benchmark) or until told to stop.

use anyhow::Context;
use tokio::sync::watch;

use super::database::with_pool;
use super::shutdown::shutdown_signal;
use super::throughput::report_rate;
use crate::config::RelayArgs;

pub(super) async fn relay_command(args: RelayArgs) -> anyhow::Result<()> {
    let config = args
        .kafka
        .relay()
        .context("KAFKA_BROKERS (or --kafka-brokers) is required for `crm relay`")?;
    if args.until_caught_up {
        return with_pool(&args.database, |pool, _data_keys| async move {
            let started = std::time::Instant::now();
            let relayed = relay::catch_up(pool, config).await?;
            report_rate("relayed", relayed as u64, started, None);
            Ok(())
        })
        .await;
    }
    with_pool(&args.database, |pool, _data_keys| async move {
        let (stop, stopped) = watch::channel(false);
        let relay = tokio::spawn(relay::run(
            pool,
            config,
            relay::RelayHealth::default(),
            stopped,
        ));
        shutdown_signal().await;
        let _ = stop.send(true);
        relay.await.context("the relay task failed")?;
        Ok(())
    })
    .await
}

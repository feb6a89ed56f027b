//! What watches the events become visible while the load runs: the
//! checkpoint poller, and with `--kafka-brokers` the topic consumer (and with
//! `--kafka-group` the poller of the Kafka-fed projector's offsets).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::Cli;
use crate::kafka;
use crate::poller::{poll_checkpoints, Observation};

/// The running watchers.
pub struct Watchers {
    stop_polling: watch::Sender<bool>,
    latest: watch::Receiver<Option<Observation>>,
    poller: JoinHandle<anyhow::Result<Vec<Observation>>>,
    stop_consuming: Arc<AtomicBool>,
    topic_watch: Option<(kafka::Arrivals, std::thread::JoinHandle<anyhow::Result<()>>)>,
    latest_offsets: watch::Receiver<Option<kafka::OffsetObservation>>,
    offsets_poller: Option<JoinHandle<anyhow::Result<Vec<kafka::OffsetObservation>>>>,
}

/// What the watchers saw, once stopped.
pub struct Seen {
    pub observations: Vec<Observation>,
    /// With `--kafka-group`: every poll of the group's offsets.
    pub offsets: Option<Vec<kafka::OffsetObservation>>,
    /// With `--kafka-brokers`: each event's arrival on the topic.
    pub arrivals: Option<HashMap<i64, kafka::Arrival>>,
}

impl Watchers {
    /// Starts the watchers, each on its own database connection.
    pub async fn start(cli: &Cli, options: &PgConnectOptions) -> anyhow::Result<Watchers> {
        let poll_connection = PgConnection::connect_with(options)
            .await
            .context("connecting the checkpoint poller")?;
        let (stop_polling, polling) = watch::channel(false);
        let (latest_tx, latest) = watch::channel::<Option<Observation>>(None);
        let poller = tokio::spawn(poll_checkpoints(
            poll_connection,
            cli.poll,
            polling,
            latest_tx,
        ));

        let stop_consuming = Arc::new(AtomicBool::new(false));
        let topic_watch = match &cli.kafka_brokers {
            Some(brokers) => Some(kafka::watch_topic(
                brokers,
                &cli.kafka_topic,
                Arc::clone(&stop_consuming),
            )?),
            None => None,
        };
        let (latest_offsets_tx, latest_offsets) =
            watch::channel::<Option<kafka::OffsetObservation>>(None);
        let offsets_poller = match &cli.kafka_group {
            Some(group) => Some(tokio::spawn(kafka::poll_offsets(
                PgConnection::connect_with(options)
                    .await
                    .context("connecting the offsets poller")?,
                group.clone(),
                cli.kafka_topic.clone(),
                cli.poll,
                stop_polling.subscribe(),
                latest_offsets_tx,
            ))),
            None => None,
        };
        Ok(Watchers {
            stop_polling,
            latest,
            poller,
            stop_consuming,
            topic_watch,
            latest_offsets,
            offsets_poller,
        })
    }

    /// Waits, for at most `--settle`, until the events at `positions` (whose
    /// transactions are `tx_of`) are visible everywhere the probe times them:
    /// both checkpoints (unless `--kafka-group`), the topic (with
    /// `--kafka-brokers`), the group's offsets (with `--kafka-group`).
    /// Whether they all became visible.
    pub async fn settle(
        &mut self,
        cli: &Cli,
        positions: &[i64],
        tx_of: &HashMap<i64, u64>,
    ) -> bool {
        let furthest = positions
            .iter()
            .filter_map(|position| tx_of.get(position).map(|tx| (*tx, *position)))
            .max();
        let settle_deadline = Instant::now() + cli.settle;
        let Some(furthest) = furthest else {
            return true;
        };
        loop {
            let checkpoints = cli.kafka_group.is_some()
                || self
                    .latest
                    .borrow()
                    .is_some_and(|seen| seen.customers >= furthest && seen.timeline >= furthest);
            let arrived = self.topic_watch.as_ref().is_none_or(|(arrivals, _)| {
                arrivals
                    .lock()
                    .is_ok_and(|arrivals| positions.iter().all(|p| arrivals.contains_key(p)))
            });
            let applied = cli.kafka_group.is_none()
                || self.topic_watch.as_ref().is_some_and(|(arrivals, _)| {
                    let observation = self.latest_offsets.borrow();
                    arrivals.lock().is_ok_and(|arrivals| {
                        observation.as_ref().is_some_and(|observation| {
                            positions.iter().all(|p| {
                                arrivals
                                    .get(p)
                                    .is_some_and(|arrival| observation.covers(arrival))
                            })
                        })
                    })
                });
            if checkpoints && arrived && applied {
                return true;
            }
            if Instant::now() >= settle_deadline {
                return false;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), self.latest.changed()).await;
        }
    }

    /// Stops the watchers and returns what they saw.
    pub async fn finish(self) -> anyhow::Result<Seen> {
        let _ = self.stop_polling.send(true);
        let observations = self
            .poller
            .await
            .context("the checkpoint poller panicked")?
            .context("polling the checkpoints")?;
        let offsets = match self.offsets_poller {
            Some(poller) => Some(
                poller
                    .await
                    .context("the offsets poller panicked")?
                    .context("polling kafka_offsets")?,
            ),
            None => None,
        };
        self.stop_consuming.store(true, Ordering::Release);
        let arrivals = match self.topic_watch {
            Some((arrivals, thread)) => {
                thread
                    .join()
                    .map_err(|_| anyhow::anyhow!("the Kafka consumer thread panicked"))??;
                let arrivals = arrivals
                    .lock()
                    .map_err(|_| anyhow::anyhow!("the arrivals lock is poisoned"))?
                    .clone();
                Some(arrivals)
            }
            None => None,
        };
        Ok(Seen {
            observations,
            offsets,
            arrivals,
        })
    }
}

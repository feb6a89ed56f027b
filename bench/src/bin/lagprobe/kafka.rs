//! The Kafka side of the lag probe: when each event arrives on the topic
//! (command → Kafka), and when a Kafka-fed projector's stored offsets cover it
//! (command → read model through Kafka).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgConnection;
use tokio::sync::watch;

use crate::poller::Ticker;

/// Where and when an event arrived on the topic (first copy).
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub partition: i32,
    pub offset: i64,
    pub at: Instant,
}

/// Arrivals by the event's global position, filled by a consumer thread.
pub type Arrivals = Arc<Mutex<HashMap<i64, Arrival>>>;

/// Starts a consumer positioned at the current end of every partition (so
/// only new events are timed) on its own thread; it runs until `stop`.
pub fn watch_topic(
    brokers: &str,
    topic: &str,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(Arrivals, std::thread::JoinHandle<anyhow::Result<()>>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("lagprobe-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()
        .context("creating the Kafka consumer")?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .context("reading the topic's metadata")?;
    let mut list = TopicPartitionList::new();
    for partition in metadata
        .topics()
        .iter()
        .flat_map(|found| found.partitions().iter().map(|p| p.id()))
    {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .context("reading the watermarks")?;
        list.add_partition_offset(topic, partition, Offset::Offset(high))?;
    }
    if list.count() == 0 {
        anyhow::bail!("topic {topic} has no partitions (is the relay running?)");
    }
    consumer.assign(&list).context("assigning the partitions")?;
    let arrivals: Arrivals = Arc::default();
    let filled = Arc::clone(&arrivals);
    let handle = std::thread::spawn(move || {
        while !stop.load(Ordering::Acquire) {
            let Some(message) = consumer.poll(Duration::from_millis(50)) else {
                continue;
            };
            let message = message.context("consuming")?;
            let at = Instant::now();
            let position =
                serde_json::from_slice::<serde_json::Value>(message.payload().unwrap_or_default())
                    .ok()
                    .and_then(|value| value["position"].as_i64());
            if let Some(position) = position {
                if let Ok(mut arrivals) = filled.lock() {
                    arrivals.entry(position).or_insert(Arrival {
                        partition: message.partition(),
                        offset: message.offset(),
                        at,
                    });
                }
            }
        }
        Ok(())
    });
    Ok((arrivals, handle))
}

/// One poll of a consumer group's stored offsets (`kafka_offsets`).
#[derive(Debug, Clone)]
pub struct OffsetObservation {
    pub at: Instant,
    pub next: BTreeMap<i32, i64>,
}

impl OffsetObservation {
    pub fn covers(&self, arrival: &Arrival) -> bool {
        self.next
            .get(&arrival.partition)
            .is_some_and(|next| *next > arrival.offset)
    }
}

/// Polls the group's offsets every `every` until `stop`; the latest goes to `latest`.
pub async fn poll_offsets(
    mut connection: PgConnection,
    group: String,
    topic: String,
    every: Duration,
    stop: watch::Receiver<bool>,
    latest: watch::Sender<Option<OffsetObservation>>,
) -> anyhow::Result<Vec<OffsetObservation>> {
    let mut observations = Vec::with_capacity(16_384);
    let mut ticker = Ticker::new(every, stop);
    while ticker.tick().await {
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT partition, next_offset FROM kafka_offsets WHERE consumer_group = $1 AND topic = $2",
        )
        .bind(&group)
        .bind(&topic)
        .fetch_all(&mut connection)
        .await
        .context("reading kafka_offsets")?;
        let observation = OffsetObservation {
            at: Instant::now(),
            next: rows.into_iter().collect(),
        };
        let _ = latest.send(Some(observation.clone()));
        observations.push(observation);
    }
    Ok(observations)
}

/// The first poll at or after `t0` whose offsets cover `arrival`.
pub fn applied_at(
    observations: &[OffsetObservation],
    t0: Instant,
    arrival: &Arrival,
) -> Option<Instant> {
    let from = observations.partition_point(|observation| observation.at < t0);
    let later = &observations[from..];
    // Offsets only move forward, so the covering polls form a suffix.
    let first = later.partition_point(|observation| !observation.covers(arrival));
    later.get(first).map(|observation| observation.at)
}

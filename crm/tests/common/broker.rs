//! A real Kafka-protocol broker for tests: `tansu` (docs/design.md §7), one
//! process per test on a free port, in-memory storage. `scripts/test`
//! installs it; a missing binary fails the test with the install command.
//! Also what the relay tests check of the topic against the store.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use relay::DEFAULT_TOPIC;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

pub struct Broker {
    child: Option<Child>,
    pub port: u16,
}

fn tansu() -> PathBuf {
    if let Ok(path) = std::env::var("TANSU") {
        return PathBuf::from(path);
    }
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let installed = home.join("bin").join("tansu");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("tansu")
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

impl Broker {
    pub fn start() -> Broker {
        let mut broker = Broker {
            child: None,
            port: free_port(),
        };
        broker.resume();
        broker
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker (again) on its port; an in-memory broker starts empty.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu())
            .args([
                "broker",
                "--storage-engine",
                "memory://tansu/",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start tansu ({error}); install it with \
                     `cargo install tansu --version 0.6.0 --locked --features dynostore` \
                     (scripts/test does) or set TANSU to its path"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the broker process.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A message as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: Value,
}

/// Every message on `topic` from the beginning, each partition in offset
/// order: reads until `complete` holds for what arrived, then until nothing
/// new comes for a second (so extra copies show too). It does not trust the
/// high watermarks: tansu 0.6.0 reports a partition's as its last record
/// batch's base offset + 1.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    complete: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-reader-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut list = TopicPartitionList::new();
    for partition in metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
    {
        list.add_partition_offset(topic, partition, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&list).expect("assign");
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_since: Option<Instant> = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "topic {topic}: only {} messages arrived",
            received.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(message) => {
                let message = message.expect("message");
                let value: Value = serde_json::from_slice(message.payload().unwrap_or_default())
                    .expect("JSON value");
                received.push(Received {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                    value,
                });
                quiet_since = None;
            }
            None if complete(&received) => {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(1) {
                    return received;
                }
            }
            None => {}
        }
    }
}

/// Whether the relay's checkpoint has passed the newest event in the store.
pub async fn relayed_everything(pool: &PgPool) -> bool {
    sqlx::query_scalar::<_, Option<bool>>(
        "SELECT (e.tx, e.global_position) <= (c.tx, c.position)
           FROM events e, relay_checkpoints c
          WHERE c.topic = $1 AND e.global_position = (SELECT max(global_position) FROM events)",
    )
    .bind(DEFAULT_TOPIC)
    .fetch_optional(pool)
    .await
    .expect("relay checkpoint")
    .flatten()
    .unwrap_or(false)
}

pub async fn wait_until_relayed(pool: &PgPool, within: Duration) {
    let deadline = Instant::now() + within;
    while !relayed_everything(pool).await {
        assert!(Instant::now() < deadline, "the relay did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The store's events: id → (customer, sequence, position, hash).
pub async fn stored_events(pool: &PgPool) -> HashMap<Uuid, (String, i64, i64, String)> {
    let rows: Vec<(Uuid, String, i64, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT event_id, aggregate_id, sequence, global_position, hash FROM events",
    )
    .fetch_all(pool)
    .await
    .expect("events");
    rows.into_iter()
        .map(|(id, customer, sequence, position, hash)| {
            (id, (customer, sequence, position, hex::encode(hash)))
        })
        .collect()
}

pub fn event_id(message: &Received) -> Uuid {
    message.value["id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .expect("an event id")
}

/// At-least-once, in order: every copy of an id is identical, and per key
/// the first copies arrive in sequence order, on one partition.
pub fn assert_ordered_with_only_redeliveries(messages: &[Received]) {
    let mut first_copy: HashMap<Uuid, &Value> = HashMap::new();
    let mut last_sequence: HashMap<&str, i64> = HashMap::new();
    let mut partition_of: HashMap<&str, i32> = HashMap::new();
    for message in messages {
        let id = event_id(message);
        assert_eq!(
            *partition_of
                .entry(&message.key)
                .or_insert(message.partition),
            message.partition,
            "one partition per customer"
        );
        if let Some(earlier) = first_copy.get(&id) {
            assert_eq!(*earlier, &message.value, "a duplicate is the same event");
            continue;
        }
        first_copy.insert(id, &message.value);
        let sequence = message.value["sequence"].as_i64().expect("sequence");
        let previous = last_sequence.insert(&message.key, sequence).unwrap_or(0);
        assert!(
            sequence > previous,
            "customer {} got sequence {sequence} after {previous}",
            message.key
        );
    }
}

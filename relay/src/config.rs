//! Where and how to relay: the topic's defaults, [`RelayConfig`], and the
//! client settings every Kafka client of the relay shares. Kept apart so the
//! crm's command line can build a configuration without the relay's machinery.

use std::time::Duration;

use rdkafka::config::ClientConfig;

/// The topic analysts and Kafka-fed projectors read.
pub const DEFAULT_TOPIC: &str = "crm.events.v1";
pub const DEFAULT_PARTITIONS: i32 = 6;
/// Events read, produced and checkpointed together.
pub const DEFAULT_BATCH: i64 = 5_000;

/// Where and how to relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Kafka bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    pub topic: String,
    /// Partitions of the topic when the relay creates it.
    pub partitions: i32,
    /// Replication factor of the topic when the relay creates it.
    pub replication: i32,
    pub batch: i64,
    /// How long the producer keeps trying one event before the batch fails.
    pub delivery_timeout: Duration,
    /// The largest message the producer sends (`message.max.bytes`); larger
    /// events are dead-lettered.
    pub max_message_bytes: usize,
}

impl RelayConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        RelayConfig {
            brokers: brokers.into(),
            topic: DEFAULT_TOPIC.to_owned(),
            partitions: DEFAULT_PARTITIONS,
            replication: 1,
            batch: DEFAULT_BATCH,
            delivery_timeout: Duration::from_secs(10),
            max_message_bytes: 1_000_000,
        }
    }
}

pub(crate) fn client_config(config: &RelayConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "crm-relay");
    client
}

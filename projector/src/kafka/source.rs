//! Which topic and consumer group a Kafka-fed projector reads, where a member
//! starts a partition it is assigned ([`Resume`]), and the consumer built
//! from that.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;

pub const DEFAULT_GROUP: &str = "crm-projector";

/// Where a member starts reading a partition it is assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resume {
    /// At the group's committed offset (committed after each batch).
    #[default]
    Committed,
    /// At the partition's first message, every time (nothing is committed to
    /// Kafka; use a group that never ran with `Committed`).
    Beginning,
}

#[derive(Debug, Clone)]
pub struct KafkaSource {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    /// Messages applied together in one transaction, at most.
    pub batch: usize,
    pub resume: Resume,
}

impl KafkaSource {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSource {
            brokers: brokers.into(),
            topic: topic.into(),
            group: DEFAULT_GROUP.to_owned(),
            batch: 1_000,
            resume: Resume::default(),
        }
    }

    pub(super) fn consumer(&self) -> Result<StreamConsumer, KafkaError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            .set("client.id", "crm-projector")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()?;
        consumer.subscribe(&[&self.topic])?;
        Ok(consumer)
    }
}

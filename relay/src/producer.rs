//! The [`Relay`] itself: the pool it reads, its configuration and the
//! idempotent producer (`acks=all`) it sends with, plus the topic it creates.
//! Reading, sending, checkpointing and settling refusals are further
//! `impl Relay` blocks in their own modules.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, Producer};
use sqlx::PgPool;

use crate::config::{client_config, RelayConfig};
use crate::error::RelayError;
use crate::lease::Fence;

const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Relay {
    pub(crate) pool: PgPool,
    pub(crate) config: RelayConfig,
    pub(crate) producer: FutureProducer,
    /// While set, checkpoint commits succeed only while the lease is held.
    pub(crate) fence: Option<Fence>,
    /// Events this relay handed to the producer (shared with `RelayHealth`).
    pub(crate) published: Arc<AtomicU64>,
}

impl Relay {
    /// A relay with its producer; nothing is contacted until the first batch.
    pub fn new(pool: PgPool, config: RelayConfig) -> Result<Self, RelayError> {
        let producer = client_config(&config)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set(
                "message.timeout.ms",
                config.delivery_timeout.as_millis().to_string(),
            )
            .set("message.max.bytes", config.max_message_bytes.to_string())
            .create()?;
        Ok(Relay {
            pool,
            config,
            producer,
            fence: None,
            published: Arc::default(),
        })
    }

    /// Makes every checkpoint commit check `fence` first (`None`: unfenced,
    /// for a relay that is alone by construction, as in tests).
    pub fn fenced_by(&mut self, fence: Option<Fence>) {
        self.fence = fence;
    }

    /// Events this relay has handed to the producer since it was created.
    pub fn published(&self) -> u64 {
        self.published.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Creates the topic unless it exists.
    pub async fn ensure_topic(&self) -> Result<(), RelayError> {
        let admin: AdminClient<DefaultClientContext> = client_config(&self.config).create()?;
        let topic = NewTopic::new(
            &self.config.topic,
            self.config.partitions,
            TopicReplication::Fixed(self.config.replication),
        );
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        let results = admin.create_topics([&topic], &options).await?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(RelayError::Topic {
                        topic,
                        reason: code.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// This relay's name in `dead_letters`.
    pub fn consumer(&self) -> String {
        format!("relay:{}", self.config.topic)
    }

    /// A producer error that makes it unusable (then a new one is needed).
    pub(crate) fn fatal_error(&self) -> Option<String> {
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code}: {reason}"))
    }
}

//! How relaying fails, and which broker refusals are about the message
//! itself (so sending it again cannot help) rather than the broker's state.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use store::source::Checkpoint;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {topic}: {reason}")]
    Topic { topic: String, reason: String },
    #[error("event at position {} was not delivered: {reason}", .failed.position)]
    Delivery {
        /// The first event of the batch the broker did not take.
        failed: Checkpoint,
        /// Events before it were confirmed: how many, and up to where.
        confirmed: Option<(Checkpoint, usize)>,
        reason: String,
        /// The broker refused this message for what it is (too large, invalid),
        /// so sending it again cannot help: see [`is_message_error`].
        poison: bool,
    },
    #[error("event at position {position} cannot be encoded: {reason}")]
    Encode { position: i64, reason: String },
    /// A fenced checkpoint commit found the relay lease gone (its session
    /// ended): another instance may be publishing, so this one stands by.
    #[error("the relay lease for topic {topic} was lost")]
    LeaseLost { topic: String },
    /// `crm relay --until-caught-up` found another relay publishing.
    #[error("another relay holds the lease for topic {topic} (a `crm serve` with KAFKA_BROKERS or a `crm relay`)")]
    LeaseHeld { topic: String },
}

/// Whether the broker (or the producer) refused a message for what it is —
/// too large, invalid — rather than because it is unreachable or busy.
pub fn is_message_error(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::{
        BadMessage, InvalidMessage, InvalidMessageSize, InvalidRecord, MessageSizeTooLarge,
    };
    matches!(
        error.rdkafka_error_code(),
        Some(
            BadMessage | MessageSizeTooLarge | InvalidMessage | InvalidMessageSize | InvalidRecord
        )
    )
}

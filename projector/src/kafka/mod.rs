//! Projections fed from the Kafka topic instead of the store: a member of a
//! consumer group applies the events of the partitions it is assigned, and
//! stores each partition's next offset in PostgreSQL in the same transaction
//! as the read-model changes (exactly-once effect). Redelivered messages
//! (offsets below the stored one, or events a read model already reflects)
//! change nothing. Offsets are also committed to Kafka afterwards, only so a
//! member taking a partition over starts near the right place
//! ([`Resume::Committed`]); with [`Resume::Beginning`] nothing is committed to
//! Kafka and every assignment reads the partition from its start, the stored
//! offsets dropping what was applied. That mode exists for brokers that
//! cannot fetch from the middle of a record batch: tansu 0.6.0's fetch skips
//! any batch whose base offset is below the requested offset, so a member
//! resuming mid-batch would wait forever for the batch's remaining records.
//!
//! Layout: `source` (topic, group, [`Resume`]), `message` (decoding a
//! message), `offsets` (stored per partition), `apply` (a batch in one
//! transaction) and `consume` (the loops).

mod apply;
mod consume;
mod message;
mod offsets;
mod source;

pub use apply::apply;
pub use consume::{catch_up, run};
pub use message::{decode, Delivered, Unreadable};
pub use offsets::offsets;
pub use source::{KafkaSource, Resume, DEFAULT_GROUP};

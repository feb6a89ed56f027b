//! The outbox relay: events leave the store for the Kafka topic without a
//! dual write. The store is the outbox; the relay reads it in commit-safe
//! order (`store::source`), produces each event keyed by its customer id
//! with an idempotent producer (`acks=all`), and advances its checkpoint in
//! PostgreSQL only once the broker has confirmed every event of the batch.
//! Delivery is therefore at least once: after a crash or a failed batch the
//! same events (same `id`) are produced again, in the same order.
//!
//! Of several processes on one database only one relays at a time: the
//! holder of the relay lease (`lease`, a PostgreSQL advisory lock on a
//! connection of its own, with every checkpoint commit fenced by it).
//!
//! Layout: `config` (where and how to relay) and `error`; the lease; the [`Relay`] and
//! its producer (`producer`); one `impl Relay` per step of a batch: reading
//! the outbox (`outbox`), sending and confirming (`publish`), the checkpoint
//! (`checkpoint`), events the broker refuses (`refused`) and the batch loop
//! (`batches`); the service loop (`run`) and what the operations endpoints
//! show (`status`).

#![forbid(unsafe_code)]

mod batches;
mod checkpoint;
mod config;
mod error;
mod lease;
mod outbox;
mod producer;
mod publish;
mod refused;
mod run;
mod status;

pub use config::{RelayConfig, DEFAULT_BATCH, DEFAULT_PARTITIONS, DEFAULT_TOPIC};
pub use error::{is_message_error, RelayError};
pub use lease::{Fence, Lease};
pub use outbox::Outgoing;
pub use producer::Relay;
pub use run::{catch_up, run};
pub use status::{status, RelayHealth, RelayRole, RelayStatus};

//! The event store's plumbing, which the write side (`command`), the read
//! side (`projector`, `query`) and the relay all stand on, and which knows
//! nothing of HTTP:
//!
//! - [`source`]: reading the log in commit-safe order, checkpoints, the
//!   stored event rows and the rows that do not decode;
//! - [`chain`]: the per-stream SHA-256 hash chain, recomputed in Rust;
//! - [`data_keys`]: customers' data keys, wrapped by the master key;
//! - [`dead_letters`]: the poison-event policy of every reader of the log.
//!
//! Every aggregate type appends to the one `events` table; readers select
//! the aggregate types they fold (today only `Customer`), so the next
//! aggregates (and their snapshots, should one need them) belong here too.
#![forbid(unsafe_code)]

pub mod chain;
pub mod data_keys;
pub mod dead_letters;
pub mod source;

pub use source::Checkpoint;

//! The event store's plumbing, which the write side (`command`), the read
//! side (`projector`, `query`) and the relay all stand on, and which knows
//! nothing of HTTP:
//!
//! - [`source`]: reading the log in commit-safe order, checkpoints, the
//!   stored event rows and the rows that do not decode;
//! - [`chain`]: the per-stream SHA-256 hash chain, recomputed in Rust;
//! - [`streams`]: loading and appending any aggregate's stream inside the
//!   caller's transaction (the directory's users and teams);
//! - [`data_keys`]: the data keys of the people personal fields describe
//!   (customers, users), wrapped by the master key;
//! - [`dead_letters`]: the poison-event policy of every reader of the log;
//! - [`directory`]: what both sides ask of the directory tables (whose
//!   customers a manager sees);
//! - [`tenant_settings`]: a tenant's settings (its time zone) and the
//!   bounds of its days.
//!
//! Every aggregate type appends to the one `events` table; readers select
//! the aggregate types they fold (the projector and relay: `Customer`), so the next
//! aggregates (and their snapshots, should one need them) belong here too.
#![forbid(unsafe_code)]

pub mod chain;
pub mod data_keys;
pub mod dead_letters;
pub mod directory;
pub mod source;
pub mod streams;
pub mod tenant_settings;

pub use source::Checkpoint;

/// Whether a database failure is the database being out of reach (an
/// exhausted or closed pool, a broken connection) rather than a fault: the one
/// rule for a retryable 503 versus a logged 500, shared by the write side and
/// both APIs.
pub fn database_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

/// The channel on which writers of read models announce, at commit, which
/// tenants' read models changed: tenant ids separated by commas, or `*`.
/// The read cache listens to it.
pub const READ_MODELS_CHANNEL: &str = "crm_read_models";

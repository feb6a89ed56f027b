//! Runs projections: batches in commit-safe order, each applied in one
//! transaction together with its checkpoint (a crash mid-batch loses and
//! doubles nothing); woken by NOTIFY, with a polling fallback; rebuilt from
//! zero into shadow tables that are swapped in atomically.

mod checkpoint;
mod live;
mod poison;
mod projection;
mod rebuild;
mod retry;

pub use crate::copy::Rows;
pub use checkpoint::{has_applied, status, Status, ALL_TENANTS, READ_MODELS_CHANNEL};
pub use live::{catch_up, run, step, Stepped};
pub use projection::{Projection, ProjectorError, LIVE_BATCH, REBUILD_BATCH};
pub use rebuild::{rebuild, rebuild_in_batches};
pub use retry::{retry, Retried};

pub(crate) use checkpoint::{announce_changes, relaxed_durability};
pub(crate) use projection::keys_for;

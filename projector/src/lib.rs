//! The read side's writers: a commit-safe reader of the event store, the
//! projections that fold events into read models, their checkpoints and
//! rebuilds, and the profile formulas the read models are queried with.
#![forbid(unsafe_code)]

mod copy;
pub mod customers;
pub mod kafka;
pub mod profile;
pub mod runner;
pub mod search;
pub mod storable;
pub mod timeline;

pub use runner::Projection;

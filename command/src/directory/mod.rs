//! The tenant's directory on the write side: commands on users and teams,
//! appended with their read model in one transaction.
//!
//! - `service`: load, decide, seal, append, in one transaction;
//! - `model`: the directory tables the events keep current (an inline
//!   projection: see docs/design.md, "People");
//! - `secrets`: what commands store outside the log (password hashes,
//!   WeChat bindings), in the same transaction;
//! - `error`: what a directory command can fail with.

mod error;
mod model;
mod secrets;
pub(crate) mod service;

pub use error::DirectoryError;
pub use model::rebuild;
pub use secrets::UserSecret;
pub use service::{DirectoryService, NewTenant, TenantCreated};

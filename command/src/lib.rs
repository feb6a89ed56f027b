//! The write side: the Customer aggregate, the command service over
//! cqrs-es/postgres-es (event-store mode), idempotency and the command HTTP API.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod http;
pub mod idempotency;
pub mod service;

pub use http::{router, CommandApi};
pub use service::{Accepted, CommandService, RequestContext};

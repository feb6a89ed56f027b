//! The write side: the Customer aggregate, the command service over
//! cqrs-es/postgres-es (event-store mode), idempotency and the command HTTP
//! API; the directory's User and Team aggregates, their service (append and
//! read model in one transaction), passwords and WeChat's code-to-session
//! exchange; the FollowUp aggregate, its service and its completion policy.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod credentials;
pub mod directory;
pub mod follow_up;
pub mod http;
pub mod idempotency;
pub mod service;
pub mod team;
pub mod user;
pub mod wechat;

pub use http::{router, CommandApi};
pub use service::{Accepted, CausedBy, CommandService, RequestContext};

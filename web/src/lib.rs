//! HTTP plumbing shared by the command and query APIs: the problem+json error
//! type, JWT authentication and extractors with problem+json rejections.
#![forbid(unsafe_code)]

pub mod auth;
pub mod extract;
pub mod openapi;
pub mod problem;

pub use auth::{Caller, JwtKeys, Role};
pub use problem::{ApiError, Problem};

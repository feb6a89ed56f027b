//! The event contract of the CRM: value types, the Customer events (v1) and
//! the funnel stages. No I/O lives here.
#![forbid(unsafe_code)]

pub mod customer;
pub mod values;

pub use customer::CustomerEvent;

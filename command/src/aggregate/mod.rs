//! The Customer aggregate: the rules every command must satisfy before it
//! becomes an event.
//!
//! - `commands`: the command, its actor and the actions;
//! - `state`: what the rules know of a customer, folded from its stream, and
//!   the cqrs-es `Aggregate`;
//! - `rules`: the decisions, command by command, and their limits;
//! - `error`: why a command is refused.

mod commands;
mod error;
mod rules;
mod state;

pub use commands::{Action, Actor, CustomerCommand, Registration};
pub use error::CustomerError;
pub use rules::{MAX_FUTURE_SKEW, MAX_TAGS};
pub use state::{Customer, Standing};

//! The User aggregate: a person of the tenant's directory (the people who
//! sign in), and the rules every command on one must satisfy before it
//! becomes an event. Its stream id is a UUID; its login never changes.
//!
//! - `commands`: the command and the actions (the actor is the customer
//!   aggregate's [`Actor`]);
//! - `state`: what the rules know of a user, folded from its stream, and the
//!   cqrs-es `Aggregate`;
//! - `rules`: the decisions, command by command;
//! - `error`: why a command is refused.
//!
//! What the aggregate cannot know, because it sees one user only, the
//! command service checks against the directory: that a login is unique in
//! its tenant, and that at least one active admin remains.

mod commands;
mod error;
mod rules;
mod state;

pub use crate::aggregate::Actor;
pub use commands::{Invitation, ProfileChange, UserAction, UserCommand};
pub use error::UserError;
pub use state::User;

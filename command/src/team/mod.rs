//! The Team aggregate: a group of users of one tenant, some of them its
//! managers, and the rules every command on one must satisfy before it
//! becomes an event. Its stream id is a UUID. Only admins manage teams.
//!
//! - `commands`: the command and the actions (the actor is the customer
//!   aggregate's [`Actor`]);
//! - `state`: what the rules know of a team, folded from its stream, and the
//!   cqrs-es `Aggregate`;
//! - `rules`: the decisions, command by command;
//! - `error`: why a command is refused.
//!
//! A team sees its members' logins only, not the directory: that a login
//! names an active user of the tenant is the command service's check before
//! it adds a member. A team may have no manager (one can be added later).

mod commands;
mod error;
mod rules;
mod state;

pub use crate::aggregate::Actor;
pub use commands::{TeamAction, TeamCommand};
pub use error::TeamError;
pub use events::team::TeamRole;
pub use state::Team;

//! The FollowUp aggregate: a planned activity on a customer (a visit, call,
//! e-mail or meeting) with an assignee, a due time and a reminder, until it
//! is completed or cancelled; its service; and the policy that turns a
//! completed follow-up into the activity on the customer.
//!
//! - `commands`: the command and the actions (the actor is the customer
//!   aggregate's [`Actor`]);
//! - `state`: what the rules know of a follow-up, folded from its stream;
//! - `rules`: the decisions, command by command;
//! - `error`: why a command is refused;
//! - `service`: load, check what only the store knows (the customer, who
//!   may see it, an active assignee), seal, append, and keep the follow-up's
//!   read model and its reminder in the same transaction;
//! - `policy`: a completion logs the activity on the customer exactly once.
//!
//! A follow-up is visible to its assignee, its customer's owner, the
//! managers of either, and the tenant's admins and auditors; to anyone else
//! it looks absent (404).

mod commands;
mod error;
pub mod policy;
mod rules;
mod service;
mod state;

pub use crate::aggregate::Actor;
pub use commands::{FollowUpAction, FollowUpCommand, Plan};
pub use error::FollowUpError;
pub use rules::{DUE_PAST_GRACE, MAX_DUE_AHEAD};
pub use service::{FollowUpFailure, FollowUpService};
pub use state::{FollowUp, Status};

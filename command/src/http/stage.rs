//! `PUT /v1/customers/{id}/stage`: move a customer along the sales funnel.

use web::openapi::{BodyTooLarge, CommandProblems, ExistingCustomerProblems, RuleViolated};

use super::invocation::command_route;
use super::requests::MoveStageRequest;
use crate::service::Accepted;

command_route!(
    /// MoveStage: move the customer along the sales funnel.
    move_stage, put, "/v1/customers/{id}/stage", MoveStageRequest, MoveStageRequest::parse
);

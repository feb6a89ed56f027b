//! `POST /v1/customers/{id}/activities`: record a visit, call, e-mail or meeting.

use web::openapi::{BodyTooLarge, CommandProblems, ExistingCustomerProblems, RuleViolated};

use super::invocation::command_route;
use super::requests::LogActivityRequest;
use crate::service::Accepted;

command_route!(
    /// LogActivity: record a visit, call, e-mail or meeting.
    log_activity, post, "/v1/customers/{id}/activities", LogActivityRequest, LogActivityRequest::parse
);

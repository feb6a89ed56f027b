//! `POST /v1/customers/{id}/purchases`: record an order.

use web::openapi::{BodyTooLarge, CommandProblems, ExistingCustomerProblems, RuleViolated};

use super::invocation::command_route;
use super::requests::RecordPurchaseRequest;
use crate::service::Accepted;

command_route!(
    /// RecordPurchase: record an order.
    record_purchase, post, "/v1/customers/{id}/purchases", RecordPurchaseRequest, RecordPurchaseRequest::parse
);

//! `POST /v1/customers/{id}/tags` and `DELETE /v1/customers/{id}/tags/{tag}`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use uuid::Uuid;
use web::extract::Path;
use web::openapi::{BodyTooLarge, CommandProblems, ExistingCustomerProblems, RuleViolated};
use web::{ApiError, Caller};

use super::invocation::{command_route, Invocation};
use super::requests::TagRequest;
use super::{CommandApi, WRITERS};
use crate::service::Accepted;

command_route!(
    /// Tag the customer (an existing tag changes nothing).
    tag_customer, post, "/v1/customers/{id}/tags", TagRequest, TagRequest::tag
);

#[utoipa::path(
    delete, path = "/v1/customers/{id}/tags/{tag}", tag = "commands",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("tag" = String, Path, description = "The tag to remove"),
        ("If-Match" = Option<String>, Header, description = "Expected version"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 200, description = "Accepted (a missing tag changes nothing)", body = Accepted),
        CommandProblems,
        ExistingCustomerProblems,
        RuleViolated,
    ),
    security(("bearer" = []))
)]
pub(super) async fn untag_customer(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path((customer_id, tag)): Path<(Uuid, String)>,
) -> Result<Response, ApiError> {
    caller.require(WRITERS)?;
    let body = TagRequest::named(tag);
    Invocation {
        api: &api,
        caller,
        headers: &headers,
        route: "untag_customer",
        path_id: Some(customer_id),
        body: &body,
        success: StatusCode::OK,
    }
    .run(|| body.untag())
    .await
}

//! The customer itself: `POST /v1/customers` registers one; `PATCH`, `DELETE`,
//! `PUT .../owner` and `POST .../forget` update, archive, assign and forget it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use uuid::Uuid;
use web::extract::{FreeTextQuery, Json, Path, Query};
use web::openapi::{BodyTooLarge, CommandProblems, ExistingCustomerProblems, RuleViolated};
use web::{ApiError, Caller, Problem};

use super::invocation::{command_route, Invocation};
use super::requests::{
    ArchiveParams, AssignRequest, ForgetRequest, RegisterCustomerRequest, UpdateProfileRequest,
};
use super::{CommandApi, WRITERS};
use crate::service::Accepted;

#[utoipa::path(
    post, path = "/v1/customers", tag = "commands",
    operation_id = "register_customer",
    request_body = RegisterCustomerRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 201, description = "Registered", body = Accepted),
        CommandProblems,
        BodyTooLarge,
        RuleViolated,
    ),
    security(("bearer" = []))
)]
pub(super) async fn register_customer(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<RegisterCustomerRequest>,
) -> Result<Response, ApiError> {
    caller.require(WRITERS)?;
    Invocation {
        api: &api,
        caller,
        headers: &headers,
        route: "register_customer",
        path_id: None,
        body: &body,
        success: StatusCode::CREATED,
    }
    .run(|| body.parse())
    .await
}

command_route!(
    /// UpdateProfile: change profile fields.
    update_profile, patch, "/v1/customers/{id}", UpdateProfileRequest, UpdateProfileRequest::parse
);
command_route!(
    /// Assign: give the customer to another owner (manager, admin).
    assign_customer, put, "/v1/customers/{id}/owner", AssignRequest, AssignRequest::parse
);
command_route!(
    /// Erase the customer's personal data by destroying its data key (admin only);
    /// every other fact stays. Repeating it changes nothing.
    forget_customer, post, "/v1/customers/{id}/forget", ForgetRequest, ForgetRequest::parse
);

#[utoipa::path(
    delete, path = "/v1/customers/{id}", tag = "commands",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ArchiveParams,
        ("If-Match" = Option<String>, Header, description = "Expected version"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 200, description = "Archived", body = Accepted),
        CommandProblems,
        ExistingCustomerProblems,
        (status = 422, description = "Already archived", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn archive_customer(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path(customer_id): Path<Uuid>,
    Query(params): FreeTextQuery<ArchiveParams>,
) -> Result<Response, ApiError> {
    caller.require(WRITERS)?;
    Invocation {
        api: &api,
        caller,
        headers: &headers,
        route: "archive_customer",
        path_id: Some(customer_id),
        body: &params,
        success: StatusCode::OK,
    }
    .run(|| params.parse())
    .await
}

//! An admin's commands on an existing user: role, profile (also the user's
//! own), deactivate, reactivate, forget.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use web::extract::{Json, Path};
use web::openapi::{BodyTooLarge, CommandProblems, RuleViolated};
use web::{ApiError, Caller};

use events::values::{DisplayName, Email, Phone, TextField};
use events::Role;

use super::fields::Fields;
use super::users::run_user_action;
use super::CommandApi;
use crate::service::Accepted;
use crate::user::{ProfileChange, UserAction};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    role: Role,
}

#[utoipa::path(
    put, path = "/v1/users/{id}/role", tag = "directory",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = ChangeRoleRequest,
    responses((status = 200, description = "Accepted", body = Accepted), CommandProblems, RuleViolated),
    security(("bearer" = []))
)]
pub(super) async fn change_role(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path(user_id): Path<Uuid>,
    Json(body): Json<ChangeRoleRequest>,
) -> Result<Response, ApiError> {
    let action = UserAction::ChangeRole { role: body.role };
    run_user_action(
        &api,
        caller,
        &headers,
        "change_role",
        user_id,
        &body,
        action,
    )
    .await
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeUserProfileRequest {
    /// 1–50 characters; cannot be cleared.
    #[schema(min_length = 1, max_length = 50)]
    display_name: Option<String>,
    /// `null` clears it.
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
}

impl ChangeUserProfileRequest {
    fn parse(&self) -> Result<ProfileChange, ApiError> {
        let mut f = Fields::default();
        let display_name = f.optional(
            "display_name",
            self.display_name.as_deref(),
            DisplayName::parse,
        );
        let phone = match &self.phone {
            Some(Some(raw)) => f.check("phone", Phone::parse(raw)).map(Some),
            Some(None) => Some(None),
            None => None,
        };
        let email = match &self.email {
            Some(Some(raw)) => f.check("email", Email::parse(raw)).map(Some),
            Some(None) => Some(None),
            None => None,
        };
        f.finish(|| {
            Some(ProfileChange {
                display_name,
                phone,
                email,
            })
        })
    }
}

#[utoipa::path(
    patch, path = "/v1/users/{id}", tag = "directory",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = ChangeUserProfileRequest,
    responses((status = 200, description = "Accepted", body = Accepted), CommandProblems, BodyTooLarge, RuleViolated),
    security(("bearer" = []))
)]
pub(super) async fn change_user_profile(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path(user_id): Path<Uuid>,
    Json(body): Json<ChangeUserProfileRequest>,
) -> Result<Response, ApiError> {
    let action = UserAction::ChangeProfile(body.parse()?);
    run_user_action(
        &api,
        caller,
        &headers,
        "change_user_profile",
        user_id,
        &body,
        action,
    )
    .await
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// At most 500 characters, line breaks allowed. Required to forget.
    #[schema(min_length = 1, max_length = 500)]
    reason: Option<String>,
}

impl ReasonRequest {
    fn reason(&self) -> Result<Option<events::values::ShortText>, ApiError> {
        let mut f = Fields::default();
        let reason = f.text(TextField::REASON, self.reason.as_deref());
        f.finish(|| Some(reason))
    }
}

#[utoipa::path(
    post, path = "/v1/users/{id}/deactivate", tag = "directory",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = ReasonRequest,
    responses((status = 200, description = "Accepted (the user can no longer sign in; its customers stay its own)", body = Accepted), CommandProblems, RuleViolated),
    security(("bearer" = []))
)]
pub(super) async fn deactivate_user(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path(user_id): Path<Uuid>,
    Json(body): Json<ReasonRequest>,
) -> Result<Response, ApiError> {
    let action = UserAction::Deactivate {
        reason: body.reason()?,
    };
    run_user_action(
        &api,
        caller,
        &headers,
        "deactivate_user",
        user_id,
        &body,
        action,
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/users/{id}/reactivate", tag = "directory",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses((status = 200, description = "Accepted", body = Accepted), CommandProblems, RuleViolated),
    security(("bearer" = []))
)]
pub(super) async fn reactivate_user(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path(user_id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let action = UserAction::Reactivate;
    run_user_action(
        &api,
        caller,
        &headers,
        "reactivate_user",
        user_id,
        &(),
        action,
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/users/{id}/forget", tag = "directory",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = ReasonRequest,
    responses((status = 200, description = "Personal data erased (deactivated users only)", body = Accepted), CommandProblems, RuleViolated),
    security(("bearer" = []))
)]
pub(super) async fn forget_user(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path(user_id): Path<Uuid>,
    Json(body): Json<ReasonRequest>,
) -> Result<Response, ApiError> {
    let reason = body
        .reason()?
        .ok_or_else(|| ApiError::field("reason", "erasing personal data needs a reason"))?;
    let action = UserAction::Forget { reason };
    run_user_action(
        &api,
        caller,
        &headers,
        "forget_user",
        user_id,
        &body,
        action,
    )
    .await
}

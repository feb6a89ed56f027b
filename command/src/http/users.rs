//! The tenant's users: `POST /v1/users` invites one (admin), and the admin's
//! commands on a user; `POST /v1/me/password` changes one's own password.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use web::extract::{Json, Path};
use web::openapi::{BodyTooLarge, CommandProblems, RuleViolated};
use web::{ApiError, Caller};

use events::values::{DisplayName, Email, Phone, UserId};
use events::Role;

use super::directory_error::directory_error;
use super::fields::Fields;
use super::invocation::Invocation;
use super::CommandApi;
use crate::credentials::{Password, PasswordHash};
use crate::service::Accepted;
use crate::user::{Invitation, UserAction, UserCommand};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteUserRequest {
    /// The name the user signs in with, unique in the tenant and never
    /// changed: 1–64 characters, one line. Not a person's name or phone:
    /// the log keeps it for ever.
    #[schema(min_length = 1, max_length = 64)]
    login: String,
    /// 1–50 characters.
    #[schema(min_length = 1, max_length = 50)]
    display_name: String,
    phone: Option<String>,
    email: Option<String>,
    role: Role,
}

impl InviteUserRequest {
    fn parse(&self) -> Result<Invitation, ApiError> {
        let mut f = Fields::default();
        let login = f.check("login", UserId::parse(&self.login));
        let display_name = f.check("display_name", DisplayName::parse(&self.display_name));
        let phone = f.optional("phone", self.phone.as_deref(), Phone::parse);
        let email = f.optional("email", self.email.as_deref(), Email::parse);
        f.finish(|| {
            Some(Invitation {
                login: login?,
                display_name: display_name?,
                phone,
                email,
                role: self.role,
            })
        })
    }
}

/// An invitation's or a reset's answer: the one-time password, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WithOneTimePassword {
    #[serde(flatten)]
    accepted: Accepted,
    /// Pass it to the user, who should change it after signing in. It is
    /// not stored in clear anywhere, and a replayed request does not show it
    /// again: reset the password instead.
    one_time_password: String,
}

#[utoipa::path(
    post, path = "/v1/users", tag = "directory",
    request_body = InviteUserRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, description = "Invited", body = WithOneTimePassword),
        CommandProblems,
        BodyTooLarge,
        RuleViolated,
    ),
    security(("bearer" = []))
)]
pub(super) async fn invite_user(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<InviteUserRequest>,
) -> Result<Response, ApiError> {
    // Before hashing: a hash costs 19 MiB and tens of milliseconds.
    caller.require(&[Role::Admin])?;
    let invitation = body.parse()?;
    let password = Password::one_time();
    let hash = PasswordHash::of(&password)
        .await
        .map_err(ApiError::internal)?;
    let user_id = Uuid::now_v7();
    with_password(
        &api,
        caller,
        &headers,
        "invite_user",
        None,
        &body,
        StatusCode::CREATED,
        UserAction::Invite(invitation),
        user_id,
        password,
        hash,
    )
    .await
}

#[utoipa::path(
    post, path = "/v1/users/{id}/password-reset", tag = "directory",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 200, description = "A new one-time password", body = WithOneTimePassword),
        CommandProblems,
        RuleViolated,
    ),
    security(("bearer" = []))
)]
pub(super) async fn reset_password(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path(user_id): Path<Uuid>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin])?;
    let password = Password::one_time();
    let hash = PasswordHash::of(&password)
        .await
        .map_err(ApiError::internal)?;
    with_password(
        &api,
        caller,
        &headers,
        "reset_password",
        Some(user_id),
        &(),
        StatusCode::OK,
        UserAction::ResetPassword,
        user_id,
        password,
        hash,
    )
    .await
}

/// Runs a command that sets a one-time password, and shows the password
/// once in the answer (a replayed answer does not carry it).
#[allow(clippy::too_many_arguments)]
async fn with_password<B: Serialize>(
    api: &CommandApi,
    caller: Caller,
    headers: &HeaderMap,
    route: &'static str,
    path_id: Option<Uuid>,
    body: &B,
    success: StatusCode,
    action: UserAction,
    user_id: Uuid,
    password: Password,
    hash: PasswordHash,
) -> Result<Response, ApiError> {
    let directory = api.directory.clone();
    let mut executed = None;
    let response = Invocation {
        api,
        caller,
        headers,
        route,
        path_id,
        body,
        success,
    }
    .run_with("users", async |actor, context| {
        let command = UserCommand {
            actor,
            expected_version: context.expected_version,
            action,
        };
        let accepted = directory
            .execute_user(user_id, command, &context.request, Some(hash))
            .await
            .map_err(directory_error)?;
        executed = Some(accepted);
        Ok(accepted)
    })
    .await?;
    let Some(accepted) = executed else {
        return Ok(response);
    };
    let mut fresh = (
        response.status(),
        axum::Json(WithOneTimePassword {
            accepted,
            one_time_password: password.reveal().to_owned(),
        }),
    )
        .into_response();
    for name in [axum::http::header::ETAG, axum::http::header::LOCATION] {
        if let Some(value) = response.headers().get(&name) {
            fresh.headers_mut().insert(name, value.clone());
        }
    }
    Ok(fresh)
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(min_length = 1)]
    current_password: String,
    /// 10–128 characters.
    #[schema(min_length = 10, max_length = 128)]
    new_password: String,
}

#[utoipa::path(
    post, path = "/v1/me/password", tag = "directory",
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed", body = Accepted),
        CommandProblems,
        BodyTooLarge,
        RuleViolated,
    ),
    security(("bearer" = []))
)]
pub(super) async fn change_my_password(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<ChangePasswordRequest>,
) -> Result<Response, ApiError> {
    let new_password = Password::parse(&body.new_password)
        .map_err(|error| ApiError::field("new_password", error.0))?;
    let login = UserId::parse(&caller.user_id)
        .map_err(|error| ApiError::Unauthorized(error.to_string()))?;
    let Some((user_id, current)) = api
        .directory
        .credentials(caller.tenant_id, &login)
        .await
        .map_err(directory_error)?
    else {
        return Err(ApiError::NotFound(
            "you are not in the tenant's directory".into(),
        ));
    };
    let matches = current
        .verify(body.current_password.clone())
        .await
        .map_err(ApiError::internal)?;
    if !matches {
        return Err(ApiError::field(
            "current_password",
            "the current password is not right",
        ));
    }
    let hash = PasswordHash::of(&new_password)
        .await
        .map_err(ApiError::internal)?;
    // A password is never recorded as an idempotent request body.
    let fingerprint = ();
    let directory = api.directory.clone();
    Invocation {
        api: &api,
        caller,
        headers: &headers,
        route: "change_my_password",
        path_id: Some(user_id),
        body: &fingerprint,
        success: StatusCode::OK,
    }
    .run_with("users", async |actor, context| {
        let command = UserCommand {
            actor,
            expected_version: context.expected_version,
            action: UserAction::ChangePassword,
        };
        directory
            .execute_user(user_id, command, &context.request, Some(hash))
            .await
            .map_err(directory_error)
    })
    .await
}

/// Runs an admin's (or the user's own) command on an existing user.
pub(super) async fn run_user_action<B: Serialize>(
    api: &CommandApi,
    caller: Caller,
    headers: &HeaderMap,
    route: &'static str,
    user_id: Uuid,
    body: &B,
    action: UserAction,
) -> Result<Response, ApiError> {
    let directory = api.directory.clone();
    Invocation {
        api,
        caller,
        headers,
        route,
        path_id: Some(user_id),
        body,
        success: StatusCode::OK,
    }
    .run_with("users", async |actor, context| {
        let command = UserCommand {
            actor,
            expected_version: context.expected_version,
            action,
        };
        directory
            .execute_user(user_id, command, &context.request, None)
            .await
            .map_err(directory_error)
    })
    .await
}

//! WeChat sign-in for the mini-program. A user signs in with its password
//! once and binds its WeChat account (`PUT /v1/me/wechat` with a `wx.login`
//! code); from then on `POST /v1/auth/wechat` trades a fresh code for the
//! same session a password sign-in opens. `DELETE /v1/me/wechat` unbinds.
//!
//! WeChat's failures are not the caller's: busy, unreachable, slow or
//! garbled answers are a 503 with `Retry-After`, never a 500. A service
//! without an AppID and secret answers 501: this deployment does not offer
//! WeChat sign-in, and retrying would not change that (a 503 would invite
//! the mini-program to retry for ever).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use web::extract::Json;
use web::openapi::{BodyTooLarge, MalformedRequest, RuleViolated};
use web::problem::PROBLEM_JSON;
use web::{ApiError, Caller, Problem};

use events::values::UserId;

use super::auth::{address, session_error};
use super::directory_error::directory_error;
use super::invocation::Invocation;
use super::sessions::Session;
use super::users::run_user_action;
use super::CommandApi;
use crate::directory::UserSecret;
use crate::service::Accepted;
use crate::user::{UserAction, UserCommand};
use crate::wechat::{self, WeChatError};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeChatSignInRequest {
    tenant_id: Uuid,
    /// The code `wx.login` returned: valid once, for five minutes.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[\x21-\x7e]+$")]
    code: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindWeChatRequest {
    /// The code `wx.login` returned: valid once, for five minutes.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[\x21-\x7e]+$")]
    code: String,
}

/// How a failed exchange is answered.
pub(super) fn wechat_error(error: WeChatError) -> ApiError {
    match error {
        WeChatError::InvalidCode => ApiError::Unauthorized(error.to_string()),
        WeChatError::RiskyUser => ApiError::Forbidden(error.to_string()),
        WeChatError::RateLimited => ApiError::TooManyRequests {
            message: error.to_string(),
            retry_after: wechat::RATE_LIMIT_RETRY_AFTER,
        },
        // Logged by the client, with what the operator needs to know.
        WeChatError::Busy
        | WeChatError::Unreachable(_)
        | WeChatError::BadAnswer(_)
        | WeChatError::Refused { .. } => ApiError::Unavailable(
            "WeChat could not check the code just now; retry shortly".to_owned(),
        ),
    }
}

/// Renders the outcome; a 503 says when to retry.
fn answer(outcome: Result<Response, ApiError>) -> Response {
    let error = match outcome {
        Ok(response) => return response,
        Err(error) => error,
    };
    let unavailable = error.status() == StatusCode::SERVICE_UNAVAILABLE;
    let mut response = error.into_response();
    if unavailable {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wechat::RETRY_AFTER.as_secs()),
        );
    }
    response
}

fn not_configured() -> Response {
    let status = StatusCode::NOT_IMPLEMENTED;
    let problem = Problem {
        kind: "https://crm.example/problems/not-configured".to_owned(),
        title: status.canonical_reason().unwrap_or("error").to_owned(),
        status: status.as_u16(),
        detail: "WeChat sign-in is not configured on this service; sign in with a password"
            .to_owned(),
        errors: Default::default(),
    };
    (
        status,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        axum::Json(problem),
    )
        .into_response()
}

fn check_code(code: &str) -> Result<(), ApiError> {
    wechat::plausible_code(code).map_err(|message| ApiError::field("code", message))
}

#[utoipa::path(
    post, path = "/v1/auth/wechat", tag = "auth",
    request_body = WeChatSignInRequest,
    responses(
        (status = 200, description = "Signed in", body = Session),
        MalformedRequest,
        (status = 401, description = "The code is not valid or was used, or no active user of the tenant is bound to the WeChat account (one answer for an unknown tenant, account or a deactivated user)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "WeChat's risk control blocks this account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The code cannot be a wx.login code", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address, or WeChat's limit for the account; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 501, description = "WeChat sign-in is not configured on this service", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "WeChat is busy, unreachable or answered nonsense; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn wechat_sign_in(
    State(api): State<CommandApi>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(body): Json<WeChatSignInRequest>,
) -> Response {
    let Some(client) = api.wechat.as_ref() else {
        return not_configured();
    };
    let outcome = async {
        check_code(&body.code)?;
        let session = api
            .sessions
            .sign_in_wechat(body.tenant_id, &body.code, &address(connection), client)
            .await
            .map_err(session_error)?;
        Ok(axum::Json(session).into_response())
    };
    answer(outcome.await)
}

/// The caller's own user id: only users of the directory have a WeChat
/// binding (a `crm token` login has nothing to bind it to).
async fn my_user_id(api: &CommandApi, caller: &Caller) -> Result<Uuid, ApiError> {
    let login = UserId::parse(&caller.user_id)
        .map_err(|error| ApiError::Unauthorized(error.to_string()))?;
    api.directory
        .user_id(caller.tenant_id, &login)
        .await
        .map_err(directory_error)?
        .ok_or_else(|| ApiError::NotFound("you are not in the tenant's directory".to_owned()))
}

#[utoipa::path(
    put, path = "/v1/me/wechat", tag = "directory",
    request_body = BindWeChatRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 200, description = "Bound (again: another account replaces the first)", body = Accepted),
        MalformedRequest,
        (status = 401, description = "No or bad token, or the code is not valid or was used", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "WeChat's risk control blocks this account", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The caller is not in the tenant's directory", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The WeChat account is bound to another user of the tenant", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        RuleViolated,
        (status = 501, description = "WeChat sign-in is not configured on this service", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "WeChat is busy, unreachable or answered nonsense; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn bind_my_wechat(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<BindWeChatRequest>,
) -> Response {
    let Some(client) = api.wechat.clone() else {
        return not_configured();
    };
    let outcome = async {
        check_code(&body.code)?;
        let user_id = my_user_id(&api, &caller).await?;
        let directory = api.directory.clone();
        Invocation {
            api: &api,
            caller,
            headers: &headers,
            route: "bind_my_wechat",
            path_id: Some(user_id),
            body: &body,
            success: StatusCode::OK,
        }
        // The code is exchanged inside: a replayed request answers as the
        // first did without spending a code WeChat accepts only once.
        .run_with("users", async |actor, context| {
            let identity = client.exchange(&body.code).await.map_err(wechat_error)?;
            let command = UserCommand {
                actor,
                expected_version: context.expected_version,
                action: UserAction::BindWeChat,
            };
            let secret = Some(UserSecret::WeChat(identity));
            directory
                .execute_user_secret(user_id, command, &context.request, secret)
                .await
                .map_err(directory_error)
        })
        .await
    };
    answer(outcome.await)
}

#[utoipa::path(
    delete, path = "/v1/me/wechat", tag = "directory",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 200, description = "Unbound; a user with no binding is answered with its unchanged version", body = Accepted),
        MalformedRequest,
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The caller is not in the tenant's directory", body = Problem, content_type = "application/problem+json"),
        RuleViolated,
    ),
    security(("bearer" = []))
)]
pub(super) async fn unbind_my_wechat(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    // Unbinding needs no word from WeChat: it works when WeChat sign-in is
    // not configured (any more), so a binding can always be removed.
    let outcome = async {
        let user_id = my_user_id(&api, &caller).await?;
        let action = UserAction::UnbindWeChat;
        run_user_action(
            &api,
            caller,
            &headers,
            "unbind_my_wechat",
            user_id,
            &(),
            action,
        )
        .await
    };
    answer(outcome.await)
}

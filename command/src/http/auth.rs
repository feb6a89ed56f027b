//! `POST /v1/auth/login`, `/v1/auth/refresh` and `/v1/auth/logout`: the
//! routes that need no token (with `/v1/auth/wechat`, in `wechat`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json as JsonAnswer;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use web::extract::Json;
use web::openapi::MalformedRequest;
use web::{ApiError, Problem};

use super::sessions::{Session, SessionError};
use super::CommandApi;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    tenant_id: Uuid,
    login: String,
    password: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

pub(super) fn session_error(error: SessionError) -> ApiError {
    match error {
        SessionError::BadCredentials | SessionError::BadRefreshToken | SessionError::NotBound => {
            ApiError::Unauthorized(error.to_string())
        }
        SessionError::WeChat(error) => super::wechat::wechat_error(error),
        SessionError::TooManyAttempts(retry_after) => ApiError::TooManyRequests {
            message: error.to_string(),
            retry_after,
        },
        SessionError::Database(error) => error.into(),
        SessionError::Hash(error) => ApiError::internal(error),
    }
}

/// The client's address, when the server knows it (it does in `crm serve`).
pub(super) fn address(connection: Option<Extension<ConnectInfo<SocketAddr>>>) -> String {
    connection.map_or_else(
        || "unknown".to_owned(),
        |Extension(ConnectInfo(address))| address.ip().to_string(),
    )
}

#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = Session),
        MalformedRequest,
        (status = 401, description = "Wrong tenant, login or password, or a deactivated user (one answer for all)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts for this login or address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn login(
    State(api): State<CommandApi>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(body): Json<LoginRequest>,
) -> Result<JsonAnswer<Session>, ApiError> {
    api.sessions
        .sign_in(
            body.tenant_id,
            &body.login,
            &body.password,
            &address(connection),
        )
        .await
        .map(JsonAnswer)
        .map_err(session_error)
}

#[utoipa::path(
    post, path = "/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the old refresh token no longer works", body = Session),
        MalformedRequest,
        (status = 401, description = "Unknown, expired, revoked or reused refresh token (a reused one revokes its whole session)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn refresh(
    State(api): State<CommandApi>,
    Json(body): Json<RefreshRequest>,
) -> Result<JsonAnswer<Session>, ApiError> {
    api.sessions
        .refresh(&body.refresh_token)
        .await
        .map(JsonAnswer)
        .map_err(session_error)
}

#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out (also when the token was unknown)"),
        MalformedRequest,
    )
)]
pub(super) async fn logout(
    State(api): State<CommandApi>,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    api.sessions
        .sign_out(&body.refresh_token)
        .await
        .map_err(session_error)?;
    Ok(StatusCode::NO_CONTENT)
}

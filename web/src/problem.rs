//! The one error type of the HTTP APIs, rendered as RFC 9457 `application/problem+json`.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use store::database_unavailable;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Field name → messages, for validation failures.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// An error an HTTP handler returns. Client errors carry a message for the
/// caller; internal errors are logged with their context and shown as a bare 500.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Unprocessable {
        message: String,
        errors: FieldErrors,
    },
    /// 429 with `Retry-After` (whole seconds, at least 1).
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0:#}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Field-level messages, present on validation failures.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>)]
    pub errors: FieldErrors,
}

impl ApiError {
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(error.into())
    }

    /// A 422 for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut errors = FieldErrors::new();
        errors.insert(field.to_owned(), vec![message.clone()]);
        ApiError::Unprocessable {
            message: format!("{field}: {message}"),
            errors,
        }
    }

    /// A 422 for a rule that is not about one field.
    pub fn rule(message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            message: message.into(),
            errors: FieldErrors::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let slug = match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed(_) => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed(_) => "precondition-failed",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Unprocessable { .. } => "unprocessable",
            ApiError::TooManyRequests { .. } => "too-many-requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        };
        let detail = match self {
            ApiError::Internal(_) => {
                "the server failed to handle the request; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Unprocessable { errors, .. } => errors.clone(),
            _ => FieldErrors::new(),
        };
        Problem {
            kind: format!("https://crm.example/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

/// Database failures: [`database_unavailable`] ones are a 503 the client may
/// retry; anything else is an internal error, logged with its context when
/// rendered and shown as a generic 500.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if database_unavailable(&error) {
            tracing::warn!(%error, "database unavailable");
            ApiError::Unavailable("the service is overloaded; retry shortly".to_owned())
        } else {
            ApiError::internal(error)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = %error, source = ?error.source(), "request failed");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let ApiError::TooManyRequests { retry_after, .. } = &self {
            let seconds = retry_after.as_secs().max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Router fallback: unknown paths answer with a problem too.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".to_owned())
}

/// Router fallback for a known path with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this route does not accept that method".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_a_retryable_503() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        for error in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(io()),
        ] {
            let api = ApiError::from(error);
            assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE, "{api}");
            assert_eq!(
                api.to_problem().detail,
                "service unavailable: the service is overloaded; retry shortly"
            );
        }
    }

    #[test]
    fn any_other_database_failure_is_a_generic_500() {
        for error in [
            sqlx::Error::RowNotFound,
            sqlx::Error::Protocol("unexpected message".to_owned()),
            sqlx::Error::ColumnNotFound("secret_column".to_owned()),
        ] {
            let api = ApiError::from(error);
            assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR, "{api}");
            let problem = api.to_problem();
            assert!(
                !problem.detail.contains("secret_column"),
                "{}",
                problem.detail
            );
            assert_eq!(problem.kind, "https://crm.example/problems/internal");
        }
    }
}

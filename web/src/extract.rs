//! Extractors whose rejections are problem+json with a message a client can act on.

use axum::extract::rejection::{
    JsonRejection, PathRejection, QueryRejection, RawPathParamsRejection,
};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use events::values::{check_chars, TextKind};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body. Malformed JSON, wrong types and unknown fields are 400; a body
/// over [`MAX_BODY_BYTES`] is 413; a missing JSON content type is 415.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
            "the request body must be at most {MAX_BODY_BYTES} bytes"
        )),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
            "send the body as JSON with `Content-Type: application/json`".to_owned(),
        ),
        _ => match rejection {
            JsonRejection::JsonDataError(error) => {
                ApiError::BadRequest(format!("invalid request body: {}", source_text(&error)))
            }
            JsonRejection::JsonSyntaxError(error) => {
                ApiError::BadRequest(format!("malformed JSON: {}", source_text(&error)))
            }
            other => ApiError::BadRequest(other.body_text()),
        },
    }
}

/// serde's message (with line and column) rather than axum's wrapper text.
fn source_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

/// A decoded query or path parameter must hold no control character and no
/// Unicode noncharacter (the character rule of [`events::values`]): such text
/// is never a valid id, filter or search, and PostgreSQL cannot even receive
/// U+0000. Only [`FreeTextQuery`] parameters may hold line breaks and tabs. A
/// 400 names the parameter.
fn check_parameter(kind: &str, name: &str, value: &str, text: TextKind) -> Result<(), ApiError> {
    check_chars(name, &format!("a {kind} name"), TextKind::SingleLine)
        .and_then(|()| check_chars(value, &format!("{kind} `{name}`"), text))
        .map_err(|error| ApiError::BadRequest(error.0))
}

/// Path parameters; a value that does not parse (e.g. an id that is not a
/// UUID), is not UTF-8 once percent-decoded, or breaks the character rule is a 400.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match RawPathParams::from_request_parts(parts, state).await {
            Ok(params) => {
                for (name, value) in &params {
                    check_parameter("path parameter", name, value, TextKind::SingleLine)?;
                }
            }
            Err(RawPathParamsRejection::InvalidUtf8InPathParam(error)) => {
                return Err(ApiError::BadRequest(format!(
                    "invalid path parameter: {} (percent-encoded bytes must form UTF-8)",
                    error.body_text()
                )))
            }
            Err(other) => return Err(ApiError::internal(other.body_text())),
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => Err(ApiError::BadRequest(
                format!("invalid path parameter: {}", error.body_text()),
            )),
            Err(other) => Err(ApiError::internal(other.body_text())),
        }
    }
}

/// Query-string parameters; unknown or malformed ones, and values that break
/// the character rule, are a 400. With `FREE_TEXT` (see [`FreeTextQuery`])
/// values may also hold line breaks and tabs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T, const FREE_TEXT: bool = false>(pub T);

/// Query-string parameters that are free text (the reason of an archive):
/// like [`Query`], but values may hold line feeds, tabs and CR LF.
pub type FreeTextQuery<T> = Query<T, true>;

impl<T, S, const FREE_TEXT: bool> FromRequestParts<S> for Query<T, FREE_TEXT>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let text = if FREE_TEXT {
            TextKind::FreeText
        } else {
            TextKind::SingleLine
        };
        // Decoded as `serde_urlencoded` decodes them for the deserialiser.
        let query = parts.uri.query().unwrap_or_default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            check_parameter("query parameter", &name, &value, text)?;
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|error: QueryRejection| {
                ApiError::BadRequest(format!("invalid query string: {}", source_text(&error)))
            })
    }
}

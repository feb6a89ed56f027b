//! Running one command request: the headers every command reads, the
//! idempotent invocation (claim the `Idempotency-Key`, execute, record or
//! replay the response), the `{id, version, position}` answer with its `ETag`,
//! and the mapping of command failures to problems.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use events::values::UserId;
use web::{ApiError, Caller};

use super::{CommandApi, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, REQUEST_ID};
use crate::aggregate::{Action, Actor, CustomerCommand, CustomerError};
use crate::idempotency::{Claim, KeyScope, StoredResponse};
use crate::service::{Accepted, ExecuteError, RequestContext};

/// What a command's execution gets from its request's headers.
pub(super) struct CommandContext {
    /// From `If-Match`.
    pub expected_version: Option<u64>,
    pub request: RequestContext,
}

/// Headers every command reads.
struct CommandHeaders {
    expected_version: Option<u64>,
    idempotency_key: Option<String>,
    correlation_id: String,
}

impl CommandHeaders {
    fn read(headers: &HeaderMap) -> Result<Self, ApiError> {
        let text = |name: &str| -> Result<Option<&str>, ApiError> {
            headers
                .get(name)
                .map(|value| {
                    value
                        .to_str()
                        .map_err(|_| ApiError::BadRequest(format!("{name} must be visible ASCII")))
                })
                .transpose()
        };
        let expected_version = text(header::IF_MATCH.as_str())?
            .filter(|value| value.trim() != "*")
            .map(|value| {
                let trimmed = value.trim();
                let unquoted = trimmed
                    .strip_prefix('"')
                    .and_then(|rest| rest.strip_suffix('"'))
                    .unwrap_or(trimmed);
                unquoted.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(
                        "If-Match must be a version in quotes, e.g. If-Match: \"3\"".to_owned(),
                    )
                })
            })
            .transpose()?;
        let idempotency_key = text(IDEMPOTENCY_KEY)?
            .map(|key| {
                let key = key.trim();
                if key.is_empty() || key.len() > 255 {
                    Err(ApiError::BadRequest(
                        "Idempotency-Key must be 1-255 characters".to_owned(),
                    ))
                } else {
                    Ok(key.to_owned())
                }
            })
            .transpose()?;
        let correlation_id = text(REQUEST_ID)?
            .map(str::to_owned)
            .unwrap_or_else(|| Uuid::now_v7().to_string());
        Ok(Self {
            expected_version,
            idempotency_key,
            correlation_id,
        })
    }
}

/// One command request: who, on what, with which body.
pub(super) struct Invocation<'a, B: Serialize> {
    pub api: &'a CommandApi,
    pub caller: Caller,
    pub headers: &'a HeaderMap,
    pub route: &'static str,
    /// The customer named in the path; `None` when the command mints a new one.
    pub path_id: Option<Uuid>,
    pub body: &'a B,
    pub success: StatusCode,
}

impl<B: Serialize> Invocation<'_, B> {
    /// Runs a command on a customer (`path_id`, or a new one).
    pub(super) async fn run(
        self,
        parse: impl FnOnce() -> Result<Action, ApiError>,
    ) -> Result<Response, ApiError> {
        let service = self.api.service.clone();
        let customer_id = self.path_id.unwrap_or_else(Uuid::now_v7);
        self.run_with("customers", async move |actor, context| {
            let command = CustomerCommand {
                actor,
                now: Utc::now(),
                expected_version: context.expected_version,
                action: parse()?,
            };
            service
                .execute(customer_id, command, &context.request)
                .await
                .map_err(api_error)
        })
        .await
    }

    /// Runs `execute` once per `Idempotency-Key`: claims the key, executes,
    /// records the answer (or replays a recorded one). `resource` names the
    /// collection the answer's `Location` points into.
    pub(super) async fn run_with(
        self,
        resource: &'static str,
        execute: impl AsyncFnOnce(Actor, CommandContext) -> Result<Accepted, ApiError>,
    ) -> Result<Response, ApiError> {
        let headers = CommandHeaders::read(self.headers)?;
        let actor = Actor {
            tenant_id: self.caller.tenant_id,
            user_id: UserId::parse(&self.caller.user_id)
                .map_err(|error| ApiError::Unauthorized(error.to_string()))?,
            role: self.caller.role,
        };
        let context = CommandContext {
            expected_version: headers.expected_version,
            request: RequestContext {
                correlation_id: headers.correlation_id.clone(),
                idempotency_key: headers.idempotency_key.clone(),
                caused_by: None,
            },
        };
        let Some(key) = headers.idempotency_key.clone() else {
            let outcome = execute(actor, context).await;
            return outcome.map(|accepted| self.respond(resource, accepted));
        };
        let scope = KeyScope {
            tenant_id: actor.tenant_id,
            actor: actor.user_id.as_str(),
            key: &key,
        };
        let store = &self.api.idempotency;
        match store.claim(&scope, &self.fingerprint()).await? {
            Claim::Owned => {}
            Claim::Replay(stored) => return Ok(replay(resource, stored)),
            Claim::Mismatch => {
                return Err(ApiError::field(
                    "Idempotency-Key",
                    "this key was already used with a different request",
                ))
            }
            Claim::InProgress => {
                return Err(ApiError::Conflict(
                    "a request with this Idempotency-Key is still in progress; retry later".into(),
                ))
            }
        }
        let outcome = execute(actor.clone(), context).await;
        let (status, body) = match &outcome {
            Ok(accepted) => (
                self.success,
                serde_json::to_value(accepted).unwrap_or_default(),
            ),
            Err(error) => (
                error.status(),
                serde_json::to_value(error.to_problem()).unwrap_or_default(),
            ),
        };
        let retryable = status == StatusCode::CONFLICT || status.is_server_error();
        let recorded = if retryable {
            store.release(&scope).await
        } else {
            store
                .complete(
                    &scope,
                    &StoredResponse {
                        status: status.as_u16(),
                        body,
                    },
                )
                .await
        };
        if let Err(error) = recorded {
            // The command's own outcome stands; the event carries the key, so a
            // retry still finds the append instead of repeating it.
            tracing::error!(%error, "could not record the idempotent response");
        }
        outcome.map(|accepted| self.respond(resource, accepted))
    }

    /// Same route, customer and body → same fingerprint (key order and
    /// whitespace of the original JSON do not matter).
    fn fingerprint(&self) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update(self.route.as_bytes());
        hasher.update(self.path_id.unwrap_or_default().as_bytes());
        hasher.update(serde_json::to_vec(self.body).unwrap_or_default());
        hasher.finalize().to_vec()
    }

    fn respond(&self, resource: &str, accepted: Accepted) -> Response {
        let mut response = (self.success, axum::Json(accepted)).into_response();
        decorate(&mut response, resource, &accepted);
        response
    }
}

fn decorate(response: &mut Response, resource: &str, accepted: &Accepted) {
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", accepted.version)) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/{resource}/{}", accepted.id)) {
        headers.insert(header::LOCATION, location);
    }
}

fn replay(resource: &str, stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        web::problem::PROBLEM_JSON
    };
    let accepted: Option<Accepted> = serde_json::from_value(stored.body.clone()).ok();
    let mut response = (status, axum::Json(stored.body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    if let Some(accepted) = accepted.filter(|_| status.is_success()) {
        decorate(&mut response, resource, &accepted);
    }
    response
}

fn api_error(error: ExecuteError) -> ApiError {
    match error {
        ExecuteError::Rejected(rejected) => match rejected {
            CustomerError::NotFound => ApiError::NotFound("customer not found".to_owned()),
            CustomerError::Forbidden(message) => ApiError::Forbidden(message),
            CustomerError::VersionMismatch { .. } => {
                ApiError::PreconditionFailed(rejected.to_string())
            }
            CustomerError::AlreadyRegistered => ApiError::Conflict(rejected.to_string()),
            CustomerError::Archived => ApiError::rule("customer is archived"),
            CustomerError::Forgotten => ApiError::rule(rejected.to_string()),
            CustomerError::Invalid { field, message } => ApiError::field(field, message),
            CustomerError::Rule(message) => ApiError::rule(message),
        },
        ExecuteError::Conflict => ApiError::Conflict(
            "the customer was changed by another request at the same time; reload it and retry"
                .to_owned(),
        ),
        ExecuteError::Unavailable(message) => {
            tracing::warn!(%message, "event store unavailable");
            ApiError::Unavailable("the event store is unavailable; retry shortly".to_owned())
        }
        ExecuteError::Internal(error) => ApiError::Internal(error),
    }
}

/// Declares a command route on an existing customer: `PATH /v1/customers/{id}...`
/// with a JSON body of type `$body`, parsed by `$parse` into an [`Action`] and
/// run as an [`Invocation`] answering 200. The names the OpenAPI attribute
/// reads (`Uuid`, `Accepted` and the problem responses) come from the call site.
macro_rules! command_route {
    (
        $(#[$doc:meta])*
        $name:ident, $method:ident, $path:literal, $body:ty, $parse:expr
    ) => {
        $(#[$doc])*
        #[utoipa::path(
            $method, path = $path, tag = "commands",
            params(
                ("id" = Uuid, Path, description = "Customer id"),
                ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""),
                ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
            ),
            request_body = $body,
            responses(
                (status = 200, description = "Accepted", body = Accepted),
                CommandProblems,
                ExistingCustomerProblems,
                BodyTooLarge,
                RuleViolated,
            ),
            security(("bearer" = []))
        )]
        pub(super) async fn $name(
            ::axum::extract::State(api): ::axum::extract::State<$crate::http::CommandApi>,
            caller: ::web::Caller,
            headers: ::axum::http::HeaderMap,
            ::web::extract::Path(customer_id): ::web::extract::Path<::uuid::Uuid>,
            ::web::extract::Json(body): ::web::extract::Json<$body>,
        ) -> ::std::result::Result<::axum::response::Response, ::web::ApiError> {
            caller.require($crate::http::WRITERS)?;
            let parse: fn(&$body) -> ::std::result::Result<$crate::aggregate::Action, ::web::ApiError> =
                $parse;
            $crate::http::invocation::Invocation {
                api: &api,
                caller,
                headers: &headers,
                route: stringify!($name),
                path_id: Some(customer_id),
                body: &body,
                success: ::axum::http::StatusCode::OK,
            }
            .run(|| parse(&body))
            .await
        }
    };
}

pub(super) use command_route;

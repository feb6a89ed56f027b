//! The command routes of `/v1`: each parses its body into domain values
//! (field-level 422s), runs the command once per `Idempotency-Key`, and answers
//! `{id, version, position}` with an `ETag` of the new version.
//!
//! Every text field goes through a value type of `events::values`, so through
//! its one character rule: notes and reasons are free text (line breaks and
//! tabs allowed), every other field is one line.

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use events::customer::CustomerProfileUpdated;
use events::personal::Personal;
use events::values::{
    ActivityType, CustomerName, Email, InvalidValue, Money, OrderRef, Phone, Probability,
    ShortText, Stage, Tag, UserId,
};
use web::extract::{FreeTextQuery, Json, Path, Query};
use web::openapi::{BodyTooLarge, CommandProblems, ExistingCustomerProblems, RuleViolated};
use web::problem::FieldErrors;
use web::{ApiError, Caller, JwtKeys, Problem};

use crate::aggregate::{Action, Actor, CustomerCommand, CustomerError, Registration};
use crate::idempotency::{Claim, IdempotencyStore, KeyScope, StoredResponse};
use crate::service::{Accepted, CommandService, ExecuteError, RequestContext};

/// What the command routes need.
#[derive(Clone)]
pub struct CommandApi {
    pub service: Arc<CommandService>,
    pub idempotency: IdempotencyStore,
    pub keys: JwtKeys,
}

impl FromRef<CommandApi> for JwtKeys {
    fn from_ref(api: &CommandApi) -> JwtKeys {
        api.keys.clone()
    }
}

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
pub const REQUEST_ID: &str = "x-request-id";

pub fn router() -> OpenApiRouter<CommandApi> {
    OpenApiRouter::new()
        .routes(routes!(register_customer))
        .routes(routes!(update_profile, archive_customer))
        .routes(routes!(assign_customer))
        .routes(routes!(move_stage))
        .routes(routes!(log_activity))
        .routes(routes!(record_purchase))
        .routes(routes!(tag_customer))
        .routes(routes!(untag_customer))
        .routes(routes!(forget_customer))
}

// ---------------------------------------------------------------- bodies

/// A decimal amount in yuan, as a string (`"1234.50"`) or a JSON number.
type AmountInput = Value;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCustomerRequest {
    /// 1–100 characters.
    name: String,
    /// Mainland mobile (11 digits, leading 1) or E.164.
    phone: Option<String>,
    email: Option<String>,
    company: Option<String>,
    industry: Option<String>,
    position: Option<String>,
    source: Option<String>,
    /// Defaults to the caller; a rep may only name themself.
    owner_id: Option<String>,
    /// At most 20, each 1–32 characters.
    tags: Option<Vec<String>>,
    /// Expected deal value in yuan, ≥ 0.
    #[schema(value_type = Option<String>, example = "50000.00")]
    deal_value: Option<AmountInput>,
}

/// Absent fields stay as they are; `null` clears an optional field.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    name: Option<String>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    company: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    industry: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    position: Option<Option<String>>,
    #[serde(default, with = "events::double_option")]
    #[schema(value_type = Option<String>)]
    source: Option<Option<String>>,
    #[schema(value_type = Option<String>, example = "80000")]
    deal_value: Option<AmountInput>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    owner_id: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveStageRequest {
    /// One of lead, qualified, proposal, negotiation, closed_won, closed_lost.
    #[schema(example = "proposal")]
    stage: String,
    #[schema(value_type = Option<String>)]
    deal_value: Option<AmountInput>,
    /// In [0, 1]; defaults to the stage's probability.
    #[schema(value_type = Option<f64>)]
    probability: Option<serde_json::Number>,
    /// Required when reopening a closed deal; at most 500 characters, line
    /// breaks and tabs allowed.
    reason: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogActivityRequest {
    /// visit, call, email or meeting.
    #[serde(rename = "type")]
    #[schema(example = "call")]
    activity_type: String,
    /// One line, at most 200 characters.
    subject: Option<String>,
    /// At most 5000 characters; line breaks and tabs allowed.
    notes: Option<String>,
    /// RFC 3339; defaults to now; at most 5 minutes ahead.
    occurred_at: Option<String>,
    #[schema(value_type = Option<String>)]
    value: Option<AmountInput>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPurchaseRequest {
    /// > 0 and ≤ 1,000,000,000,000 yuan.
    #[schema(value_type = String, example = "1999.00")]
    amount: AmountInput,
    category: String,
    /// RFC 3339; defaults to now; at most 5 minutes ahead.
    occurred_at: Option<String>,
    /// A repeated order_ref on the same customer records nothing and answers like the first.
    order_ref: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    tag: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    /// Why the personal data is erased (e.g. the customer's PIPL request);
    /// required; at most 500 characters, line breaks and tabs allowed.
    reason: Option<String>,
}

impl ForgetRequest {
    fn parse(&self) -> Result<Action, ApiError> {
        let reason = self
            .reason
            .as_deref()
            .ok_or_else(|| ApiError::field("reason", "erasing personal data needs a reason"))?;
        ShortText::parse_free_text_max(reason, "reason", REASON_MAX)
            .map(|reason| Action::Forget { reason })
            .map_err(|error| ApiError::field("reason", error.0))
    }
}

#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ArchiveParams {
    /// Why the customer is archived; at most 500 characters, line breaks and
    /// tabs allowed.
    reason: Option<String>,
}

// ---------------------------------------------------------------- parsing

/// Collects field errors so a client learns every problem at once.
#[derive(Default)]
struct Fields {
    errors: FieldErrors,
}

impl Fields {
    fn check<T>(&mut self, field: &str, result: Result<T, InvalidValue>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(InvalidValue(message)) => {
                self.errors
                    .entry(field.to_owned())
                    .or_default()
                    .push(message);
                None
            }
        }
    }

    fn optional<T>(
        &mut self,
        field: &str,
        raw: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        raw.and_then(|raw| self.check(field, parse(raw)))
    }

    /// One line (subject, company, category...).
    fn text(&mut self, field: &'static str, raw: Option<&str>, max: usize) -> Option<ShortText> {
        self.optional(field, raw, |raw| ShortText::parse_max(raw, field, max))
    }

    /// Multi-line free text (notes, reasons): line breaks and tabs allowed.
    fn free_text(
        &mut self,
        field: &'static str,
        raw: Option<&str>,
        max: usize,
    ) -> Option<ShortText> {
        self.optional(field, raw, |raw| {
            ShortText::parse_free_text_max(raw, field, max)
        })
    }

    fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if !self.errors.is_empty() {
            return Err(unprocessable(self.errors));
        }
        value().ok_or_else(|| ApiError::internal("a parsed field went missing"))
    }
}

fn unprocessable(errors: FieldErrors) -> ApiError {
    let message = errors
        .iter()
        .map(|(field, messages)| format!("{field}: {}", messages.join("; ")))
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::Unprocessable { message, errors }
}

fn amount(raw: &Value, positive: bool) -> Result<Money, InvalidValue> {
    let decimal = match raw {
        Value::String(text) => Money::parse_text(text)?,
        Value::Number(number) => Money::parse_text(&number.to_string())?,
        _ => return Err(InvalidValue("must be a decimal number or string".into())),
    };
    if positive {
        Money::positive(decimal)
    } else {
        Money::non_negative(decimal)
    }
}

/// Instants in events have PostgreSQL's precision (microseconds), so a
/// replayed state equals the stored read models exactly.
fn microseconds(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant.trunc_subsecs(6)
}

fn instant(raw: &str) -> Result<DateTime<Utc>, InvalidValue> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|instant| microseconds(instant.with_timezone(&Utc)))
        .map_err(|_| {
            InvalidValue("must be an RFC 3339 instant such as 2026-11-25T09:30:00+08:00".into())
        })
}

const COMPANY_MAX: usize = 200;
const SHORT_MAX: usize = 50;
const POSITION_MAX: usize = 100;
const SUBJECT_MAX: usize = 200;
const NOTES_MAX: usize = 5000;
const REASON_MAX: usize = 500;

impl RegisterCustomerRequest {
    fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let name = f.check("name", CustomerName::parse(&self.name));
        let phone = f.optional("phone", self.phone.as_deref(), Phone::parse);
        let email = f.optional("email", self.email.as_deref(), Email::parse);
        let company = f.text("company", self.company.as_deref(), COMPANY_MAX);
        let industry = f.text("industry", self.industry.as_deref(), SHORT_MAX);
        let position = f.text("position", self.position.as_deref(), POSITION_MAX);
        let source = f.text("source", self.source.as_deref(), SHORT_MAX);
        let owner_id = f.optional("owner_id", self.owner_id.as_deref(), UserId::parse);
        let tags: Vec<Tag> = self
            .tags
            .iter()
            .flatten()
            .filter_map(|tag| f.check("tags", Tag::parse(tag)))
            .collect();
        let deal_value = self
            .deal_value
            .as_ref()
            .and_then(|raw| f.check("deal_value", amount(raw, false)));
        f.finish(|| {
            Some(Action::Register(Registration {
                name: name?,
                phone,
                email,
                company,
                industry,
                position,
                source,
                owner_id,
                tags,
                deal_value,
            }))
        })
    }
}

impl UpdateProfileRequest {
    fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let mut update = CustomerProfileUpdated {
            name: f
                .optional("name", self.name.as_deref(), CustomerName::parse)
                .map(Personal::Clear),
            ..Default::default()
        };
        // Some(None) clears; Some(Some(raw)) sets; None leaves the field alone.
        fn clearable<T>(
            f: &mut Fields,
            field: &'static str,
            raw: &Option<Option<String>>,
            parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
        ) -> Option<Option<T>> {
            match raw {
                None => None,
                Some(None) => Some(None),
                Some(Some(raw)) => f.check(field, parse(raw)).map(Some),
            }
        }
        update.phone = personal(clearable(&mut f, "phone", &self.phone, Phone::parse));
        update.email = personal(clearable(&mut f, "email", &self.email, Email::parse));
        update.company = clearable(&mut f, "company", &self.company, |raw| {
            ShortText::parse_max(raw, "company", COMPANY_MAX)
        });
        update.industry = clearable(&mut f, "industry", &self.industry, |raw| {
            ShortText::parse_max(raw, "industry", SHORT_MAX)
        });
        update.position = clearable(&mut f, "position", &self.position, |raw| {
            ShortText::parse_max(raw, "position", POSITION_MAX)
        });
        update.source = clearable(&mut f, "source", &self.source, |raw| {
            ShortText::parse_max(raw, "source", SHORT_MAX)
        });
        update.deal_value = self
            .deal_value
            .as_ref()
            .and_then(|raw| f.check("deal_value", amount(raw, false)));
        f.finish(|| Some(Action::UpdateProfile(update)))
    }
}

/// A clearable personal field, marked clear for the service to seal.
fn personal<T>(value: Option<Option<T>>) -> Option<Option<Personal<T>>> {
    value.map(|inner| inner.map(Personal::Clear))
}

impl MoveStageRequest {
    fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let stage = f.check("stage", Stage::from_str(self.stage.trim()));
        let deal_value = self
            .deal_value
            .as_ref()
            .and_then(|raw| f.check("deal_value", amount(raw, false)));
        let probability = self
            .probability
            .as_ref()
            .and_then(|raw| f.check("probability", Probability::try_from(raw.clone())));
        let reason = f.free_text("reason", self.reason.as_deref(), REASON_MAX);
        f.finish(|| {
            Some(Action::MoveStage {
                stage: stage?,
                deal_value,
                probability,
                reason,
            })
        })
    }
}

impl LogActivityRequest {
    fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let activity_type = f.check("type", ActivityType::from_str(self.activity_type.trim()));
        let subject = f.text("subject", self.subject.as_deref(), SUBJECT_MAX);
        let notes = f.free_text("notes", self.notes.as_deref(), NOTES_MAX);
        let occurred_at = f.optional("occurred_at", self.occurred_at.as_deref(), instant);
        let value = self
            .value
            .as_ref()
            .and_then(|raw| f.check("value", amount(raw, false)));
        f.finish(|| {
            Some(Action::LogActivity {
                activity_type: activity_type?,
                subject,
                notes,
                occurred_at,
                value,
            })
        })
    }
}

impl RecordPurchaseRequest {
    fn parse(&self) -> Result<Action, ApiError> {
        let mut f = Fields::default();
        let amount = f.check("amount", amount(&self.amount, true));
        let category = f.check(
            "category",
            ShortText::parse_max(&self.category, "category", SHORT_MAX),
        );
        let occurred_at = f.optional("occurred_at", self.occurred_at.as_deref(), instant);
        let order_ref = f.optional("order_ref", self.order_ref.as_deref(), OrderRef::parse);
        f.finish(|| {
            Some(Action::RecordPurchase {
                amount: amount?,
                category: category?,
                occurred_at,
                order_ref,
            })
        })
    }
}

// ---------------------------------------------------------------- running

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
struct Invocation<'a, B: Serialize> {
    api: &'a CommandApi,
    caller: Caller,
    headers: &'a HeaderMap,
    route: &'static str,
    /// The customer named in the path; `None` when the command mints a new one.
    path_id: Option<Uuid>,
    body: &'a B,
    success: StatusCode,
}

impl<B: Serialize> Invocation<'_, B> {
    async fn run(
        self,
        parse: impl FnOnce() -> Result<Action, ApiError>,
    ) -> Result<Response, ApiError> {
        let headers = CommandHeaders::read(self.headers)?;
        let actor = Actor {
            tenant_id: self.caller.tenant_id,
            user_id: UserId::parse(&self.caller.user_id)
                .map_err(|error| ApiError::Unauthorized(error.to_string()))?,
            role: self.caller.role,
        };
        let Some(key) = headers.idempotency_key.clone() else {
            let outcome = self.execute(actor, &headers, parse).await;
            return outcome.map(|accepted| self.respond(accepted));
        };
        let scope = KeyScope {
            tenant_id: actor.tenant_id,
            actor: actor.user_id.as_str(),
            key: &key,
        };
        let store = &self.api.idempotency;
        match store
            .claim(&scope, &self.fingerprint())
            .await
            .map_err(ApiError::internal)?
        {
            Claim::Owned => {}
            Claim::Replay(stored) => return Ok(replay(stored)),
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
        let outcome = self.execute(actor.clone(), &headers, parse).await;
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
        outcome.map(|accepted| self.respond(accepted))
    }

    async fn execute(
        &self,
        actor: Actor,
        headers: &CommandHeaders,
        parse: impl FnOnce() -> Result<Action, ApiError>,
    ) -> Result<Accepted, ApiError> {
        let command = CustomerCommand {
            actor,
            now: Utc::now(),
            expected_version: headers.expected_version,
            action: parse()?,
        };
        let request = RequestContext {
            correlation_id: headers.correlation_id.clone(),
            idempotency_key: headers.idempotency_key.clone(),
        };
        let customer_id = self.path_id.unwrap_or_else(Uuid::now_v7);
        self.api
            .service
            .execute(customer_id, command, &request)
            .await
            .map_err(api_error)
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

    fn respond(&self, accepted: Accepted) -> Response {
        let mut response = (self.success, axum::Json(accepted)).into_response();
        decorate(&mut response, &accepted);
        response
    }
}

fn decorate(response: &mut Response, accepted: &Accepted) {
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", accepted.version)) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/customers/{}", accepted.id)) {
        headers.insert(header::LOCATION, location);
    }
}

fn replay(stored: StoredResponse) -> Response {
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
        decorate(&mut response, &accepted);
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

// ---------------------------------------------------------------- routes

const WRITERS: &[web::Role] = &[web::Role::Rep, web::Role::Manager, web::Role::Admin];

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
async fn register_customer(
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
        async fn $name(
            State(api): State<CommandApi>,
            caller: Caller,
            headers: HeaderMap,
            Path(customer_id): Path<Uuid>,
            Json(body): Json<$body>,
        ) -> Result<Response, ApiError> {
            caller.require(WRITERS)?;
            let parse: fn(&$body) -> Result<Action, ApiError> = $parse;
            Invocation {
                api: &api,
                caller,
                headers: &headers,
                route: stringify!($name),
                path_id: Some(customer_id),
                body: &body,
                success: StatusCode::OK,
            }
            .run(|| parse(&body))
            .await
        }
    };
}

command_route!(
    /// UpdateProfile: change profile fields.
    update_profile, patch, "/v1/customers/{id}", UpdateProfileRequest, UpdateProfileRequest::parse
);
command_route!(
    /// Assign: give the customer to another owner (manager, admin).
    assign_customer, put, "/v1/customers/{id}/owner", AssignRequest, |body: &AssignRequest| {
        let owner_id = UserId::parse(&body.owner_id).map_err(|e| ApiError::field("owner_id", e.0))?;
        Ok(Action::Assign { owner_id })
    }
);
command_route!(
    /// MoveStage: move the customer along the sales funnel.
    move_stage, put, "/v1/customers/{id}/stage", MoveStageRequest, MoveStageRequest::parse
);
command_route!(
    /// LogActivity: record a visit, call, e-mail or meeting.
    log_activity, post, "/v1/customers/{id}/activities", LogActivityRequest, LogActivityRequest::parse
);
command_route!(
    /// RecordPurchase: record an order.
    record_purchase, post, "/v1/customers/{id}/purchases", RecordPurchaseRequest, RecordPurchaseRequest::parse
);
command_route!(
    /// Erase the customer's personal data by destroying its data key (admin only);
    /// every other fact stays. Repeating it changes nothing.
    forget_customer, post, "/v1/customers/{id}/forget", ForgetRequest, ForgetRequest::parse
);
command_route!(
    /// Tag the customer (an existing tag changes nothing).
    tag_customer, post, "/v1/customers/{id}/tags", TagRequest, |body: &TagRequest| {
        Tag::parse(&body.tag).map(Action::Tag).map_err(|e| ApiError::field("tag", e.0))
    }
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
async fn untag_customer(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path((customer_id, tag)): Path<(Uuid, String)>,
) -> Result<Response, ApiError> {
    caller.require(WRITERS)?;
    let body = TagRequest { tag };
    Invocation {
        api: &api,
        caller,
        headers: &headers,
        route: "untag_customer",
        path_id: Some(customer_id),
        body: &body,
        success: StatusCode::OK,
    }
    .run(|| {
        Tag::parse(&body.tag)
            .map(Action::Untag)
            .map_err(|e| ApiError::field("tag", e.0))
    })
    .await
}

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
async fn archive_customer(
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
    .run(|| {
        let mut f = Fields::default();
        let reason = f.free_text("reason", params.reason.as_deref(), REASON_MAX);
        f.finish(|| Some(Action::Archive { reason }))
    })
    .await
}

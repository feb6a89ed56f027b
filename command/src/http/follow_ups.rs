//! The follow-up commands: schedule, reschedule, reassign, cancel, complete.
//! Each runs once per `Idempotency-Key` and answers `{id, version, position}`
//! with an `ETag`, as the customer commands do.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use web::extract::{Json, Path};
use web::openapi::{
    BodyTooLarge, CommandProblems, ConcurrentWrite, FollowUpNotFound, RuleViolated, VersionMismatch,
};
use web::{ApiError, Caller};

use events::follow_up::ReminderLead;
use events::values::{ActivityType, InvalidValue, OccurredAt, TextField, UserId};

use super::fields::Fields;
use super::invocation::Invocation;
use super::{CommandApi, WRITERS};
use crate::follow_up::{FollowUpAction, FollowUpCommand, FollowUpError, FollowUpFailure, Plan};
use crate::service::Accepted;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFollowUpRequest {
    /// The customer it is about; the caller must see it (a rep: its own).
    customer_id: Uuid,
    #[serde(rename = "type")]
    #[schema(value_type = ActivityType)]
    activity_type: String,
    /// What to do: 1–200 characters, one line.
    #[schema(min_length = 1, max_length = 200, example = "回访报价")]
    subject: String,
    /// At most 5,000 characters; line breaks and tabs allowed.
    #[schema(max_length = 5000)]
    notes: Option<String>,
    /// When it is due (RFC 3339): not in the past, at most two years ahead.
    #[schema(format = DateTime, example = "2026-12-09T10:00:00+08:00")]
    due_at: String,
    /// Who does it (a login); defaults to the caller. A rep schedules for
    /// itself, a manager within its teams.
    #[schema(min_length = 1, max_length = 64)]
    assignee: Option<String>,
    /// Remind this many minutes before the due time (0–10080); default 0,
    /// at the due time.
    #[schema(minimum = 0, maximum = 10080)]
    remind_before_minutes: Option<u32>,
    /// The deal it is about.
    opportunity_id: Option<Uuid>,
}

impl ScheduleFollowUpRequest {
    fn parse(&self) -> Result<Plan, ApiError> {
        let mut f = Fields::default();
        let activity_type = f.check("type", self.activity_type.trim().parse::<ActivityType>());
        let subject = f.check("subject", TextField::SUBJECT.parse(&self.subject));
        let notes = f.text(TextField::NOTES, self.notes.as_deref());
        let due_at = f.check("due_at", instant(&self.due_at));
        let assignee = f.optional("assignee", self.assignee.as_deref(), UserId::parse);
        let remind_before = f.check(
            "remind_before_minutes",
            ReminderLead::minutes(self.remind_before_minutes.unwrap_or(0)),
        );
        f.finish(|| {
            Some(Plan {
                customer_id: self.customer_id,
                activity_type: activity_type?,
                subject: subject?,
                notes,
                due_at: due_at?,
                assignee,
                remind_before: remind_before?,
                opportunity_id: self.opportunity_id,
            })
        })
    }
}

fn instant(raw: &str) -> Result<DateTime<Utc>, InvalidValue> {
    OccurredAt::parse(raw).map(OccurredAt::instant)
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleFollowUpRequest {
    /// The new due time (RFC 3339): not in the past, at most two years ahead.
    #[schema(format = DateTime, example = "2026-12-10T15:00:00+08:00")]
    due_at: String,
    /// The new lead time (0–10080 minutes); omitted: unchanged.
    #[schema(minimum = 0, maximum = 10080)]
    remind_before_minutes: Option<u32>,
    /// At most 500 characters; line breaks and tabs allowed.
    #[schema(max_length = 500)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignFollowUpRequest {
    /// The login of the new assignee (managers: within their teams).
    #[schema(min_length = 1, max_length = 64)]
    assignee: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelFollowUpRequest {
    /// Why it will not happen: 1–500 characters; line breaks and tabs allowed.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteFollowUpRequest {
    /// What came of it: at most 2,000 characters; line breaks and tabs
    /// allowed. Becomes the notes of the activity logged on the customer.
    #[schema(max_length = 2000)]
    outcome: Option<String>,
    /// When it was done (RFC 3339); defaults to now. Not before it was
    /// scheduled, at most 5 minutes ahead.
    #[schema(format = DateTime)]
    completed_at: Option<String>,
}

/// Runs a follow-up command through the idempotent invocation.
async fn run(
    api: &CommandApi,
    caller: Caller,
    headers: &HeaderMap,
    route: &'static str,
    follow_up_id: Option<Uuid>,
    body: &impl Serialize,
    action: FollowUpAction,
) -> Result<Response, ApiError> {
    caller.require(WRITERS)?;
    let service = api.follow_ups.clone();
    let success = if follow_up_id.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let id = follow_up_id.unwrap_or_else(Uuid::now_v7);
    Invocation {
        api,
        caller,
        headers,
        route,
        path_id: follow_up_id,
        body,
        success,
    }
    .run_with("follow-ups", async |actor, context| {
        let command = FollowUpCommand {
            actor,
            now: Utc::now(),
            expected_version: context.expected_version,
            action,
        };
        service
            .execute(id, command, &context.request)
            .await
            .map_err(follow_up_error)
    })
    .await
}

#[utoipa::path(
    post, path = "/v1/follow-ups", tag = "follow-ups",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    request_body = ScheduleFollowUpRequest,
    responses(
        (status = 201, description = "Scheduled", body = Accepted),
        CommandProblems, FollowUpNotFound, ConcurrentWrite, BodyTooLarge, RuleViolated,
    ),
    security(("bearer" = []))
)]
pub(super) async fn schedule_follow_up(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<ScheduleFollowUpRequest>,
) -> Result<Response, ApiError> {
    let action = FollowUpAction::Schedule(body.parse()?);
    run(
        &api,
        caller,
        &headers,
        "schedule_follow_up",
        None,
        &body,
        action,
    )
    .await
}

/// Declares a command route on an existing follow-up.
macro_rules! follow_up_route {
    ($(#[$doc:meta])* $name:ident, $path:literal, $body:ty, $summary:literal, $parse:expr) => {
        $(#[$doc])*
        #[utoipa::path(
            post, path = $path, tag = "follow-ups",
            params(
                ("id" = Uuid, Path, description = "Follow-up id"),
                ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""),
                ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
            ),
            request_body = $body,
            responses(
                (status = 200, description = $summary, body = Accepted),
                CommandProblems, FollowUpNotFound, ConcurrentWrite, VersionMismatch,
                BodyTooLarge, RuleViolated,
            ),
            security(("bearer" = []))
        )]
        pub(super) async fn $name(
            State(api): State<CommandApi>,
            caller: Caller,
            headers: HeaderMap,
            Path(id): Path<Uuid>,
            Json(body): Json<$body>,
        ) -> Result<Response, ApiError> {
            let parse: fn(&$body) -> Result<FollowUpAction, ApiError> = $parse;
            let action = parse(&body)?;
            run(&api, caller, &headers, stringify!($name), Some(id), &body, action).await
        }
    };
}

follow_up_route!(
    reschedule_follow_up,
    "/v1/follow-ups/{id}/reschedule",
    RescheduleFollowUpRequest,
    "Rescheduled",
    |body| {
        let mut f = Fields::default();
        let due_at = f.check("due_at", instant(&body.due_at));
        let remind_before = body
            .remind_before_minutes
            .and_then(|minutes| f.check("remind_before_minutes", ReminderLead::minutes(minutes)));
        let reason = f.text(TextField::REASON, body.reason.as_deref());
        f.finish(|| {
            Some(FollowUpAction::Reschedule {
                due_at: due_at?,
                remind_before,
                reason,
            })
        })
    }
);

follow_up_route!(
    reassign_follow_up,
    "/v1/follow-ups/{id}/reassign",
    ReassignFollowUpRequest,
    "Reassigned",
    |body| {
        let mut f = Fields::default();
        let assignee = f.check("assignee", UserId::parse(&body.assignee));
        f.finish(|| {
            Some(FollowUpAction::Reassign {
                assignee: assignee?,
            })
        })
    }
);

follow_up_route!(
    cancel_follow_up,
    "/v1/follow-ups/{id}/cancel",
    CancelFollowUpRequest,
    "Cancelled (again: unchanged)",
    |body| {
        let mut f = Fields::default();
        let reason = f.check("reason", TextField::REASON.parse(&body.reason));
        f.finish(|| Some(FollowUpAction::Cancel { reason: reason? }))
    }
);

follow_up_route!(
    /// Completing logs the activity on the customer, once; completing again
    /// changes nothing.
    complete_follow_up, "/v1/follow-ups/{id}/complete", CompleteFollowUpRequest, "Completed (again: unchanged)",
    |body| {
        let mut f = Fields::default();
        let outcome = f.text(TextField::OUTCOME, body.outcome.as_deref());
        let completed_at = f.optional("completed_at", body.completed_at.as_deref(), OccurredAt::parse);
        f.finish(|| {
            Some(FollowUpAction::Complete {
                outcome,
                completed_at,
            })
        })
    }
);

fn follow_up_error(failure: FollowUpFailure) -> ApiError {
    match failure {
        FollowUpFailure::Rejected(rejected) => match rejected {
            FollowUpError::NotFound => ApiError::NotFound("follow-up not found".to_owned()),
            FollowUpError::CustomerNotFound => ApiError::NotFound("customer not found".to_owned()),
            FollowUpError::Forbidden(message) => ApiError::Forbidden(message),
            FollowUpError::AlreadyExists => ApiError::Conflict(rejected.to_string()),
            FollowUpError::VersionMismatch { .. } => {
                ApiError::PreconditionFailed(rejected.to_string())
            }
            FollowUpError::Invalid { field, message } => ApiError::field(field, message),
            FollowUpError::Rule(message) => ApiError::rule(message),
        },
        FollowUpFailure::Conflict => ApiError::Conflict(
            "the follow-up was changed by another request at the same time; reload it and retry"
                .to_owned(),
        ),
        FollowUpFailure::Unavailable(message) => {
            tracing::warn!(%message, "event store unavailable");
            ApiError::Unavailable("the event store is unavailable; retry shortly".to_owned())
        }
        FollowUpFailure::Internal(error) => ApiError::Internal(error),
    }
}

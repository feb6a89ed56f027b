//! An admin's commands on teams: create, rename, add or change or remove a
//! member.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use web::extract::{Json, Path};
use web::openapi::{BodyTooLarge, CommandProblems, RuleViolated};
use web::{ApiError, Caller};

use events::team::TeamRole;
use events::values::{TeamName, UserId};

use super::directory_error::directory_error;
use super::invocation::Invocation;
use super::CommandApi;
use crate::service::Accepted;
use crate::team::{TeamAction, TeamCommand};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamNameRequest {
    /// 1–50 characters, one line.
    #[schema(min_length = 1, max_length = 50)]
    name: String,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamMemberRequest {
    /// `member` or `manager`; a manager sees and changes its members' customers.
    role: TeamRole,
}

/// Runs an admin's command on a team.
async fn run_team_action<B: Serialize>(
    api: &CommandApi,
    caller: Caller,
    headers: &HeaderMap,
    route: &'static str,
    team_id: Option<Uuid>,
    body: &B,
    action: TeamAction,
) -> Result<Response, ApiError> {
    let directory = api.directory.clone();
    let success = if team_id.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let id = team_id.unwrap_or_else(Uuid::now_v7);
    Invocation {
        api,
        caller,
        headers,
        route,
        path_id: team_id,
        body,
        success,
    }
    .run_with("teams", async |actor, context| {
        let command = TeamCommand {
            actor,
            expected_version: context.expected_version,
            action,
        };
        directory
            .execute_team(id, command, &context.request)
            .await
            .map_err(directory_error)
    })
    .await
}

fn team_name(body: &TeamNameRequest) -> Result<TeamName, ApiError> {
    TeamName::parse(&body.name).map_err(|error| ApiError::field("name", error.0))
}

fn login(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|error| ApiError::field("login", error.0))
}

#[utoipa::path(
    post, path = "/v1/teams", tag = "directory",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    request_body = TeamNameRequest,
    responses((status = 201, description = "Created", body = Accepted), CommandProblems, BodyTooLarge, RuleViolated),
    security(("bearer" = []))
)]
pub(super) async fn create_team(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<TeamNameRequest>,
) -> Result<Response, ApiError> {
    let action = TeamAction::Create {
        name: team_name(&body)?,
    };
    run_team_action(&api, caller, &headers, "create_team", None, &body, action).await
}

#[utoipa::path(
    patch, path = "/v1/teams/{id}", tag = "directory",
    params(
        ("id" = Uuid, Path, description = "Team id"),
        ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = TeamNameRequest,
    responses((status = 200, description = "Renamed", body = Accepted), CommandProblems, BodyTooLarge, RuleViolated),
    security(("bearer" = []))
)]
pub(super) async fn rename_team(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path(team_id): Path<Uuid>,
    Json(body): Json<TeamNameRequest>,
) -> Result<Response, ApiError> {
    let action = TeamAction::Rename {
        name: team_name(&body)?,
    };
    run_team_action(
        &api,
        caller,
        &headers,
        "rename_team",
        Some(team_id),
        &body,
        action,
    )
    .await
}

#[utoipa::path(
    put, path = "/v1/teams/{id}/members/{login}", tag = "directory",
    params(
        ("id" = Uuid, Path, description = "Team id"),
        ("login" = String, Path, description = "An active user's login"),
        ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = TeamMemberRequest,
    responses((status = 200, description = "Added, or its role changed", body = Accepted), CommandProblems, RuleViolated),
    security(("bearer" = []))
)]
pub(super) async fn put_team_member(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path((team_id, member)): Path<(Uuid, String)>,
    Json(body): Json<TeamMemberRequest>,
) -> Result<Response, ApiError> {
    let login = login(&member)?;
    let current = api
        .directory
        .member_role(team_id, &login)
        .await
        .map_err(directory_error)?;
    let action = match current {
        Some(_) => TeamAction::ChangeMemberRole {
            login,
            role: body.role,
        },
        None => TeamAction::AddMember {
            login,
            role: body.role,
        },
    };
    let fingerprint = (&member, &body);
    run_team_action(
        &api,
        caller,
        &headers,
        "put_team_member",
        Some(team_id),
        &fingerprint,
        action,
    )
    .await
}

#[utoipa::path(
    delete, path = "/v1/teams/{id}/members/{login}", tag = "directory",
    params(
        ("id" = Uuid, Path, description = "Team id"),
        ("login" = String, Path, description = "The member's login"),
        ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses((status = 200, description = "Removed (a non-member changes nothing)", body = Accepted), CommandProblems, RuleViolated),
    security(("bearer" = []))
)]
pub(super) async fn remove_team_member(
    State(api): State<CommandApi>,
    caller: Caller,
    headers: HeaderMap,
    Path((team_id, member)): Path<(Uuid, String)>,
) -> Result<Response, ApiError> {
    let action = TeamAction::RemoveMember {
        login: login(&member)?,
    };
    run_team_action(
        &api,
        caller,
        &headers,
        "remove_team_member",
        Some(team_id),
        &member,
        action,
    )
    .await
}

//! `GET /v1/teams` and `GET /v1/teams/{id}`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use web::extract::Path;
use web::openapi::QueryProblems;
use web::{ApiError, Caller};

use crate::api::QueryApi;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamMember {
    pub login: String,
    /// `member` or `manager`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamView {
    pub id: Uuid,
    pub name: String,
    pub version: i64,
    /// By login.
    pub members: Vec<TeamMember>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    pub teams: Vec<TeamView>,
}

/// A team with one of its members (none for an empty team).
type TeamMemberRow = (Uuid, String, i64, Option<String>, Option<String>);

/// The tenant's teams (all, or only `team_id`), with their members.
pub(crate) async fn teams(
    api: &QueryApi,
    tenant_id: Uuid,
    team_id: Option<Uuid>,
) -> Result<Vec<TeamView>, ApiError> {
    let rows: Vec<TeamMemberRow> = sqlx::query_as(
        "SELECT t.team_id, t.name, t.version, m.login, m.role
           FROM directory_teams t
           LEFT JOIN directory_team_members m USING (tenant_id, team_id)
          WHERE t.tenant_id = $1 AND ($2::uuid IS NULL OR t.team_id = $2)
          ORDER BY t.name, t.team_id, m.login",
    )
    .bind(tenant_id)
    .bind(team_id)
    .fetch_all(&api.pool)
    .await?;
    let mut teams: BTreeMap<(String, Uuid), TeamView> = BTreeMap::new();
    for (id, name, version, login, role) in rows {
        let team = teams.entry((name.clone(), id)).or_insert_with(|| TeamView {
            id,
            name,
            version,
            members: Vec::new(),
        });
        if let (Some(login), Some(role)) = (login, role) {
            team.members.push(TeamMember { login, role });
        }
    }
    Ok(teams.into_values().collect())
}

#[utoipa::path(
    get, path = "/v1/teams", tag = "directory",
    responses((status = 200, description = "The tenant's teams, by name", body = TeamList), QueryProblems),
    security(("bearer" = []))
)]
pub(crate) async fn list_teams(
    State(api): State<QueryApi>,
    caller: Caller,
) -> Result<Json<TeamList>, ApiError> {
    let teams = teams(&api, caller.tenant_id, None).await?;
    Ok(Json(TeamList { teams }))
}

#[utoipa::path(
    get, path = "/v1/teams/{id}", tag = "directory",
    params(("id" = Uuid, Path, description = "Team id")),
    responses((status = 200, description = "The team", body = TeamView), QueryProblems),
    security(("bearer" = []))
)]
pub(crate) async fn get_team(
    State(api): State<QueryApi>,
    caller: Caller,
    Path(team_id): Path<Uuid>,
) -> Result<Json<TeamView>, ApiError> {
    teams(&api, caller.tenant_id, Some(team_id))
        .await?
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("team not found".into()))
}

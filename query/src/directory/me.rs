//! `GET /v1/me`: who the caller is, its role, its teams and whether it can
//! sign in from WeChat.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use web::openapi::QueryProblems;
use web::{ApiError, Caller};

use super::teams::teams;
use super::users::{by_login, UserView};
use crate::api::QueryApi;

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub tenant_id: Uuid,
    pub login: String,
    /// The role the caller's token carries.
    pub role: String,
    /// The caller's directory entry; `null` for a token minted for a login
    /// that is not in the directory (`crm token`, an operator's tool).
    pub user: Option<UserView>,
    /// The teams the caller is in, and its role in each.
    pub teams: Vec<MyTeam>,
    /// A WeChat account is bound for signing in (`PUT /v1/me/wechat`). The
    /// account itself is a secret and never shown.
    pub wechat_bound: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyTeam {
    pub id: Uuid,
    pub name: String,
    /// `member` or `manager`.
    pub role: String,
}

#[utoipa::path(
    get, path = "/v1/me", tag = "directory",
    responses((status = 200, description = "Who am I", body = Me), QueryProblems),
    security(("bearer" = []))
)]
pub(crate) async fn get_me(
    State(api): State<QueryApi>,
    caller: Caller,
) -> Result<Json<Me>, ApiError> {
    let user = by_login(&api, caller.tenant_id, &caller.user_id)
        .await?
        .map(|user| user.seen_by(&caller));
    let teams = teams(&api, caller.tenant_id, None)
        .await?
        .into_iter()
        .filter_map(|team| {
            let role = team
                .members
                .iter()
                .find(|member| member.login == caller.user_id)?
                .role
                .clone();
            Some(MyTeam {
                id: team.id,
                name: team.name,
                role,
            })
        })
        .collect();
    let wechat_bound: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM wechat_bindings b JOIN directory_users u USING (user_id)
                         WHERE u.tenant_id = $1 AND u.login = $2)",
    )
    .bind(caller.tenant_id)
    .bind(&caller.user_id)
    .fetch_one(&api.pool)
    .await?;
    Ok(Json(Me {
        tenant_id: caller.tenant_id,
        login: caller.user_id.clone(),
        role: caller.role.as_str().to_owned(),
        user,
        teams,
        wechat_bound,
    }))
}

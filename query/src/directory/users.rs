//! `GET /v1/users` and `GET /v1/users/{id}`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use web::extract::Path;
use web::openapi::QueryProblems;
use web::{ApiError, Caller, Role};

use crate::api::QueryApi;

/// A user of the tenant.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct UserView {
    pub id: Uuid,
    pub login: String,
    /// `null` once the user's personal data was erased.
    pub display_name: Option<String>,
    /// Shown to admins and to the user itself.
    pub phone: Option<String>,
    /// Shown to admins and to the user itself.
    pub email: Option<String>,
    pub role: String,
    pub active: bool,
    pub version: i64,
    pub invited_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "user_id AS id, login, display_name, phone, email, role, active, \
     version, invited_at, updated_at";

impl UserView {
    /// Hides contact details from whoever is neither an admin nor the user.
    pub(crate) fn seen_by(mut self, caller: &Caller) -> Self {
        if caller.role != Role::Admin && caller.user_id != self.login {
            self.phone = None;
            self.email = None;
        }
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

#[utoipa::path(
    get, path = "/v1/users", tag = "directory",
    responses((status = 200, description = "The tenant's users, by login", body = UserList), QueryProblems),
    security(("bearer" = []))
)]
pub(crate) async fn list_users(
    State(api): State<QueryApi>,
    caller: Caller,
) -> Result<Json<UserList>, ApiError> {
    let users: Vec<UserView> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM directory_users WHERE tenant_id = $1 ORDER BY login"
    ))
    .bind(caller.tenant_id)
    .fetch_all(&api.pool)
    .await?;
    let users = users.into_iter().map(|u| u.seen_by(&caller)).collect();
    Ok(Json(UserList { users }))
}

#[utoipa::path(
    get, path = "/v1/users/{id}", tag = "directory",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = UserView), QueryProblems),
    security(("bearer" = []))
)]
pub(crate) async fn get_user(
    State(api): State<QueryApi>,
    caller: Caller,
    Path(user_id): Path<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    let user: Option<UserView> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM directory_users WHERE tenant_id = $1 AND user_id = $2"
    ))
    .bind(caller.tenant_id)
    .bind(user_id)
    .fetch_optional(&api.pool)
    .await?;
    user.map(|u| Json(u.seen_by(&caller)))
        .ok_or_else(|| ApiError::NotFound("user not found".into()))
}

/// The user named `login` in the caller's tenant.
pub(crate) async fn by_login(
    api: &QueryApi,
    tenant_id: Uuid,
    login: &str,
) -> Result<Option<UserView>, ApiError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM directory_users WHERE tenant_id = $1 AND login = $2"
    ))
    .bind(tenant_id)
    .bind(login)
    .fetch_optional(&api.pool)
    .await?)
}

//! A person's notifications: newest first, a page at a time, and marking
//! them read. Nobody reads another person's inbox (another's notification
//! is a 404).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use web::extract::{Path, Query};
use web::openapi::{BadParameter, Unauthorized};
use web::{ApiError, Caller};

use crate::NotifyApi;

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A follow-up assigned to the recipient is due (its reminder).
    FollowUpDue,
    /// A follow-up of someone in the recipient's teams is overdue (the
    /// `overdue_escalation` rule).
    FollowUpOverdue,
    /// The webhook sender disabled one of the tenant's endpoints (to admins).
    WebhookDisabled,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Notification {
    /// Increases with every notification: the Server-Sent Events id.
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub kind: NotificationKind,
    pub follow_up_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    /// `null` until the customer's read model has it, or once its personal
    /// data was erased.
    pub customer_name: Option<String>,
    pub subject: String,
    pub due_at: Option<DateTime<Utc>>,
    /// When it was meant to arrive (the due time minus the lead time).
    pub meant_for: DateTime<Utc>,
    /// Delivered more than a minute after `meant_for` (the service was down
    /// or behind).
    pub late: bool,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl TryFrom<String> for NotificationKind {
    type Error = String;
    fn try_from(stored: String) -> Result<Self, Self::Error> {
        match stored.as_str() {
            "follow_up_due" => Ok(NotificationKind::FollowUpDue),
            "follow_up_overdue" => Ok(NotificationKind::FollowUpOverdue),
            "webhook_disabled" => Ok(NotificationKind::WebhookDisabled),
            other => Err(format!("unknown notification kind {other:?}")),
        }
    }
}

pub(crate) const COLUMNS: &str =
    "n.id, n.kind, n.follow_up_id, n.customer_id, c.name AS customer_name,
       n.subject, n.due_at, n.meant_for, n.late, n.created_at, n.read_at";

/// `FROM notifications n LEFT JOIN rm_customers c` … the recipient's.
pub(crate) fn inbox_of<'a>(select: &str, caller: &Caller) -> QueryBuilder<'a, Postgres> {
    let mut builder = QueryBuilder::new(select);
    builder
        .push(
            " FROM notifications n LEFT JOIN rm_customers c
                ON c.id = n.customer_id AND c.tenant_id = n.tenant_id
             WHERE n.tenant_id = ",
        )
        .push_bind(caller.tenant_id)
        .push(" AND n.recipient = ")
        .push_bind(caller.user_id.clone());
    builder
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// Only unread ones; default false.
    unread: Option<bool>,
    /// Only those older than this id (the last one of the previous page).
    #[param(minimum = 1)]
    before: Option<i64>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    items: Vec<Notification>,
    /// Unread notifications in the whole inbox.
    unread: i64,
}

#[utoipa::path(
    get, path = "/v1/notifications", tag = "notifications",
    params(InboxParams),
    responses((status = 200, description = "The caller's notifications, newest first", body = InboxPage), BadParameter, Unauthorized),
    security(("bearer" = []))
)]
pub(crate) async fn list_notifications(
    State(api): State<NotifyApi>,
    caller: Caller,
    Query(params): Query<InboxParams>,
) -> Result<Json<InboxPage>, ApiError> {
    let limit = match params.limit {
        None => DEFAULT_LIMIT,
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )))
        }
    };
    if params.before.is_some_and(|before| before < 1) {
        return Err(ApiError::BadRequest(
            "before must be a notification id".to_owned(),
        ));
    }
    let mut builder = inbox_of(&format!("SELECT {COLUMNS}"), &caller);
    if params.unread == Some(true) {
        builder.push(" AND n.read_at IS NULL");
    }
    if let Some(before) = params.before {
        builder.push(" AND n.id < ").push_bind(before);
    }
    builder.push(" ORDER BY n.id DESC LIMIT ").push_bind(limit);
    let items: Vec<Notification> = builder.build_query_as().fetch_all(&api.pool).await?;
    let unread = unread_count(&api.pool, &caller).await?;
    Ok(Json(InboxPage { items, unread }))
}

async fn unread_count(pool: &PgPool, caller: &Caller) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM notifications
          WHERE tenant_id = $1 AND recipient = $2 AND read_at IS NULL",
    )
    .bind(caller.tenant_id)
    .bind(&caller.user_id)
    .fetch_one(pool)
    .await
}

#[utoipa::path(
    post, path = "/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = i64, Path, minimum = 1, description = "Notification id")),
    responses(
        (status = 204, description = "Read (already read: unchanged)"),
        BadParameter, Unauthorized,
        (status = 404, description = "No such notification in the caller's inbox", body = web::Problem, content_type = web::problem::PROBLEM_JSON),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn mark_read(
    State(api): State<NotifyApi>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let found: Option<i64> = sqlx::query_scalar(
        "UPDATE notifications SET read_at = coalesce(read_at, now())
          WHERE tenant_id = $1 AND recipient = $2 AND id = $3
          RETURNING id",
    )
    .bind(caller.tenant_id)
    .bind(&caller.user_id)
    .bind(id)
    .fetch_optional(&api.pool)
    .await?;
    found
        .map(|_| StatusCode::NO_CONTENT)
        .ok_or_else(|| ApiError::NotFound("notification not found".to_owned()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedRead {
    /// How many were unread and are read now.
    marked: u64,
}

#[utoipa::path(
    post, path = "/v1/notifications/read", tag = "notifications",
    responses((status = 200, description = "Every notification of the caller is read", body = MarkedRead), Unauthorized),
    security(("bearer" = []))
)]
pub(crate) async fn mark_all_read(
    State(api): State<NotifyApi>,
    caller: Caller,
) -> Result<Json<MarkedRead>, ApiError> {
    let done = sqlx::query(
        "UPDATE notifications SET read_at = now()
          WHERE tenant_id = $1 AND recipient = $2 AND read_at IS NULL",
    )
    .bind(caller.tenant_id)
    .bind(&caller.user_id)
    .execute(&api.pool)
    .await?;
    Ok(Json(MarkedRead {
        marked: done.rows_affected(),
    }))
}

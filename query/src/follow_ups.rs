//! Follow-up lists, counts and detail, from the follow-ups' inline read
//! model (current the instant a command answers).
//!
//! A follow-up is visible to whoever sees its assignee's customers or its
//! customer (the one visibility rule: a rep itself, a manager its teams, an
//! admin or auditor the tenant). "Today", "tomorrow" and "week" are days of
//! the tenant's time zone (`GET /v1/tenant/settings`): a week is today and
//! the six days after it. "Overdue" is open and due before now. Such values
//! are computed for the instant asked, never stored.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use events::personal::reveal_stored;
use projector::runner::Projection;
use store::tenant_settings::{day_start, time_zone};
use web::extract::{Path, Query};
use web::openapi::{FollowUpNotFound, QueryProblems};
use web::{ApiError, Caller};

use crate::api::QueryApi;
use crate::cursor;
use crate::customers::page_size;
use crate::freshness::{mark, wait_for};
use crate::visibility::Visibility;

/// Which due times a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    /// Open and due before now.
    Overdue,
    /// Due today (tenant time zone), earlier or later than now.
    Today,
    Tomorrow,
    /// Today and the six days after it.
    Week,
    #[default]
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    #[default]
    Open,
    Done,
    Cancelled,
    All,
}

/// Whose follow-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Whose {
    /// Assigned to the caller.
    #[default]
    Mine,
    /// Every one the caller may see: a manager's teams, an admin's tenant.
    Team,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FollowUpParams {
    /// Default `all`.
    #[param(value_type = Option<Due>, inline)]
    due: Option<Due>,
    /// Default `open`.
    #[param(value_type = Option<StatusFilter>, inline)]
    status: Option<StatusFilter>,
    /// Default `mine`; with `customer_id`, every visible one of that customer.
    #[param(value_type = Option<Whose>, inline)]
    scope: Option<Whose>,
    customer_id: Option<Uuid>,
    /// Only this assignee's (a login), among the visible ones.
    #[param(min_length = 1, max_length = 64)]
    assignee: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page (same filters).
    cursor: Option<String>,
    /// Waits (up to 2 s) until customer names include this position.
    #[param(minimum = 0)]
    min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpView {
    id: Uuid,
    /// The stream's version: send it back as `If-Match`.
    version: i64,
    customer_id: Uuid,
    /// `null` while the customer's read model catches up, or once its
    /// personal data was erased.
    customer_name: Option<String>,
    #[serde(rename = "type")]
    #[schema(value_type = events::values::ActivityType)]
    activity_type: String,
    subject: String,
    notes: Option<String>,
    due_at: DateTime<Utc>,
    remind_before_minutes: i32,
    assignee: String,
    status: FollowUpStatus,
    /// Open and due before now.
    overdue: bool,
    opportunity_id: Option<Uuid>,
    scheduled_by: String,
    scheduled_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    completed_by: Option<String>,
    outcome: Option<String>,
    cancel_reason: Option<String>,
}

/// Where a follow-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    Open,
    Done,
    Cancelled,
}

impl FollowUpStatus {
    fn of_stored(status: &str) -> Self {
        match status {
            "done" => FollowUpStatus::Done,
            "cancelled" => FollowUpStatus::Cancelled,
            _ => FollowUpStatus::Open,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    follow_up_id: Uuid,
    version: i64,
    customer_id: Uuid,
    customer_name: Option<String>,
    activity_type: String,
    subject: String,
    notes: Option<String>,
    due_at: DateTime<Utc>,
    remind_before: i32,
    assignee: String,
    status: String,
    opportunity_id: Option<Uuid>,
    scheduled_by: String,
    scheduled_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    completed_by: Option<String>,
    outcome: Option<String>,
    cancel_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpPage {
    items: Vec<FollowUpView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpCounts {
    /// Open and due before now.
    overdue: i64,
    /// Open and due today (earlier or later than now).
    today: i64,
    tomorrow: i64,
    /// Open and due today or in the six days after.
    week: i64,
    /// Every open one.
    open: i64,
    /// The tenant's time zone, whose days these are.
    time_zone: String,
    /// When today began there.
    today_starts_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CountParams {
    /// Default `mine`.
    #[param(value_type = Option<Whose>, inline)]
    scope: Option<Whose>,
}

const COLUMNS: &str = "f.follow_up_id, f.version, f.customer_id, c.name AS customer_name,
       f.activity_type, f.subject, f.notes, f.due_at, f.remind_before, f.assignee, f.status,
       f.opportunity_id, f.scheduled_by, f.scheduled_at, f.completed_at, f.completed_by,
       f.outcome, f.cancel_reason";

/// `select` `FROM follow_ups f LEFT JOIN rm_customers c ... WHERE` the
/// caller's tenant and what it may see (`scope`).
fn visible_follow_ups<'a>(
    select: &str,
    visibility: &Visibility,
    caller: &Caller,
    scope: Whose,
) -> QueryBuilder<'a, Postgres> {
    let mut builder = QueryBuilder::new(select);
    append_visibility(&mut builder, visibility, caller, scope);
    builder
}

#[utoipa::path(
    get, path = "/v1/follow-ups", tag = "follow-ups",
    params(FollowUpParams),
    responses(
        (status = 200, description = "Open ones by due time, soonest first; done and cancelled ones latest first", body = FollowUpPage),
        QueryProblems,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_follow_ups(
    State(api): State<QueryApi>,
    caller: Caller,
    visibility: Visibility,
    Query(params): Query<FollowUpParams>,
) -> Result<Response, ApiError> {
    let fresh = wait_for(&api.pool, &[Projection::Customers], params.min_position).await?;
    let limit = page_size(params.limit)?;
    let now = Utc::now();
    let zone = time_zone(&api.pool, caller.tenant_id).await?;
    let due = params.due.unwrap_or_default();
    let status = match (due, params.status.unwrap_or_default()) {
        (Due::Overdue, _) => StatusFilter::Open,
        (_, status) => status,
    };
    let scope = match (params.scope, params.customer_id) {
        (Some(scope), _) => scope,
        (None, Some(_)) => Whose::Team,
        (None, None) => Whose::Mine,
    };
    let ascending = status == StatusFilter::Open;
    let select = format!("SELECT {COLUMNS}");
    let mut builder = visible_follow_ups(&select, &visibility, &caller, scope);
    match status {
        StatusFilter::Open => builder.push(" AND f.status = 'open'"),
        StatusFilter::Done => builder.push(" AND f.status = 'done'"),
        StatusFilter::Cancelled => builder.push(" AND f.status = 'cancelled'"),
        StatusFilter::All => &mut builder,
    };
    let (from, until) = match due {
        Due::Overdue => (None, Some(now)),
        Due::Today => (Some(day_start(zone, now, 0)), Some(day_start(zone, now, 1))),
        Due::Tomorrow => (Some(day_start(zone, now, 1)), Some(day_start(zone, now, 2))),
        Due::Week => (Some(day_start(zone, now, 0)), Some(day_start(zone, now, 7))),
        Due::All => (None, None),
    };
    if let Some(from) = from {
        builder.push(" AND f.due_at >= ").push_bind(from);
    }
    if let Some(until) = until {
        builder.push(" AND f.due_at < ").push_bind(until);
    }
    if let Some(customer_id) = params.customer_id {
        builder.push(" AND f.customer_id = ").push_bind(customer_id);
    }
    if let Some(assignee) = params.assignee {
        builder.push(" AND f.assignee = ").push_bind(assignee);
    }
    if let Some(raw) = params.cursor.as_deref() {
        let (due_at, id): (DateTime<Utc>, Uuid) = cursor::decode(raw)?;
        let comparison = if ascending { " > (" } else { " < (" };
        builder
            .push(" AND (f.due_at, f.follow_up_id)")
            .push(comparison)
            .push_bind(due_at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    builder.push(if ascending {
        " ORDER BY f.due_at, f.follow_up_id LIMIT "
    } else {
        " ORDER BY f.due_at DESC, f.follow_up_id DESC LIMIT "
    });
    builder.push_bind(limit + 1);
    let mut rows: Vec<Row> = builder.build_query_as().fetch_all(&api.pool).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        rows.last()
            .map(|last| cursor::encode(&(last.due_at, last.follow_up_id)))
    } else {
        None
    };
    let items = views(&api, rows, now).await?;
    Ok(mark(
        Json(FollowUpPage { items, next_cursor }).into_response(),
        fresh,
    ))
}

#[utoipa::path(
    get, path = "/v1/follow-ups/counts", tag = "follow-ups",
    params(CountParams),
    responses((status = 200, description = "Open follow-ups by when they are due", body = FollowUpCounts), QueryProblems),
    security(("bearer" = []))
)]
pub(crate) async fn count_follow_ups(
    State(api): State<QueryApi>,
    caller: Caller,
    visibility: Visibility,
    Query(params): Query<CountParams>,
) -> Result<Json<FollowUpCounts>, ApiError> {
    let now = Utc::now();
    let zone = time_zone(&api.pool, caller.tenant_id).await?;
    let today = day_start(zone, now, 0);
    let tomorrow = day_start(zone, now, 1);
    let after_tomorrow = day_start(zone, now, 2);
    let week_end = day_start(zone, now, 7);
    let mut builder = QueryBuilder::<Postgres>::new("SELECT count(*) FILTER (WHERE f.due_at < ");
    builder
        .push_bind(now)
        .push("), count(*) FILTER (WHERE f.due_at >= ")
        .push_bind(today)
        .push(" AND f.due_at < ")
        .push_bind(tomorrow)
        .push("), count(*) FILTER (WHERE f.due_at >= ")
        .push_bind(tomorrow)
        .push(" AND f.due_at < ")
        .push_bind(after_tomorrow)
        .push("), count(*) FILTER (WHERE f.due_at >= ")
        .push_bind(today)
        .push(" AND f.due_at < ")
        .push_bind(week_end)
        .push("), count(*)");
    append_visibility(
        &mut builder,
        &visibility,
        &caller,
        params.scope.unwrap_or_default(),
    );
    builder.push(" AND f.status = 'open'");
    let (overdue, today_count, tomorrow_count, week, open): (i64, i64, i64, i64, i64) =
        builder.build_query_as().fetch_one(&api.pool).await?;
    Ok(Json(FollowUpCounts {
        overdue,
        today: today_count,
        tomorrow: tomorrow_count,
        week,
        open,
        time_zone: zone.name().to_owned(),
        today_starts_at: today,
    }))
}

/// The `FROM … WHERE` of [`visible_follow_ups`] after a select list already
/// in `builder`.
fn append_visibility(
    builder: &mut QueryBuilder<'_, Postgres>,
    visibility: &Visibility,
    caller: &Caller,
    scope: Whose,
) {
    builder
        .push(
            " FROM follow_ups f LEFT JOIN rm_customers c
                ON c.id = f.customer_id AND c.tenant_id = f.tenant_id
             WHERE f.tenant_id = ",
        )
        .push_bind(visibility.tenant_id);
    match (scope, visibility.owners.as_deref()) {
        (Whose::Mine, _) => {
            builder
                .push(" AND f.assignee = ")
                .push_bind(caller.user_id.clone());
        }
        (Whose::Team, None) => {}
        (Whose::Team, Some(owners)) => {
            builder
                .push(" AND (f.assignee = ANY(")
                .push_bind(owners.to_vec())
                .push(") OR c.owner_id = ANY(")
                .push_bind(owners.to_vec())
                .push("))");
        }
    }
}

#[utoipa::path(
    get, path = "/v1/follow-ups/{id}", tag = "follow-ups",
    params(("id" = Uuid, Path, description = "Follow-up id")),
    responses((status = 200, description = "The follow-up", body = FollowUpView), QueryProblems, FollowUpNotFound),
    security(("bearer" = []))
)]
pub(crate) async fn get_follow_up(
    State(api): State<QueryApi>,
    caller: Caller,
    visibility: Visibility,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let select = format!("SELECT {COLUMNS}");
    let mut builder = visible_follow_ups(&select, &visibility, &caller, Whose::Team);
    builder.push(" AND f.follow_up_id = ").push_bind(id);
    let row: Option<Row> = builder.build_query_as().fetch_optional(&api.pool).await?;
    let row = row.ok_or_else(|| ApiError::NotFound("follow-up not found".to_owned()))?;
    let version = row.version;
    let mut views = views(&api, vec![row], Utc::now()).await?;
    let view = views
        .pop()
        .ok_or_else(|| ApiError::internal("a follow-up row went missing"))?;
    let mut response = Json(view).into_response();
    if let Ok(etag) = axum::http::HeaderValue::from_str(&format!("\"{version}\"")) {
        response
            .headers_mut()
            .insert(axum::http::header::ETAG, etag);
    }
    Ok(response)
}

/// Rows as answered: notes and outcomes opened with their customers' keys.
async fn views(
    api: &QueryApi,
    rows: Vec<Row>,
    now: DateTime<Utc>,
) -> Result<Vec<FollowUpView>, ApiError> {
    let mut customers: Vec<Uuid> = rows
        .iter()
        .filter(|row| row.notes.is_some() || row.outcome.is_some())
        .map(|row| row.customer_id)
        .collect();
    customers.sort_unstable();
    customers.dedup();
    let keys = if customers.is_empty() {
        HashMap::new()
    } else {
        api.data_keys
            .load(&customers)
            .await
            .map_err(ApiError::internal)?
    };
    let open = |stored: Option<String>, customer: Uuid| {
        stored.and_then(|stored| {
            reveal_stored(
                &stored,
                keys.get(&customer).and_then(Option::as_ref),
                customer,
            )
        })
    };
    Ok(rows
        .into_iter()
        .map(|row| FollowUpView {
            overdue: row.status == "open" && row.due_at < now,
            notes: open(row.notes, row.customer_id),
            outcome: open(row.outcome, row.customer_id),
            id: row.follow_up_id,
            version: row.version,
            customer_id: row.customer_id,
            customer_name: row.customer_name,
            activity_type: row.activity_type,
            subject: row.subject,
            due_at: row.due_at,
            remind_before_minutes: row.remind_before,
            assignee: row.assignee,
            status: FollowUpStatus::of_stored(&row.status),
            opportunity_id: row.opportunity_id,
            scheduled_by: row.scheduled_by,
            scheduled_at: row.scheduled_at,
            completed_at: row.completed_at,
            completed_by: row.completed_by,
            cancel_reason: row.cancel_reason,
        })
        .collect())
}

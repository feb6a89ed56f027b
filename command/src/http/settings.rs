//! `PUT /v1/tenant/settings`: an admin sets the tenant's time zone.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use web::extract::Json;
use web::openapi::{BodyTooLarge, CommandProblems, RuleViolated};
use web::{ApiError, Caller, Role};

use super::CommandApi;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsRequest {
    /// An IANA time zone name (`Asia/Shanghai`, `Europe/Berlin`): whose
    /// days "today" and "tomorrow" of follow-up lists are.
    #[schema(min_length = 1, max_length = 64, example = "Asia/Shanghai")]
    time_zone: String,
}

#[utoipa::path(
    put, path = "/v1/tenant/settings", tag = "settings",
    request_body = TenantSettingsRequest,
    responses(
        (status = 200, description = "Saved", body = TenantSettingsRequest),
        CommandProblems, BodyTooLarge, RuleViolated,
    ),
    security(("bearer" = []))
)]
pub(super) async fn put_settings(
    State(api): State<CommandApi>,
    caller: Caller,
    Json(body): Json<TenantSettingsRequest>,
) -> Result<(StatusCode, axum::Json<TenantSettingsRequest>), ApiError> {
    caller.require(&[Role::Admin])?;
    let zone = store::tenant_settings::parse_time_zone(&body.time_zone)
        .map_err(|message| ApiError::field("time_zone", message))?;
    store::tenant_settings::set_time_zone(
        api.follow_ups.pool(),
        caller.tenant_id,
        zone,
        &caller.user_id,
    )
    .await?;
    Ok((
        StatusCode::OK,
        axum::Json(TenantSettingsRequest {
            time_zone: zone.name().to_owned(),
        }),
    ))
}

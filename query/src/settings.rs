//! `GET /v1/tenant/settings`: the tenant's settings (its time zone), for
//! every signed-in user (the app shows days in it).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use web::openapi::Unauthorized;
use web::{ApiError, Caller};

use crate::api::QueryApi;

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSettings {
    /// An IANA time zone name: whose days "today" and "tomorrow" are.
    #[schema(example = "Asia/Shanghai")]
    time_zone: String,
}

#[utoipa::path(
    get, path = "/v1/tenant/settings", tag = "settings",
    responses((status = 200, description = "The tenant's settings", body = TenantSettings), Unauthorized),
    security(("bearer" = []))
)]
pub(crate) async fn get_settings(
    State(api): State<QueryApi>,
    caller: Caller,
) -> Result<Json<TenantSettings>, ApiError> {
    let zone = store::tenant_settings::time_zone(&api.pool, caller.tenant_id).await?;
    Ok(Json(TenantSettings {
        time_zone: zone.name().to_owned(),
    }))
}

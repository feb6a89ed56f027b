//! The admins' routes: the tenant's rules, and switching or configuring one.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use web::extract::{Json as Body, Path};
use web::openapi::{BodyTooLarge, CommandProblems, RuleViolated, Unauthorized};
use web::{ApiError, Caller, Role};

use crate::rules::{self, Configured, Rule, RuleSettings};
use crate::AutomationApi;

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    items: Vec<Configured>,
}

#[utoipa::path(
    get, path = "/v1/automation/rules", tag = "automation",
    responses(
        (status = 200, description = "Every rule with its state and settings (unconfigured ones: off, defaults)", body = RuleList),
        Unauthorized,
        (status = 403, description = "Not an admin", body = web::Problem, content_type = web::problem::PROBLEM_JSON),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_rules(
    State(api): State<AutomationApi>,
    caller: Caller,
) -> Result<Json<RuleList>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(RuleList {
        items: rules::of_tenant(&api.pool, caller.tenant_id).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    enabled: bool,
    /// Omitted fields take the rule's defaults.
    #[serde(default)]
    settings: RuleSettings,
}

#[utoipa::path(
    put, path = "/v1/automation/rules/{rule}", tag = "automation",
    params(("rule" = Rule, Path, description = "The rule")),
    request_body = RuleRequest,
    responses(
        (status = 200, description = "Saved; takes effect at the engine's next pass (within a minute)", body = Configured),
        CommandProblems, BodyTooLarge, RuleViolated,
        (status = 404, description = "No such rule", body = web::Problem, content_type = web::problem::PROBLEM_JSON),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn put_rule(
    State(api): State<AutomationApi>,
    caller: Caller,
    Path(rule): Path<String>,
    Body(body): Body<RuleRequest>,
) -> Result<Json<Configured>, ApiError> {
    caller.require(&[Role::Admin])?;
    let rule = Rule::parse(&rule).ok_or_else(|| ApiError::NotFound("no such rule".to_owned()))?;
    let settings = rule
        .check(body.settings)
        .map_err(|(field, message)| ApiError::field(field, message))?;
    let configured = Configured {
        rule,
        enabled: body.enabled,
        settings,
    };
    rules::save(&api.pool, caller.tenant_id, &configured, &caller.user_id).await?;
    Ok(Json(configured))
}

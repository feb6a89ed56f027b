//! Automation rules, per tenant: each is off until an admin switches it on
//! and configures it (`GET /v1/automation/rules`, `PUT
//! /v1/automation/rules/{rule}`), and the engine that applies the enabled
//! ones as time passes ([`run`], in every `crm serve`).
//!
//! What the rules react to is mostly no event at all (a lead that nobody
//! contacted, a customer whose recency crossed a threshold), so the engine
//! finds it by a periodic query over the read models for rows whose
//! threshold instant has passed, not by replaying histories. Each trigger
//! acts once, also with several instances and after restarts, by
//! construction:
//!
//! - a follow-up a rule creates has a stream id derived from the rule and
//!   what triggered it (a UUID v5), so scheduling it again is refused as
//!   "already exists" and appends nothing;
//! - a notification a rule sends is unique per rule, follow-up and due time.
//!
//! Every event a rule causes has the rule as its actor (`rule:<name>`).
#![forbid(unsafe_code)]

mod engine;
mod http;
mod rules;

use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use web::JwtKeys;

pub use engine::{run, run_once, RUN_INTERVAL};
pub use rules::{Rule, RuleSettings};

/// What the rule routes need.
#[derive(Clone)]
pub struct AutomationApi {
    pub pool: PgPool,
    pub jwt: JwtKeys,
}

impl axum::extract::FromRef<AutomationApi> for JwtKeys {
    fn from_ref(api: &AutomationApi) -> JwtKeys {
        api.jwt.clone()
    }
}

pub fn router(api: AutomationApi) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(http::list_rules))
        .routes(routes!(http::put_rule))
        .with_state(api)
}

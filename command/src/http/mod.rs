//! The command routes of `/v1`: each parses its body into domain values
//! (field-level 422s), runs the command once per `Idempotency-Key`, and answers
//! `{id, version, position}` with an `ETag` of the new version.
//!
//! Every text field goes through a value type of `events::values`, so through
//! its one character rule: notes and reasons are free text (line breaks and
//! tabs allowed), every other field is one line.
//!
//! - `requests`: the request bodies and their parsing into an `Action`;
//! - `fields`: the field-error collector and the shared field parsers;
//! - `invocation`: the idempotent command invocation, its response and `ETag`,
//!   and the mapping of command failures to problems;
//! - one module of routes per resource: `customers`, `stage`, `activities`,
//!   `purchases`, `tags`.

use std::sync::Arc;

use axum::extract::FromRef;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use web::JwtKeys;

use crate::idempotency::IdempotencyStore;
use crate::service::CommandService;

mod activities;
mod customers;
mod fields;
mod invocation;
mod purchases;
mod requests;
mod stage;
mod tags;

pub use requests::{
    ArchiveParams, AssignRequest, ForgetRequest, LogActivityRequest, MoveStageRequest,
    RecordPurchaseRequest, RegisterCustomerRequest, TagRequest, UpdateProfileRequest,
};

/// What the command routes need.
#[derive(Clone)]
pub struct CommandApi {
    pub service: Arc<CommandService>,
    pub idempotency: IdempotencyStore,
    pub jwt: JwtKeys,
}

impl FromRef<CommandApi> for JwtKeys {
    fn from_ref(api: &CommandApi) -> JwtKeys {
        api.jwt.clone()
    }
}

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
pub const REQUEST_ID: &str = "x-request-id";

/// The roles that may run commands.
const WRITERS: &[web::Role] = &[web::Role::Rep, web::Role::Manager, web::Role::Admin];

pub fn router() -> OpenApiRouter<CommandApi> {
    OpenApiRouter::new()
        .routes(routes!(customers::register_customer))
        .routes(routes!(
            customers::update_profile,
            customers::archive_customer
        ))
        .routes(routes!(customers::assign_customer))
        .routes(routes!(stage::move_stage))
        .routes(routes!(activities::log_activity))
        .routes(routes!(purchases::record_purchase))
        .routes(routes!(tags::tag_customer))
        .routes(routes!(tags::untag_customer))
        .routes(routes!(customers::forget_customer))
}

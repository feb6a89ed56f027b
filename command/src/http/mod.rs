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
//!   `purchases`, `tags`; `users` (invitations and passwords),
//!   `user_admin` (the other commands on a user), `teams`, and
//!   `directory_error` (how directory failures are answered); `follow_ups`
//!   (schedule, reschedule, reassign, cancel, complete); `auth` (sign-in routes) over `sessions` (password
//!   sign-in, refresh rotation, attempt limits, revocations), which issue
//!   and refuse tokens and so belong with HTTP; `wechat` (WeChat sign-in and
//!   the caller's binding).

use std::sync::Arc;

use axum::extract::FromRef;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use web::JwtKeys;

use crate::directory::DirectoryService;
use crate::idempotency::IdempotencyStore;
use crate::service::CommandService;
use sessions::SessionService;

mod activities;
mod auth;
mod customers;
mod directory_error;
mod fields;
mod follow_ups;
mod invocation;
mod purchases;
mod requests;
pub mod sessions;
mod settings;
mod stage;
mod tags;
mod teams;
mod user_admin;
mod users;
mod wechat;

pub use requests::{
    ArchiveParams, AssignRequest, ForgetRequest, LogActivityRequest, MoveStageRequest,
    RecordPurchaseRequest, RegisterCustomerRequest, TagRequest, UpdateProfileRequest,
};

/// What the command routes need.
#[derive(Clone)]
pub struct CommandApi {
    pub service: Arc<CommandService>,
    pub directory: DirectoryService,
    pub follow_ups: crate::follow_up::FollowUpService,
    pub sessions: SessionService,
    pub idempotency: IdempotencyStore,
    pub jwt: JwtKeys,
    /// WeChat's code-to-session client; `None`: WeChat sign-in is not
    /// configured (its routes answer 501).
    pub wechat: Option<crate::wechat::WeChatClient>,
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
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(wechat::wechat_sign_in))
        .routes(routes!(wechat::bind_my_wechat, wechat::unbind_my_wechat))
        .routes(routes!(users::invite_user))
        .routes(routes!(users::reset_password))
        .routes(routes!(users::change_my_password))
        .routes(routes!(user_admin::change_role))
        .routes(routes!(user_admin::change_user_profile))
        .routes(routes!(user_admin::deactivate_user))
        .routes(routes!(user_admin::reactivate_user))
        .routes(routes!(user_admin::forget_user))
        .routes(routes!(teams::create_team))
        .routes(routes!(teams::rename_team))
        .routes(routes!(teams::put_team_member, teams::remove_team_member))
        .routes(routes!(settings::put_settings))
        .routes(routes!(follow_ups::schedule_follow_up))
        .routes(routes!(follow_ups::reschedule_follow_up))
        .routes(routes!(follow_ups::reassign_follow_up))
        .routes(routes!(follow_ups::cancel_follow_up))
        .routes(routes!(follow_ups::complete_follow_up))
}

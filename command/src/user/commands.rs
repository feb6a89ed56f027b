//! What a caller asks of a user: the command and the actions the aggregate
//! knows. Actions carry values in clear; the events seal the personal ones.

use events::values::{DisplayName, Email, Phone, ShortText, UserId};
use events::Role;

use crate::aggregate::Actor;

/// A command with the context every rule needs. No clock: no rule depends
/// on the time (the service records when it decided in the metadata).
#[derive(Debug, Clone)]
pub struct UserCommand {
    pub actor: Actor,
    /// From `If-Match`: the version the caller last saw.
    pub expected_version: Option<u64>,
    pub action: UserAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserAction {
    /// Add a person to the directory (admin only; the service checks that
    /// the login is free in the tenant).
    Invite(Invitation),
    /// Admin only; an admin cannot lower its own role.
    ChangeRole { role: Role },
    /// The user itself, or an admin.
    ChangeProfile(ProfileChange),
    /// Admin only; an admin cannot deactivate itself.
    Deactivate { reason: Option<ShortText> },
    /// Admin only.
    Reactivate,
    /// Admin only: the service sets a one-time password outside the log.
    ResetPassword,
    /// The user itself: the service stores the new hash outside the log.
    ChangePassword,
    /// The user itself: the service stores the openid outside the log.
    BindWeChat,
    /// The user itself.
    UnbindWeChat,
    /// Erase the user's personal data (admin only, deactivated users only).
    Forget { reason: ShortText },
}

impl UserAction {
    /// The command's name, recorded in event metadata.
    pub fn name(&self) -> &'static str {
        match self {
            UserAction::Invite(_) => "InviteUser",
            UserAction::ChangeRole { .. } => "ChangeUserRole",
            UserAction::ChangeProfile(_) => "ChangeUserProfile",
            UserAction::Deactivate { .. } => "DeactivateUser",
            UserAction::Reactivate => "ReactivateUser",
            UserAction::ResetPassword => "ResetUserPassword",
            UserAction::ChangePassword => "ChangeUserPassword",
            UserAction::BindWeChat => "BindUserWeChat",
            UserAction::UnbindWeChat => "UnbindUserWeChat",
            UserAction::Forget { .. } => "ForgetUser",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub login: UserId,
    pub display_name: DisplayName,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub role: Role,
}

/// Only the fields to change. The display name can be replaced, not cleared;
/// for phone and e-mail `Some(None)` clears.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChange {
    pub display_name: Option<DisplayName>,
    pub phone: Option<Option<Phone>>,
    pub email: Option<Option<Email>>,
}

impl ProfileChange {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

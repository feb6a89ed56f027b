//! The decision rules: whether a command on a user is allowed, and which
//! event (if any) it becomes, given the user's state.
//!
//! In order: the user must exist in the actor's tenant (otherwise "not
//! found", whatever the role), the actor must be allowed the action,
//! `If-Match` must name the user's version, and the user's state must accept
//! the action. A command that would change nothing appends nothing.

use events::personal::Personal;
use events::user::{
    UserDeactivated, UserForgotten, UserInvited, UserPasswordChanged, UserPasswordReset,
    UserProfileChanged, UserReactivated, UserRoleChanged, UserWeChatBound, UserWeChatUnbound,
};
use events::{Role, UserEvent};

use super::commands::{ProfileChange, UserAction, UserCommand};
use super::error::{forbidden, UserError};
use super::state::{User, UserState};
use crate::aggregate::Actor;

impl User {
    pub(super) fn decide(&self, command: UserCommand) -> Result<Option<UserEvent>, UserError> {
        let UserCommand {
            actor,
            expected_version,
            action,
        } = command;
        // A user of another tenant must look absent, even to If-Match.
        let state = self
            .state
            .as_ref()
            .filter(|state| state.tenant_id == actor.tenant_id);
        match (&action, state) {
            (UserAction::Invite(_), _) if actor.role != Role::Admin => {
                return Err(forbidden("only an admin may invite users"));
            }
            (UserAction::Invite(_), _) => {}
            (_, None) => return Err(UserError::NotFound),
            (_, Some(state)) => state.allow(&actor, &action)?,
        }
        if let Some(expected) = expected_version {
            if expected != self.version {
                return Err(UserError::VersionMismatch {
                    expected,
                    actual: self.version,
                });
            }
        }
        let UserAction::Invite(invitation) = action else {
            return state.ok_or(UserError::NotFound)?.decide(&actor, action);
        };
        if self.state.is_some() {
            return Err(UserError::AlreadyExists);
        }
        Ok(Some(UserEvent::UserInvited(UserInvited {
            tenant_id: actor.tenant_id,
            login: invitation.login,
            display_name: Personal::Clear(invitation.display_name),
            phone: invitation.phone.map(Personal::Clear),
            email: invitation.email.map(Personal::Clear),
            role: invitation.role,
        })))
    }
}

impl UserState {
    /// The decision once the actor is allowed the action.
    fn decide(&self, actor: &Actor, action: UserAction) -> Result<Option<UserEvent>, UserError> {
        if self.forgotten {
            // Repeating an erasure changes nothing; everything else is refused.
            return match action {
                UserAction::Forget { .. } => Ok(None),
                _ => Err(UserError::Forgotten),
            };
        }
        let by_admin = actor.role == Role::Admin;
        let accepted_when_deactivated = match action {
            UserAction::Reactivate | UserAction::Deactivate { .. } | UserAction::Forget { .. } => {
                true
            }
            UserAction::ChangeProfile(_) => by_admin,
            _ => false,
        };
        if !self.active && !accepted_when_deactivated {
            return Err(UserError::Deactivated);
        }
        let event = match action {
            UserAction::Invite(_) => return Err(UserError::AlreadyExists),
            UserAction::ChangeRole { role } => {
                if role == self.role {
                    return Ok(None);
                }
                UserEvent::UserRoleChanged(UserRoleChanged {
                    role,
                    previous_role: self.role,
                })
            }
            UserAction::ChangeProfile(change) => profile_changed(change)?,
            UserAction::Deactivate { reason } => {
                if !self.active {
                    return Ok(None);
                }
                UserEvent::UserDeactivated(UserDeactivated { reason })
            }
            UserAction::Reactivate => {
                if self.active {
                    return Ok(None);
                }
                UserEvent::UserReactivated(UserReactivated {})
            }
            UserAction::ResetPassword => UserEvent::UserPasswordReset(UserPasswordReset {}),
            UserAction::ChangePassword => UserEvent::UserPasswordChanged(UserPasswordChanged {}),
            // Binding again may bind another WeChat account (the openid is
            // outside the log, so the aggregate cannot tell): it is recorded.
            UserAction::BindWeChat => UserEvent::UserWeChatBound(UserWeChatBound {}),
            UserAction::UnbindWeChat => {
                if !self.wechat_bound {
                    return Ok(None);
                }
                UserEvent::UserWeChatUnbound(UserWeChatUnbound {})
            }
            UserAction::Forget { reason } => {
                // Only a user who can no longer sign in is erased: the
                // directory never holds an active user without a name, and
                // the service's "one active admin remains" check needs to
                // watch deactivation and role changes only.
                if self.active {
                    return Err(UserError::Active);
                }
                UserEvent::UserForgotten(UserForgotten { reason })
            }
        };
        Ok(Some(event))
    }

    /// Who may do what: admins administer; a user looks after its own
    /// password, profile and WeChat binding (an admin may change anyone's
    /// profile). An admin cannot lock itself out.
    fn allow(&self, actor: &Actor, action: &UserAction) -> Result<(), UserError> {
        let by_admin = actor.role == Role::Admin;
        let by_self = actor.user_id == self.login;
        let admin_only = |what: &str| {
            if by_admin {
                Ok(())
            } else {
                Err(UserError::Forbidden(format!("only an admin may {what}")))
            }
        };
        match action {
            UserAction::Invite(_) => admin_only("invite users"),
            UserAction::ChangeRole { role } => {
                admin_only("change a user's role")?;
                if by_self && *role != Role::Admin {
                    return Err(forbidden(
                        "an admin cannot lower its own role: another admin must do it",
                    ));
                }
                Ok(())
            }
            UserAction::Deactivate { .. } => {
                admin_only("deactivate a user")?;
                if by_self {
                    return Err(forbidden(
                        "an admin cannot deactivate itself: another admin must do it",
                    ));
                }
                Ok(())
            }
            UserAction::Reactivate => admin_only("reactivate a user"),
            UserAction::ResetPassword => admin_only("reset a user's password"),
            UserAction::Forget { .. } => admin_only("erase a user's personal data"),
            UserAction::ChangeProfile(_) if by_self || by_admin => Ok(()),
            UserAction::ChangeProfile(_) => Err(forbidden(
                "only the user itself or an admin may change a user's profile",
            )),
            UserAction::ChangePassword if by_self => Ok(()),
            UserAction::ChangePassword => Err(forbidden(
                "a user changes only its own password: an admin resets another's",
            )),
            UserAction::BindWeChat | UserAction::UnbindWeChat if by_self => Ok(()),
            UserAction::BindWeChat | UserAction::UnbindWeChat => Err(forbidden(
                "only the user itself may bind or unbind its WeChat account",
            )),
        }
    }
}

/// The profile change's event. Not compared with the current values (the
/// state keeps no personal data), so an unchanged value is recorded again.
fn profile_changed(change: ProfileChange) -> Result<UserEvent, UserError> {
    if change.is_empty() {
        return Err(UserError::Invalid {
            field: "profile",
            message: "the change changes nothing: give a display name, phone or email".to_owned(),
        });
    }
    Ok(UserEvent::UserProfileChanged(UserProfileChanged {
        display_name: change.display_name.map(Personal::Clear),
        phone: change.phone.map(|phone| phone.map(Personal::Clear)),
        email: change.email.map(|email| email.map(Personal::Clear)),
    }))
}

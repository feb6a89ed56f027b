//! The User aggregate's state: what the rules need to know of a user,
//! folded from its stream (`apply`), and the cqrs-es `Aggregate` that hands
//! each command to the rules. Personal fields are not kept: no rule needs
//! them, and once stored they are sealed anyway.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use events::values::UserId;
use events::{Role, UserEvent};

use super::commands::UserCommand;
use super::error::UserError;

/// The state the rules need; rebuilt from the stream on every command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub(super) version: u64,
    pub(super) state: Option<UserState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct UserState {
    pub(super) tenant_id: Uuid,
    pub(super) login: UserId,
    pub(super) role: Role,
    /// Not deactivated (a forgotten user is always deactivated too).
    pub(super) active: bool,
    pub(super) forgotten: bool,
    pub(super) wechat_bound: bool,
}

impl User {
    /// Number of events applied: the stream's version (what a no-op command
    /// answers with).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The login, once invited.
    pub fn login(&self) -> Option<&UserId> {
        self.state.as_ref().map(|state| &state.login)
    }

    /// The role, once invited.
    pub fn role(&self) -> Option<Role> {
        self.state.as_ref().map(|state| state.role)
    }

    /// Invited and not deactivated: may sign in. (For the service's "at
    /// least one active admin remains" check.)
    pub fn is_active(&self) -> bool {
        self.state.as_ref().is_some_and(|state| state.active)
    }

    pub fn is_forgotten(&self) -> bool {
        self.state.as_ref().is_some_and(|state| state.forgotten)
    }
}

impl Aggregate for User {
    const TYPE: &'static str = "User";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(event) = self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        if let UserEvent::UserInvited(invited) = event {
            self.state = Some(UserState {
                tenant_id: invited.tenant_id,
                login: invited.login,
                role: invited.role,
                active: true,
                forgotten: false,
                wechat_bound: false,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            // Only a corrupted stream starts without UserInvited; the hash
            // chain and the contiguity trigger make that impossible.
            return;
        };
        match event {
            UserEvent::UserInvited(_) => {}
            UserEvent::UserRoleChanged(changed) => state.role = changed.role,
            UserEvent::UserProfileChanged(_) => {}
            UserEvent::UserDeactivated(_) => state.active = false,
            UserEvent::UserReactivated(_) => state.active = true,
            UserEvent::UserPasswordReset(_) | UserEvent::UserPasswordChanged(_) => {}
            UserEvent::UserWeChatBound(_) => state.wechat_bound = true,
            UserEvent::UserWeChatUnbound(_) => state.wechat_bound = false,
            UserEvent::UserForgotten(_) => {
                state.forgotten = true;
                state.active = false;
            }
        }
    }
}

impl User {
    /// Decides `command` and applies the event it yields, if any: one command
    /// as the service handles it, without an event store. For building
    /// histories in memory (`crm seed`) under the service's own rules.
    pub fn decide_and_apply(
        &mut self,
        command: UserCommand,
    ) -> Result<Option<UserEvent>, UserError> {
        let event = self.decide(command)?;
        if let Some(event) = &event {
            self.apply(event.clone());
        }
        Ok(event)
    }
}

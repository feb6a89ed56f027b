//! The Team aggregate's state: what the rules need to know of a team,
//! folded from its stream (`apply`), and the cqrs-es `Aggregate` that hands
//! each command to the rules.

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use events::team::TeamRole;
use events::values::{TeamName, UserId};
use events::TeamEvent;

use super::commands::TeamCommand;
use super::error::TeamError;

/// The state the rules need; rebuilt from the stream on every command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub(super) version: u64,
    pub(super) state: Option<TeamState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct TeamState {
    pub(super) tenant_id: Uuid,
    pub(super) name: TeamName,
    pub(super) members: BTreeMap<UserId, TeamRole>,
}

impl Team {
    /// Number of events applied: the stream's version (what a no-op command
    /// answers with).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The name, once created.
    pub fn name(&self) -> Option<&TeamName> {
        self.state.as_ref().map(|state| &state.name)
    }

    /// The role of `login` in the team, if it is a member.
    pub fn member_role(&self, login: &UserId) -> Option<TeamRole> {
        self.state
            .as_ref()
            .and_then(|state| state.members.get(login).copied())
    }

    /// The members and their roles, by login.
    pub fn members(&self) -> impl Iterator<Item = (&UserId, TeamRole)> {
        self.state
            .iter()
            .flat_map(|state| state.members.iter().map(|(login, role)| (login, *role)))
    }
}

impl Aggregate for Team {
    const TYPE: &'static str = "Team";
    type Command = TeamCommand;
    type Event = TeamEvent;
    type Error = TeamError;
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
        if let TeamEvent::TeamCreated(created) = event {
            self.state = Some(TeamState {
                tenant_id: created.tenant_id,
                name: created.name,
                members: BTreeMap::new(),
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            // Only a corrupted stream starts without TeamCreated; the hash
            // chain and the contiguity trigger make that impossible.
            return;
        };
        match event {
            TeamEvent::TeamCreated(_) => {}
            TeamEvent::TeamRenamed(renamed) => state.name = renamed.name,
            TeamEvent::TeamMemberAdded(added) => {
                state.members.insert(added.login, added.role);
            }
            TeamEvent::TeamMemberRemoved(removed) => {
                state.members.remove(&removed.login);
            }
            TeamEvent::TeamMemberRoleChanged(changed) => {
                state.members.insert(changed.login, changed.role);
            }
        }
    }
}

impl Team {
    /// Decides `command` and applies the event it yields, if any: one command
    /// as the service handles it, without an event store. For building
    /// histories in memory (`crm seed`) under the service's own rules.
    pub fn decide_and_apply(
        &mut self,
        command: TeamCommand,
    ) -> Result<Option<TeamEvent>, TeamError> {
        let event = self.decide(command)?;
        if let Some(event) = &event {
            self.apply(event.clone());
        }
        Ok(event)
    }
}

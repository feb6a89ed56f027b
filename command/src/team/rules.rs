//! The decision rules: whether a command on a team is allowed, and which
//! event (if any) it becomes, given the team's state.
//!
//! In order: the team must exist in the actor's tenant (otherwise "not
//! found", whatever the role), the actor must be an admin, and `If-Match`
//! must name the team's version. A command that would change nothing appends
//! nothing. Nothing keeps a team from having no manager: a team is created
//! empty, and its last manager may leave before the next one is named.

use events::team::{
    TeamCreated, TeamMemberAdded, TeamMemberRemoved, TeamMemberRoleChanged, TeamRenamed,
};
use events::{Role, TeamEvent};

use super::commands::{TeamAction, TeamCommand};
use super::error::TeamError;
use super::state::{Team, TeamState};
use crate::aggregate::Actor;

impl Team {
    pub(super) fn decide(&self, command: TeamCommand) -> Result<Option<TeamEvent>, TeamError> {
        let TeamCommand {
            actor,
            expected_version,
            action,
        } = command;
        let create = matches!(action, TeamAction::Create { .. });
        // A team of another tenant must look absent, even to If-Match.
        let visible = self.visible_to(&actor);
        if !visible && !create {
            return Err(TeamError::NotFound);
        }
        if actor.role != Role::Admin {
            return Err(TeamError::Forbidden(
                "only an admin may create teams or change them".to_owned(),
            ));
        }
        if let Some(expected) = expected_version {
            if expected != self.version {
                return Err(TeamError::VersionMismatch {
                    expected,
                    actual: self.version,
                });
            }
        }
        match (action, &self.state) {
            (TeamAction::Create { name }, None) => Ok(Some(TeamEvent::TeamCreated(TeamCreated {
                tenant_id: actor.tenant_id,
                name,
            }))),
            (TeamAction::Create { .. }, Some(_)) => Err(TeamError::AlreadyExists),
            (action, Some(state)) => Ok(state.decide(action)?),
            (_, None) => Err(TeamError::NotFound),
        }
    }

    fn visible_to(&self, actor: &Actor) -> bool {
        self.state
            .as_ref()
            .is_some_and(|state| state.tenant_id == actor.tenant_id)
    }
}

impl TeamState {
    fn decide(&self, action: TeamAction) -> Result<Option<TeamEvent>, TeamError> {
        let event = match action {
            TeamAction::Create { .. } => return Err(TeamError::AlreadyExists),
            TeamAction::Rename { name } => {
                if name == self.name {
                    return Ok(None);
                }
                TeamEvent::TeamRenamed(TeamRenamed { name })
            }
            TeamAction::AddMember { login, role } => match self.members.get(&login) {
                Some(&current) if current == role => return Ok(None),
                Some(&current) => {
                    return Err(TeamError::AlreadyMember {
                        login,
                        role: current,
                    })
                }
                None => TeamEvent::TeamMemberAdded(TeamMemberAdded { login, role }),
            },
            TeamAction::RemoveMember { login } => {
                if !self.members.contains_key(&login) {
                    return Ok(None);
                }
                TeamEvent::TeamMemberRemoved(TeamMemberRemoved { login })
            }
            TeamAction::ChangeMemberRole { login, role } => match self.members.get(&login) {
                None => return Err(TeamError::NotAMember(login)),
                Some(&current) if current == role => return Ok(None),
                Some(_) => TeamEvent::TeamMemberRoleChanged(TeamMemberRoleChanged { login, role }),
            },
        };
        Ok(Some(event))
    }
}

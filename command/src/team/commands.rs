//! What a caller asks of a team: the command and the actions the aggregate
//! knows.

use events::team::TeamRole;
use events::values::{TeamName, UserId};

use crate::aggregate::Actor;

/// A command with the context every rule needs. No clock: no rule depends
/// on the time (the service records when it decided in the metadata).
#[derive(Debug, Clone)]
pub struct TeamCommand {
    pub actor: Actor,
    /// From `If-Match`: the version the caller last saw.
    pub expected_version: Option<u64>,
    pub action: TeamAction,
}

/// Every action is an admin's.
#[derive(Debug, Clone, PartialEq)]
pub enum TeamAction {
    Create {
        name: TeamName,
    },
    Rename {
        name: TeamName,
    },
    /// The service first checks that `login` names an active user of the
    /// tenant: the team cannot see the directory.
    AddMember {
        login: UserId,
        role: TeamRole,
    },
    RemoveMember {
        login: UserId,
    },
    /// Promote a member to manager, or demote a manager to member.
    ChangeMemberRole {
        login: UserId,
        role: TeamRole,
    },
}

impl TeamAction {
    /// The command's name, recorded in event metadata.
    pub fn name(&self) -> &'static str {
        match self {
            TeamAction::Create { .. } => "CreateTeam",
            TeamAction::Rename { .. } => "RenameTeam",
            TeamAction::AddMember { .. } => "AddTeamMember",
            TeamAction::RemoveMember { .. } => "RemoveTeamMember",
            TeamAction::ChangeMemberRole { .. } => "ChangeTeamMemberRole",
        }
    }
}

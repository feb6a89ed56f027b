//! Why a command on a team is refused. Each variant says which HTTP status
//! the command API should answer with, as the customer's errors do.

use events::team::TeamRole;
use events::values::UserId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamError {
    /// Unknown, or another tenant's team (404: another tenant's data is
    /// never a 403).
    #[error("team not found")]
    NotFound,
    /// Only admins manage teams (403).
    #[error("{0}")]
    Forbidden(String),
    /// Creating onto a stream that already exists (409).
    #[error("team already exists")]
    AlreadyExists,
    /// `If-Match` names another version (412).
    #[error("team is at version {actual}, not {expected}")]
    VersionMismatch { expected: u64, actual: u64 },
    /// Adding a member that is already in the team with another role: the
    /// caller means a role change, and should say so (409).
    #[error("{login} is already a {role} of this team: change its role instead")]
    AlreadyMember { login: UserId, role: TeamRole },
    /// Changing the role of someone who is not in the team (422, the field
    /// `login`).
    #[error("{0} is not a member of this team")]
    NotAMember(UserId),
}

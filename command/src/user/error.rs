//! Why a command on a user is refused. Each variant says which HTTP status
//! the command API should answer with, as the customer's errors do.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// Unknown, or another tenant's user (404: another tenant's data is
    /// never a 403).
    #[error("user not found")]
    NotFound,
    /// The actor's role or identity does not allow the command (403).
    #[error("{0}")]
    Forbidden(String),
    /// Inviting onto a stream that already exists (409).
    #[error("user already exists")]
    AlreadyExists,
    /// `If-Match` names another version (412).
    #[error("user is at version {actual}, not {expected}")]
    VersionMismatch { expected: u64, actual: u64 },
    /// A deactivated user accepts only reactivation, a profile change by an
    /// admin and erasure (a rule, 422, like a customer's `Archived`).
    #[error("user is deactivated")]
    Deactivated,
    /// Erasure asked of an active user: deactivate it first (a rule, 422).
    #[error("user is active: deactivate it before erasing its personal data")]
    Active,
    /// A forgotten user accepts nothing more (a rule, 422, like a
    /// customer's `Forgotten`).
    #[error("the user's personal data was erased")]
    Forgotten,
    /// A field's value is refused (422, naming the field).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

pub(super) fn forbidden(message: &str) -> UserError {
    UserError::Forbidden(message.to_owned())
}

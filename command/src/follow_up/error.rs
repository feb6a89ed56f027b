//! Why a command on a follow-up is refused; the HTTP layer maps each to a
//! status as the customer's errors are.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowUpError {
    /// Unknown, another tenant's, or not visible to the caller (404).
    #[error("follow-up not found")]
    NotFound,
    /// The customer to schedule on is unknown or not visible (404).
    #[error("customer not found")]
    CustomerNotFound,
    /// The role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Scheduling onto a stream that already exists (409).
    #[error("follow-up already exists")]
    AlreadyExists,
    /// `If-Match` names another version (412).
    #[error("follow-up is at version {actual}, not {expected}")]
    VersionMismatch { expected: u64, actual: u64 },
    /// A field's value breaks a rule (422 naming the field).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The follow-up's state does not allow it (422).
    #[error("{0}")]
    Rule(String),
}

pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> FollowUpError {
    FollowUpError::Invalid {
        field,
        message: message.into(),
    }
}

//! Why a command is refused; the service turns these into HTTP problems.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerError {
    /// Unknown, another tenant's, or (for a rep) another rep's customer.
    #[error("customer not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("customer is at version {actual}, not {expected}")]
    VersionMismatch { expected: u64, actual: u64 },
    #[error("customer is archived")]
    Archived,
    #[error("the customer's personal data was erased")]
    Forgotten,
    #[error("customer already exists")]
    AlreadyRegistered,
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Rule(String),
}

pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> CustomerError {
    CustomerError::Invalid {
        field,
        message: message.into(),
    }
}

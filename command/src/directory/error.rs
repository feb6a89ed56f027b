//! What a directory command can fail with, beyond the aggregates' own rules.

use crate::team::TeamError;
use crate::user::UserError;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Team(#[from] TeamError),
    /// The login is taken in this tenant (409).
    #[error("the login {0} is already taken in this tenant")]
    LoginTaken(String),
    /// The WeChat account is bound to another user of the tenant (409).
    #[error("this WeChat account is already bound to another user of this tenant")]
    WeChatTaken,
    /// A team member must be an active user of the tenant (422).
    #[error("{0} is not an active user of this tenant")]
    NotAnActiveUser(String),
    /// The command would leave the tenant without an active admin (422).
    #[error("the tenant must keep at least one active admin")]
    LastAdmin,
    /// Another writer appended to the stream first (409, retry).
    #[error("the record was changed concurrently; reload and retry")]
    Conflict,
    #[error("the directory is unreachable: {0}")]
    Unavailable(String),
    #[error("directory failure: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for DirectoryError {
    fn from(error: sqlx::Error) -> Self {
        if store::database_unavailable(&error) {
            DirectoryError::Unavailable(error.to_string())
        } else {
            DirectoryError::Internal(Box::new(error))
        }
    }
}

impl From<store::streams::AppendError> for DirectoryError {
    fn from(error: store::streams::AppendError) -> Self {
        use store::streams::AppendError;
        match error {
            AppendError::Conflict => DirectoryError::Conflict,
            AppendError::Database(error) => error.into(),
            AppendError::Serialise(error) => DirectoryError::Internal(Box::new(error)),
        }
    }
}

impl From<store::streams::LoadError> for DirectoryError {
    fn from(error: store::streams::LoadError) -> Self {
        match error {
            store::streams::LoadError::Database(error) => error.into(),
            other => DirectoryError::Internal(Box::new(other)),
        }
    }
}

impl From<store::data_keys::KeyError> for DirectoryError {
    fn from(error: store::data_keys::KeyError) -> Self {
        match error {
            store::data_keys::KeyError::Database(error) => error.into(),
            other => DirectoryError::Internal(Box::new(other)),
        }
    }
}

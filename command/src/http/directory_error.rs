//! How a directory command's failure is answered.

use web::ApiError;

use crate::directory::DirectoryError;
use crate::team::TeamError;
use crate::user::UserError;

pub(super) fn directory_error(error: DirectoryError) -> ApiError {
    match error {
        DirectoryError::User(rejected) => match rejected {
            UserError::NotFound => ApiError::NotFound("user not found".to_owned()),
            UserError::Forbidden(message) => ApiError::Forbidden(message),
            UserError::AlreadyExists => ApiError::Conflict(rejected.to_string()),
            UserError::VersionMismatch { .. } => ApiError::PreconditionFailed(rejected.to_string()),
            UserError::Deactivated | UserError::Active | UserError::Forgotten => {
                ApiError::rule(rejected.to_string())
            }
            UserError::Invalid { field, message } => ApiError::field(field, message),
        },
        DirectoryError::Team(rejected) => match rejected {
            TeamError::NotFound => ApiError::NotFound("team not found".to_owned()),
            TeamError::Forbidden(message) => ApiError::Forbidden(message),
            TeamError::AlreadyExists | TeamError::AlreadyMember { .. } => {
                ApiError::Conflict(rejected.to_string())
            }
            TeamError::VersionMismatch { .. } => ApiError::PreconditionFailed(rejected.to_string()),
            TeamError::NotAMember(_) => ApiError::field("login", rejected.to_string()),
        },
        DirectoryError::LoginTaken(_) | DirectoryError::WeChatTaken => {
            ApiError::Conflict(error.to_string())
        }
        DirectoryError::NotAnActiveUser(_) => ApiError::field("login", error.to_string()),
        DirectoryError::LastAdmin => ApiError::rule(error.to_string()),
        DirectoryError::Conflict => ApiError::Conflict(error.to_string()),
        DirectoryError::Unavailable(message) => {
            tracing::warn!(%message, "directory unavailable");
            ApiError::Unavailable("the directory is unavailable; retry shortly".to_owned())
        }
        DirectoryError::Internal(error) => ApiError::Internal(error),
    }
}

//! The secrets a user command stores outside the log, in the transaction
//! that appends its event: password hashes (`user_credentials`) and WeChat
//! bindings (`wechat_bindings`). The events only say that they changed.

use sqlx::PgConnection;
use uuid::Uuid;

use events::UserEvent;

use super::error::DirectoryError;
use crate::credentials::PasswordHash;
use crate::user::UserAction;
use crate::wechat::WeChatIdentity;

/// What a command brings besides its action.
pub enum UserSecret {
    /// With an invitation, a password reset or a change.
    Password(PasswordHash),
    /// With `BindWeChat`: the account WeChat vouched for.
    WeChat(WeChatIdentity),
}

/// Stores what `event` (just appended for `action`) says changed.
pub(super) async fn store(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    action: &UserAction,
    event: &UserEvent,
    secret: Option<UserSecret>,
) -> Result<(), DirectoryError> {
    match (event, secret) {
        (_, Some(UserSecret::Password(hash))) => store_password(conn, user_id, &hash, action).await,
        (UserEvent::UserWeChatBound(_), Some(UserSecret::WeChat(identity))) => {
            bind(conn, tenant_id, user_id, &identity).await
        }
        (UserEvent::UserWeChatBound(_), None) => Err(DirectoryError::Internal(
            "a WeChat binding needs the account's openid".into(),
        )),
        // Erasure takes the binding too: an openid identifies the person.
        (UserEvent::UserWeChatUnbound(_) | UserEvent::UserForgotten(_), _) => {
            sqlx::query("DELETE FROM wechat_bindings WHERE user_id = $1")
                .bind(user_id)
                .execute(conn)
                .await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn store_password(
    conn: &mut PgConnection,
    user_id: Uuid,
    password: &PasswordHash,
    action: &UserAction,
) -> Result<(), DirectoryError> {
    let one_time = !matches!(action, UserAction::ChangePassword);
    sqlx::query(
        "INSERT INTO user_credentials (user_id, password_hash, one_time)
         VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE
            SET password_hash = excluded.password_hash, one_time = excluded.one_time,
                changed_at = now()",
    )
    .bind(user_id)
    .bind(password.as_str())
    .bind(one_time)
    .execute(conn)
    .await?;
    Ok(())
}

/// Binds (or rebinds) the user; the tenant's `(tenant_id, openid)` key
/// refuses an account another user of the tenant holds.
async fn bind(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    identity: &WeChatIdentity,
) -> Result<(), DirectoryError> {
    let stored = sqlx::query(
        "INSERT INTO wechat_bindings (user_id, tenant_id, openid, unionid)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE
            SET openid = excluded.openid, unionid = excluded.unionid, bound_at = now()",
    )
    .bind(user_id)
    .bind(tenant_id)
    .bind(&identity.openid)
    .bind(&identity.unionid)
    .execute(conn)
    .await;
    match stored {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
            Err(DirectoryError::WeChatTaken)
        }
        Err(error) => Err(error.into()),
    }
}

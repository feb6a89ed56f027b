//! The directory tables (`directory_users`, `directory_teams`,
//! `directory_team_members`), kept by the events in the transaction that
//! appends them, and rebuilt from the log by [`rebuild`].
//!
//! Events arrive here in clear (before sealing), so the personal fields are
//! written as the user typed them; a forgotten user's are erased.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use events::team::TeamEvent;
use events::UserEvent;
use store::data_keys::DataKeys;

use super::error::DirectoryError;
use crate::team::Team;
use crate::user::User;

/// Applies one user event (version `version` of the stream) to the tables.
pub(super) async fn apply_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    event: &UserEvent,
    version: u64,
    at: DateTime<Utc>,
    key: Option<&events::personal::DataKey>,
) -> Result<(), sqlx::Error> {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    match event {
        UserEvent::UserInvited(invited) => {
            sqlx::query(
                "INSERT INTO directory_users (tenant_id, login, user_id, display_name, phone,
                                              email, role, active, version, invited_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $9, $9)",
            )
            .bind(invited.tenant_id)
            .bind(invited.login.as_str())
            .bind(user_id)
            .bind(invited.display_name.reveal(key, user_id))
            .bind(invited.phone.as_ref().and_then(|p| p.reveal(key, user_id)))
            .bind(invited.email.as_ref().and_then(|e| e.reveal(key, user_id)))
            .bind(invited.role.as_str())
            .bind(version)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        UserEvent::UserRoleChanged(changed) => {
            sqlx::query("UPDATE directory_users SET role = $2 WHERE user_id = $1")
                .bind(user_id)
                .bind(changed.role.as_str())
                .execute(&mut *conn)
                .await?;
        }
        UserEvent::UserProfileChanged(change) => {
            let name = change
                .display_name
                .as_ref()
                .and_then(|n| n.reveal(key, user_id));
            let phone = change
                .phone
                .as_ref()
                .map(|p| p.as_ref().and_then(|p| p.reveal(key, user_id)));
            let email = change
                .email
                .as_ref()
                .map(|e| e.as_ref().and_then(|e| e.reveal(key, user_id)));
            sqlx::query(
                "UPDATE directory_users
                    SET display_name = coalesce($2, display_name),
                        phone = CASE WHEN $3 THEN $4 ELSE phone END,
                        email = CASE WHEN $5 THEN $6 ELSE email END
                  WHERE user_id = $1",
            )
            .bind(user_id)
            .bind(name)
            .bind(phone.is_some())
            .bind(phone.flatten())
            .bind(email.is_some())
            .bind(email.flatten())
            .execute(&mut *conn)
            .await?;
        }
        UserEvent::UserDeactivated(_) => set_active(conn, user_id, false).await?,
        UserEvent::UserReactivated(_) => set_active(conn, user_id, true).await?,
        UserEvent::UserForgotten(_) => {
            sqlx::query(
                "UPDATE directory_users
                    SET display_name = NULL, phone = NULL, email = NULL,
                        forgotten = true, active = false
                  WHERE user_id = $1",
            )
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        }
        UserEvent::UserPasswordReset(_)
        | UserEvent::UserPasswordChanged(_)
        | UserEvent::UserWeChatBound(_)
        | UserEvent::UserWeChatUnbound(_) => {}
    }
    sqlx::query("UPDATE directory_users SET version = $2, updated_at = $3 WHERE user_id = $1")
        .bind(user_id)
        .bind(version)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn set_active(conn: &mut PgConnection, user_id: Uuid, active: bool) -> sqlx::Result<()> {
    sqlx::query("UPDATE directory_users SET active = $2 WHERE user_id = $1")
        .bind(user_id)
        .bind(active)
        .execute(conn)
        .await
        .map(drop)
}

/// Applies one team event (version `version` of the stream) to the tables.
pub(super) async fn apply_team(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    team_id: Uuid,
    event: &TeamEvent,
    version: u64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    match event {
        TeamEvent::TeamCreated(created) => {
            sqlx::query(
                "INSERT INTO directory_teams (tenant_id, team_id, name, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(created.tenant_id)
            .bind(team_id)
            .bind(created.name.as_str())
            .bind(version)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        TeamEvent::TeamRenamed(renamed) => {
            sqlx::query("UPDATE directory_teams SET name = $2 WHERE team_id = $1")
                .bind(team_id)
                .bind(renamed.name.as_str())
                .execute(&mut *conn)
                .await?;
        }
        TeamEvent::TeamMemberAdded(added) => {
            sqlx::query(
                "INSERT INTO directory_team_members (tenant_id, team_id, login, role)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant_id)
            .bind(team_id)
            .bind(added.login.as_str())
            .bind(added.role.as_str())
            .execute(&mut *conn)
            .await?;
        }
        TeamEvent::TeamMemberRemoved(removed) => {
            sqlx::query("DELETE FROM directory_team_members WHERE team_id = $1 AND login = $2")
                .bind(team_id)
                .bind(removed.login.as_str())
                .execute(&mut *conn)
                .await?;
        }
        TeamEvent::TeamMemberRoleChanged(changed) => {
            sqlx::query(
                "UPDATE directory_team_members SET role = $3 WHERE team_id = $1 AND login = $2",
            )
            .bind(team_id)
            .bind(changed.login.as_str())
            .bind(changed.role.as_str())
            .execute(&mut *conn)
            .await?;
        }
    }
    sqlx::query("UPDATE directory_teams SET version = $2, updated_at = $3 WHERE team_id = $1")
        .bind(team_id)
        .bind(version)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Rebuilds the directory tables from the log (after a restore, or to prove
/// that they equal what the events say): every user stream, then every team
/// stream, in one transaction. Credentials and WeChat bindings are secrets
/// outside the log and stay as they are.
pub async fn rebuild(pool: &sqlx::PgPool, data_keys: &DataKeys) -> Result<(), DirectoryError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM directory_team_members")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM directory_teams")
        .execute(&mut *tx)
        .await?;
    // Users keep their rows (credentials reference them): upserted below.
    let streams: Vec<(String, String, Uuid)> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, tenant_id FROM events
          WHERE aggregate_type IN ('User', 'Team') AND sequence = 1
          ORDER BY aggregate_type DESC, global_position",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (aggregate_type, id, tenant_id) in streams {
        let Ok(stream_id) = Uuid::parse_str(&id) else {
            continue;
        };
        let history: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT sequence, recorded_at FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
        )
        .bind(&aggregate_type)
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
        if aggregate_type == "User" {
            let events: Vec<UserEvent> =
                store::streams::load(&mut tx, <User as cqrs_es::Aggregate>::TYPE, &id).await?;
            let key = data_keys
                .load(&[stream_id])
                .await?
                .remove(&stream_id)
                .flatten();
            for ((sequence, at), event) in history.into_iter().zip(&events) {
                let version = u64::try_from(sequence).unwrap_or(0);
                if version == 1 {
                    upsert_invited(&mut tx, stream_id, event, at, key.as_ref()).await?;
                } else {
                    apply_user(&mut tx, stream_id, event, version, at, key.as_ref()).await?;
                }
            }
        } else {
            let events: Vec<TeamEvent> =
                store::streams::load(&mut tx, <Team as cqrs_es::Aggregate>::TYPE, &id).await?;
            for ((sequence, at), event) in history.into_iter().zip(&events) {
                let version = u64::try_from(sequence).unwrap_or(0);
                apply_team(&mut tx, tenant_id, stream_id, event, version, at).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The first event of a user stream during a rebuild: the row may still be
/// there (its credentials keep it), so it is reset rather than inserted.
async fn upsert_invited(
    conn: &mut PgConnection,
    user_id: Uuid,
    event: &UserEvent,
    at: DateTime<Utc>,
    key: Option<&events::personal::DataKey>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM directory_users WHERE user_id = $1 AND NOT EXISTS (SELECT 1 FROM user_credentials c WHERE c.user_id = $1)")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM directory_users WHERE user_id = $1)")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        return apply_user(conn, user_id, event, 1, at, key).await;
    }
    if let UserEvent::UserInvited(invited) = event {
        sqlx::query(
            "UPDATE directory_users
                SET display_name = $2, phone = $3, email = $4, role = $5, active = true,
                    forgotten = false, version = 1, invited_at = $6, updated_at = $6
              WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(invited.display_name.reveal(key, user_id))
        .bind(invited.phone.as_ref().and_then(|p| p.reveal(key, user_id)))
        .bind(invited.email.as_ref().and_then(|e| e.reveal(key, user_id)))
        .bind(invited.role.as_str())
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

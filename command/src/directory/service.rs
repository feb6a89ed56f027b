//! Runs commands on users and teams: load the stream, decide with the
//! aggregate, check what only the directory knows (a free login, an active
//! member, a remaining admin), seal personal fields, append, and update the
//! directory tables, all in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use cqrs_es::Aggregate;
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;
use uuid::Uuid;

use events::team::TeamEvent;
use events::values::{DisplayName, UserId};
use events::{Role, UserEvent};
use store::data_keys::DataKeys;

use super::error::DirectoryError;
use super::model::{apply_team, apply_user};
use super::secrets::{self, UserSecret};
use crate::aggregate::Actor;
use crate::credentials::PasswordHash;
use crate::service::{Accepted, RequestContext};
use crate::team::{Team, TeamAction, TeamCommand};
use crate::user::{Invitation, User, UserAction, UserCommand};

#[derive(Clone)]
pub struct DirectoryService {
    pool: PgPool,
    data_keys: DataKeys,
}

/// A tenant and its first admin.
pub struct NewTenant {
    pub tenant_id: Uuid,
    pub name: String,
    pub admin_login: UserId,
    pub admin_name: DisplayName,
    pub admin_password: PasswordHash,
}

pub struct TenantCreated {
    pub tenant_id: Uuid,
    pub admin: Accepted,
}

/// The actor of what the system does by itself (creating a tenant's first admin).
pub const SYSTEM_ACTOR: &str = "system";

impl DirectoryService {
    pub fn new(pool: PgPool, data_keys: DataKeys) -> Self {
        Self { pool, data_keys }
    }

    /// Creates a tenant and invites its first admin, whose password is set
    /// as a one-time password.
    pub async fn create_tenant(&self, tenant: NewTenant) -> Result<TenantCreated, DirectoryError> {
        let tenant_id = tenant.tenant_id;
        sqlx::query("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)")
            .bind(tenant_id)
            .bind(&tenant.name)
            .execute(&self.pool)
            .await?;
        let actor = Actor {
            tenant_id,
            user_id: UserId::parse(SYSTEM_ACTOR)
                .map_err(|error| DirectoryError::Internal(error.into()))?,
            role: Role::Admin,
        };
        let user_id = Uuid::now_v7();
        let command = UserCommand {
            actor,
            expected_version: None,
            action: UserAction::Invite(Invitation {
                login: tenant.admin_login,
                display_name: tenant.admin_name,
                phone: None,
                email: None,
                role: Role::Admin,
            }),
        };
        let admin = self
            .execute_user_with(
                user_id,
                command,
                &RequestContext::default(),
                Some(UserSecret::Password(tenant.admin_password)),
            )
            .await?;
        Ok(TenantCreated { tenant_id, admin })
    }

    /// Runs a command on the user `user_id`. `password` is stored with an
    /// invitation or a password reset or change, in the same transaction.
    pub async fn execute_user(
        &self,
        user_id: Uuid,
        command: UserCommand,
        request: &RequestContext,
        password: Option<PasswordHash>,
    ) -> Result<Accepted, DirectoryError> {
        let secret = password.map(UserSecret::Password);
        self.execute_user_secret(user_id, command, request, secret)
            .await
    }

    /// Runs a command on the user `user_id`, storing `secret` (a password
    /// hash, or the WeChat account of `BindWeChat`) in the same transaction.
    pub async fn execute_user_secret(
        &self,
        user_id: Uuid,
        command: UserCommand,
        request: &RequestContext,
        secret: Option<UserSecret>,
    ) -> Result<Accepted, DirectoryError> {
        let span = tracing::info_span!(
            "execute_user",
            user_id = %user_id,
            command = command.action.name(),
            actor = %command.actor.user_id,
        );
        self.execute_user_with(user_id, command, request, secret)
            .instrument(span)
            .await
    }

    async fn execute_user_with(
        &self,
        user_id: Uuid,
        command: UserCommand,
        request: &RequestContext,
        secret: Option<UserSecret>,
    ) -> Result<Accepted, DirectoryError> {
        let now = Utc::now().trunc_subsecs(6);
        let tenant_id = command.actor.tenant_id;
        let metadata = metadata(&command.actor, command.action.name(), request, now);
        let action = command.action.clone();
        let mut tx = self.pool.begin().await?;
        let stream = user_id.to_string();
        let mut user = User::default();
        for event in store::streams::load::<UserEvent>(&mut tx, User::TYPE, &stream).await? {
            user.apply(event);
        }
        let version = user.version();
        let was_admin = user.is_active() && user.role() == Some(Role::Admin);
        let Some(event) = user.decide_and_apply(command)? else {
            let position = last_position(&mut tx, User::TYPE, &stream).await?;
            return Ok(accepted(user_id, version, position));
        };
        let still_admin = user.is_active() && user.role() == Some(Role::Admin);
        if was_admin && !still_admin {
            keep_an_admin(&mut tx, tenant_id, user_id).await?;
        }
        if let UserAction::Forget { reason } = &action {
            self.data_keys
                .destroy(user_id, tenant_id, reason.as_str())
                .await?;
        }
        let key = if event.has_personal_data() {
            Some(self.data_keys.get_or_create(user_id, tenant_id).await?)
        } else {
            None
        };
        let mut sealed = event.clone();
        if let Some(key) = &key {
            sealed.seal_personal(key, user_id);
        }
        let position = store::streams::append(
            &mut tx,
            User::TYPE,
            &stream,
            version,
            std::slice::from_ref(&sealed),
            &metadata,
        )
        .await?;
        let applied = apply_user(&mut tx, user_id, &event, version + 1, now, key.as_ref()).await;
        if let Err(error) = applied {
            return Err(login_taken(error, &event));
        }
        secrets::store(&mut tx, tenant_id, user_id, &action, &event, secret).await?;
        announce(&mut tx, tenant_id).await?;
        tx.commit().await?;
        Ok(accepted(user_id, version + 1, position.unwrap_or_default()))
    }

    /// The user's id and password hash, for checking a password.
    pub async fn credentials(
        &self,
        tenant_id: Uuid,
        login: &UserId,
    ) -> Result<Option<(Uuid, PasswordHash)>, DirectoryError> {
        let row: Option<(Uuid, String)> = sqlx::query_as(
            "SELECT u.user_id, c.password_hash
               FROM directory_users u JOIN user_credentials c USING (user_id)
              WHERE u.tenant_id = $1 AND u.login = $2",
        )
        .bind(tenant_id)
        .bind(login.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, hash)| (id, PasswordHash::from_stored(hash))))
    }

    /// The id of the user signed in as `login`, if it is in the directory.
    pub async fn user_id(
        &self,
        tenant_id: Uuid,
        login: &UserId,
    ) -> Result<Option<Uuid>, DirectoryError> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM directory_users WHERE tenant_id = $1 AND login = $2",
        )
        .bind(tenant_id)
        .bind(login.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The member's role in the team, if it is one.
    pub async fn member_role(
        &self,
        team_id: Uuid,
        login: &UserId,
    ) -> Result<Option<String>, DirectoryError> {
        Ok(sqlx::query_scalar(
            "SELECT role FROM directory_team_members WHERE team_id = $1 AND login = $2",
        )
        .bind(team_id)
        .bind(login.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Runs a command on the team `team_id`.
    pub async fn execute_team(
        &self,
        team_id: Uuid,
        command: TeamCommand,
        request: &RequestContext,
    ) -> Result<Accepted, DirectoryError> {
        let span = tracing::info_span!(
            "execute_team",
            team_id = %team_id,
            command = command.action.name(),
            actor = %command.actor.user_id,
        );
        async {
            let now = Utc::now().trunc_subsecs(6);
            let tenant_id = command.actor.tenant_id;
            let metadata = metadata(&command.actor, command.action.name(), request, now);
            let mut tx = self.pool.begin().await?;
            if let TeamAction::AddMember { login, .. } = &command.action {
                require_active_user(&mut tx, tenant_id, login).await?;
            }
            let stream = team_id.to_string();
            let mut team = Team::default();
            for event in store::streams::load::<TeamEvent>(&mut tx, Team::TYPE, &stream).await? {
                team.apply(event);
            }
            let version = team.version();
            let Some(event) = team.decide_and_apply(command)? else {
                let position = last_position(&mut tx, Team::TYPE, &stream).await?;
                return Ok(accepted(team_id, version, position));
            };
            let position = store::streams::append(
                &mut tx,
                Team::TYPE,
                &stream,
                version,
                std::slice::from_ref(&event),
                &metadata,
            )
            .await?;
            apply_team(&mut tx, tenant_id, team_id, &event, version + 1, now).await?;
            announce(&mut tx, tenant_id).await?;
            tx.commit().await?;
            Ok(accepted(team_id, version + 1, position.unwrap_or_default()))
        }
        .instrument(span)
        .await
    }
}

/// Tells the read cache, at commit, that the tenant's answers changed (they
/// carry owners' display names).
async fn announce(conn: &mut PgConnection, tenant_id: Uuid) -> Result<(), DirectoryError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(store::READ_MODELS_CHANNEL)
        .bind(tenant_id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

fn accepted(id: Uuid, version: u64, position: i64) -> Accepted {
    Accepted {
        id,
        version,
        position,
    }
}

/// A duplicate login surfaces as the directory row's primary key.
fn login_taken(error: sqlx::Error, event: &UserEvent) -> DirectoryError {
    match (&error, event) {
        (sqlx::Error::Database(db), UserEvent::UserInvited(invited))
            if db.code().as_deref() == Some("23505") =>
        {
            DirectoryError::LoginTaken(invited.login.to_string())
        }
        _ => error.into(),
    }
}

async fn last_position(
    conn: &mut PgConnection,
    aggregate_type: &str,
    stream: &str,
) -> Result<i64, DirectoryError> {
    let position: Option<i64> = sqlx::query_scalar(
        "SELECT max(global_position) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(aggregate_type)
    .bind(stream)
    .fetch_one(conn)
    .await?;
    Ok(position.unwrap_or_default())
}

/// Refuses to take the last active admin away: locks the tenant's active
/// admins, so two admins demoting each other at once cannot both succeed.
async fn keep_an_admin(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    leaving: Uuid,
) -> Result<(), DirectoryError> {
    let others: Vec<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM directory_users
          WHERE tenant_id = $1 AND role = 'admin' AND active
          FOR UPDATE",
    )
    .bind(tenant_id)
    .fetch_all(conn)
    .await?;
    if others.iter().any(|admin| *admin != leaving) {
        Ok(())
    } else {
        Err(DirectoryError::LastAdmin)
    }
}

/// A team member must be an active user of the tenant; the row is locked so
/// that a deactivation cannot slip in before the commit.
async fn require_active_user(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    login: &UserId,
) -> Result<(), DirectoryError> {
    let active: Option<bool> = sqlx::query_scalar(
        "SELECT active FROM directory_users WHERE tenant_id = $1 AND login = $2 FOR SHARE",
    )
    .bind(tenant_id)
    .bind(login.as_str())
    .fetch_optional(conn)
    .await?;
    match active {
        Some(true) => Ok(()),
        _ => Err(DirectoryError::NotAnActiveUser(login.to_string())),
    }
}

/// The metadata every inline-projected aggregate's events carry (the
/// directory's and follow-ups').
pub(crate) fn metadata(
    actor: &Actor,
    command: &str,
    request: &RequestContext,
    now: DateTime<Utc>,
) -> HashMap<String, String> {
    let mut metadata = HashMap::from([
        ("tenant_id".to_owned(), actor.tenant_id.to_string()),
        ("actor".to_owned(), actor.user_id.to_string()),
        ("role".to_owned(), actor.role.as_str().to_owned()),
        ("command".to_owned(), command.to_owned()),
        ("correlation_id".to_owned(), request.correlation_id.clone()),
        (
            "occurred_at".to_owned(),
            now.to_rfc3339_opts(SecondsFormat::Micros, true),
        ),
    ]);
    if let Some(key) = &request.idempotency_key {
        metadata.insert("idempotency_key".to_owned(), key.clone());
    }
    metadata
}

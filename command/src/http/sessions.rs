//! Signing in with a password or a WeChat account: short-lived access
//! tokens, rotating refresh tokens with reuse detection, sign-out, and the
//! limits on attempts. Both ways in open the same kind of session.
//!
//! A refresh token is 32 random bytes, given to the client once and stored
//! only as its SHA-256. Each refresh replaces it with a new one of the same
//! family; presenting a token that was already replaced means it leaked (or
//! the client lost an answer), and revokes the whole family.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::OnceCell;
use uuid::Uuid;

use events::values::UserId;
use events::Role;
use web::auth::Revocations;
use web::JwtKeys;

use crate::credentials::{HashError, Password, PasswordHash};
use crate::wechat::{WeChatClient, WeChatError};

/// How long an access token lives.
pub const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a refresh token lives unused.
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Sign-in attempts allowed per login, and per client address, in
/// [`ATTEMPT_WINDOW`].
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimits {
    pub per_login: u32,
    pub per_address: u32,
}

impl Default for AttemptLimits {
    fn default() -> Self {
        Self {
            per_login: 5,
            per_address: 30,
        }
    }
}
/// How often the set of deactivated users' logins is read again.
pub const REVOCATION_REFRESH: Duration = Duration::from_secs(30);

/// What a sign-in or a refresh answers.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Session {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// Exchange it at `/v1/auth/refresh` for a new pair; it works once.
    pub refresh_token: String,
    pub tenant_id: Uuid,
    pub login: String,
    pub role: Role,
    /// The password was set by an admin (or at creation): change it.
    pub must_change_password: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Wrong tenant, login or password, or a deactivated user: one answer
    /// for all, so nobody learns which logins exist.
    #[error("the tenant, login or password is not right")]
    BadCredentials,
    /// Too many attempts: try again after this long.
    #[error("too many sign-in attempts; retry in {} s", .0.as_secs().max(1))]
    TooManyAttempts(Duration),
    /// The refresh token is unknown, expired, revoked or reused.
    #[error("the refresh token is not valid; sign in again")]
    BadRefreshToken,
    /// No active user of the tenant is bound to the WeChat account: an
    /// unknown tenant or account and a deactivated user answer alike.
    #[error(
        "no active user of this tenant is bound to this WeChat account: sign in with \
         your password once and bind WeChat (PUT /v1/me/wechat)"
    )]
    NotBound,
    #[error(transparent)]
    WeChat(#[from] WeChatError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Clone)]
pub struct SessionService {
    pool: PgPool,
    jwt: JwtKeys,
    limits: AttemptLimits,
    limiter: Arc<AttemptLimiter>,
}

/// A hash no password matches, verified when the login is unknown so that a
/// wrong login takes as long as a wrong password.
static DECOY: OnceCell<PasswordHash> = OnceCell::const_new();

impl SessionService {
    pub fn new(pool: PgPool, jwt: JwtKeys, limits: AttemptLimits) -> Self {
        Self {
            pool,
            jwt,
            limits,
            limiter: Arc::default(),
        }
    }

    /// Checks the password and opens a session.
    pub async fn sign_in(
        &self,
        tenant_id: Uuid,
        login: &str,
        password: &str,
        address: &str,
    ) -> Result<Session, SessionError> {
        let login_key = format!("{tenant_id}/{login}");
        self.limiter.take(&login_key, self.limits.per_login)?;
        self.limiter.take(address, self.limits.per_address)?;
        let row: Option<(Uuid, String, String, bool, bool)> = match UserId::parse(login) {
            Ok(login) => {
                sqlx::query_as(
                    "SELECT u.user_id, u.role, c.password_hash, u.active, c.one_time
                       FROM directory_users u JOIN user_credentials c USING (user_id)
                      WHERE u.tenant_id = $1 AND u.login = $2",
                )
                .bind(tenant_id)
                .bind(login.as_str())
                .fetch_optional(&self.pool)
                .await?
            }
            Err(_) => None,
        };
        let Some((user_id, role, hash, active, one_time)) = row else {
            let decoy = DECOY
                .get_or_try_init(|| async { PasswordHash::of(&Password::one_time()).await })
                .await?;
            decoy.verify(password.to_owned()).await?;
            return Err(SessionError::BadCredentials);
        };
        let matches = PasswordHash::from_stored(hash)
            .verify(password.to_owned())
            .await?;
        let role: Role = role.parse().map_err(|_| SessionError::BadCredentials)?;
        if !matches || !active {
            return Err(SessionError::BadCredentials);
        }
        self.limiter.forget(&login_key);
        self.open(user_id, tenant_id, login, role, one_time).await
    }

    /// Trades a `wx.login` code for a session of the active user bound to
    /// the WeChat account in the tenant. Attempts count against the
    /// address's limit before WeChat is called, as password sign-ins do.
    #[tracing::instrument(name = "wechat_sign_in", skip_all, fields(%tenant_id))]
    pub async fn sign_in_wechat(
        &self,
        tenant_id: Uuid,
        code: &str,
        address: &str,
        wechat: &WeChatClient,
    ) -> Result<Session, SessionError> {
        self.limiter.take(address, self.limits.per_address)?;
        let identity = wechat.exchange(code).await?;
        let row: Option<(Uuid, String, String, bool, Option<bool>)> = sqlx::query_as(
            "SELECT u.user_id, u.login, u.role, u.active, c.one_time
               FROM wechat_bindings b
               JOIN directory_users u USING (user_id)
               LEFT JOIN user_credentials c USING (user_id)
              WHERE b.tenant_id = $1 AND b.openid = $2",
        )
        .bind(tenant_id)
        .bind(&identity.openid)
        .fetch_optional(&self.pool)
        .await?;
        let Some((user_id, login, role, true, one_time)) = row else {
            return Err(SessionError::NotBound);
        };
        let role: Role = role.parse().map_err(|_| SessionError::NotBound)?;
        self.open(user_id, tenant_id, &login, role, one_time.unwrap_or(false))
            .await
    }

    /// Opens a session for a user whose identity was proven: a new refresh
    /// token family and an access token.
    async fn open(
        &self,
        user_id: Uuid,
        tenant_id: Uuid,
        login: &str,
        role: Role,
        must_change_password: bool,
    ) -> Result<Session, SessionError> {
        let family = Uuid::now_v7();
        let refresh = self.store_refresh(user_id, family).await?;
        Ok(self.session(tenant_id, login, role, refresh, must_change_password))
    }

    /// Rotates `refresh_token`: answers a new pair, and refuses (revoking
    /// the family) a token that was already rotated.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, SessionError> {
        let digest = digest(refresh_token);
        let mut tx = self.pool.begin().await?;
        let row: Option<(Uuid, Uuid, bool, bool, bool)> = sqlx::query_as(
            "SELECT r.family_id, r.user_id, r.rotated_at IS NOT NULL OR r.revoked_at IS NOT NULL,
                    r.expires_at < now(), u.active
               FROM refresh_tokens r JOIN directory_users u USING (user_id)
              WHERE r.token_hash = $1
              FOR UPDATE OF r",
        )
        .bind(&digest)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family, user_id, used, expired, active)) = row else {
            return Err(SessionError::BadRefreshToken);
        };
        if used || !active {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = now()
                  WHERE family_id = $1 AND revoked_at IS NULL",
            )
            .bind(family)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Err(SessionError::BadRefreshToken);
        }
        if expired {
            return Err(SessionError::BadRefreshToken);
        }
        sqlx::query("UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1")
            .bind(&digest)
            .execute(&mut *tx)
            .await?;
        let (tenant_id, login, role, one_time): (Uuid, String, String, bool) = sqlx::query_as(
            "SELECT u.tenant_id, u.login, u.role, c.one_time
               FROM directory_users u JOIN user_credentials c USING (user_id)
              WHERE u.user_id = $1",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        let token = new_token();
        insert_refresh(&mut tx, &token, user_id, family).await?;
        tx.commit().await?;
        let role: Role = role.parse().map_err(|_| SessionError::BadRefreshToken)?;
        Ok(self.session(tenant_id, &login, role, token, one_time))
    }

    /// Ends the session of `refresh_token` (its whole family). Unknown
    /// tokens are ignored: signing out twice is no error.
    pub async fn sign_out(&self, refresh_token: &str) -> Result<(), SessionError> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = now()
              WHERE revoked_at IS NULL
                AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
        )
        .bind(digest(refresh_token))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn store_refresh(&self, user_id: Uuid, family: Uuid) -> Result<String, SessionError> {
        let token = new_token();
        let mut conn = self.pool.acquire().await?;
        insert_refresh(&mut conn, &token, user_id, family).await?;
        Ok(token)
    }

    fn session(
        &self,
        tenant_id: Uuid,
        login: &str,
        role: Role,
        refresh_token: String,
        must_change_password: bool,
    ) -> Session {
        Session {
            access_token: self.jwt.issue(tenant_id, login, role, ACCESS_TTL),
            token_type: "Bearer",
            expires_in: ACCESS_TTL.as_secs(),
            refresh_token,
            tenant_id,
            login: login.to_owned(),
            role,
            must_change_password,
        }
    }
}

fn new_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

async fn insert_refresh(
    conn: &mut sqlx::PgConnection,
    token: &str,
    user_id: Uuid,
    family: Uuid,
) -> Result<(), sqlx::Error> {
    let expires =
        Utc::now() + chrono::Duration::from_std(REFRESH_TTL).unwrap_or(chrono::Duration::days(30));
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(digest(token))
    .bind(family)
    .bind(user_id)
    .bind(expires)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts attempts per key in fixed windows, in memory (per instance: with
/// several instances behind a balancer the limit is per instance).
#[derive(Default)]
struct AttemptLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl AttemptLimiter {
    fn take(&self, key: &str, limit: u32) -> Result<(), SessionError> {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < ATTEMPT_WINDOW);
        }
        let (start, count) = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(*start) >= ATTEMPT_WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= limit {
            return Err(SessionError::TooManyAttempts(
                ATTEMPT_WINDOW.saturating_sub(now.duration_since(*start)),
            ));
        }
        *count += 1;
        Ok(())
    }

    fn forget(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

/// Keeps `revocations` equal to the deactivated users of every tenant,
/// reading them every [`REVOCATION_REFRESH`] until `stop` turns true.
pub async fn keep_revocations(
    pool: PgPool,
    revocations: Revocations,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match deactivated(&pool).await {
            Ok(revoked) => revocations.replace(revoked),
            Err(error) => tracing::warn!(%error, "could not read the deactivated users"),
        }
        tokio::select! {
            () = tokio::time::sleep(REVOCATION_REFRESH) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Every deactivated user, as (tenant, login).
pub async fn deactivated(pool: &PgPool) -> Result<HashSet<(Uuid, String)>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT tenant_id, login FROM directory_users WHERE NOT active")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

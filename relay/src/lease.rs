//! The relay's leader lease: of several processes relaying one database to
//! one topic (`crm serve` instances behind a load balancer, a `crm relay`),
//! only the holder of a PostgreSQL session-level advisory lock publishes.
//!
//! Why an advisory lock rather than a lease row with a heartbeat: the server
//! frees a session lock the moment the session ends, so a leader killed with
//! SIGKILL (its socket closed by the kernel) is replaced at the next try of a
//! standby, about a second, with no clock or expiry to tune; a heartbeat row
//! would have to expire before anyone took over, and would need a migration.
//! The lock lives on a connection of its own, outside the pool, which could
//! otherwise hand the session (and the lock with it) to another task or
//! close it when idle.
//!
//! The lock only says who may publish *now*; a leader that lost its session
//! (a database restart, a network cut) may not have noticed yet. So every
//! checkpoint commit of a leader is fenced: it succeeds only while the lock
//! connection's backend still holds the lock ([`Fence`]), and otherwise fails
//! with [`crate::RelayError::LeaseLost`], after which the relay stands by.
//! What such a stale leader sent before its next commit (at most the two
//! batches `Relay::drain` pipelines) goes out twice, which at-least-once
//! delivery allows.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// The advisory lock's first key: `crmr` in ASCII, so that the relay's lock
/// cannot meet another application's in the same database. The second key
/// is `hashtext(topic)`: relays of different topics do not exclude each other.
const LOCK_NAMESPACE: i32 = 0x6372_6d72;

/// How long one lease query (connect, try, check) may take before the
/// lease counts as not held: a leader that cannot reach its database within
/// this cannot prove it still leads.
const LEASE_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Shown in `pg_stat_activity`, so an operator can find the holder.
const LEASE_APPLICATION_NAME: &str = "crm-relay-lease";

/// Proof of leadership a checkpoint commit checks in its own transaction:
/// the backend holding the lock and the topic it was taken for.
#[derive(Debug, Clone)]
pub struct Fence {
    pub(crate) backend_pid: i32,
    pub(crate) topic: String,
}

impl Fence {
    /// Whether the backend still holds the lock, asked on any connection.
    /// (A backend id is reused only after its session ended, and then only
    /// a session holding this very lock would pass: a relay of this topic.)
    pub(crate) async fn holds(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks
                             WHERE locktype = 'advisory' AND granted AND pid = $1
                               AND classid = $2::int4::oid AND objid = hashtext($3)::oid
                               AND objsubid = 2)",
        )
        .bind(self.backend_pid)
        .bind(LOCK_NAMESPACE)
        .bind(&self.topic)
        .fetch_one(conn)
        .await
    }
}

/// This process's claim on the lease for one topic: a dedicated connection
/// (kept between tries, so a standby does not reconnect every second) and,
/// while held, the [`Fence`] that proves it.
pub struct Lease {
    options: PgConnectOptions,
    topic: String,
    connection: Option<PgConnection>,
    fence: Option<Fence>,
}

impl Lease {
    /// A claim not yet tried; `options` are the pool's (same server, user,
    /// database), used for a connection of the lease's own.
    pub fn new(options: &PgConnectOptions, topic: &str) -> Self {
        Lease {
            options: options.clone().application_name(LEASE_APPLICATION_NAME),
            topic: topic.to_owned(),
            connection: None,
            fence: None,
        }
    }

    /// The proof to fence commits with, while the lease is held.
    pub fn fence(&self) -> Option<Fence> {
        self.fence.clone()
    }

    pub fn is_held(&self) -> bool {
        self.fence.is_some()
    }

    /// Takes the lease when it is free, or checks that it is still held;
    /// returns whether this process holds it now. Never fails: a database
    /// that cannot be reached means the lease is not held (and the
    /// connection is opened again at the next try).
    #[tracing::instrument(name = "relay_lease", skip(self), fields(topic = %self.topic))]
    pub async fn refresh(&mut self) -> bool {
        let held_before = self.is_held();
        let outcome = tokio::time::timeout(LEASE_QUERY_TIMEOUT, self.try_hold()).await;
        let (held, session_failed) = match outcome {
            Ok(Ok(held)) => (held, false),
            Ok(Err(error)) => {
                tracing::warn!(%error, "the relay lease's connection failed");
                (false, true)
            }
            Err(_) => {
                tracing::warn!(timeout = ?LEASE_QUERY_TIMEOUT, "the relay lease's database did not answer in time");
                (false, true)
            }
        };
        if !held && (held_before || session_failed) {
            // The session (and any lock on it) is of no further use.
            self.connection = None;
            self.fence = None;
        }
        match (held_before, held) {
            (false, true) => tracing::info!("took the relay lease: this instance publishes"),
            (true, false) => tracing::warn!("lost the relay lease: standing by"),
            _ => {}
        }
        held
    }

    async fn try_hold(&mut self) -> Result<bool, sqlx::Error> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => {
                let mut connection = self.options.connect().await?;
                // The server frees the lock when it sees the session end: a
                // closed socket at once, a vanished host only through TCP
                // keepalives, which by default take hours. Ask this session's
                // backend to probe after 5 s of silence, then every second,
                // giving up after 3 (ignored on Unix-domain sockets, where
                // the kernel reports the peer's death).
                sqlx::query(
                    "SELECT set_config('tcp_keepalives_idle', '5', false),
                            set_config('tcp_keepalives_interval', '1', false),
                            set_config('tcp_keepalives_count', '3', false)",
                )
                .execute(&mut connection)
                .await?;
                self.connection.insert(connection)
            }
        };
        if let Some(fence) = &self.fence {
            return fence.holds(connection).await;
        }
        let (taken, backend_pid): (bool, i32) =
            sqlx::query_as("SELECT pg_try_advisory_lock($1, hashtext($2)), pg_backend_pid()")
                .bind(LOCK_NAMESPACE)
                .bind(&self.topic)
                .fetch_one(&mut *connection)
                .await?;
        if taken {
            self.fence = Some(Fence {
                backend_pid,
                topic: self.topic.clone(),
            });
        }
        Ok(taken)
    }

    /// Gives the lease up at once (on shutdown), so that a standby takes
    /// over at its next try instead of after the session times out.
    pub async fn release(&mut self) {
        self.fence = None;
        if let Some(connection) = self.connection.take() {
            // Closing the session frees its locks; an error means it is gone already.
            if let Err(error) = connection.close().await {
                tracing::debug!(%error, "the relay lease's connection was already gone");
            }
        }
    }

    /// Forgets a lease a fenced commit found lost: the session is dropped
    /// and the next [`Lease::refresh`] starts over.
    pub fn forget(&mut self) {
        self.fence = None;
        self.connection = None;
    }
}

//! Managers' visibility, kept beside the answers: which owners' customers a
//! manager sees is read from the directory once, then kept until the
//! tenant's next change notice. The directory's commands send the same
//! notice as the projections ([`store::READ_MODELS_CHANNEL`]), so a manager
//! who gains or loses a team sees the change as soon as an answer would.
//! Without it every request of a manager, a cache hit included, would read
//! the directory first.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;
use web::{Caller, Role};

use crate::visibility::Visibility;

use super::{Inner, ReadCache};

/// Scopes change only through the directory's commits, whose notices drop
/// them; their lifetime only bounds changes made behind the service's back.
pub(super) const SCOPE_TIME_TO_LIVE: Duration = Duration::from_secs(60);

pub(super) struct KeptScope {
    pub(super) stored_at: Instant,
    pub(super) bytes: usize,
    owners: Option<Vec<String>>,
}

impl ReadCache {
    /// The caller's visibility: a manager's as kept, or read from the
    /// directory (and kept when the cache is listening).
    pub(crate) async fn visibility(
        &self,
        pool: &PgPool,
        caller: &Caller,
    ) -> Result<Visibility, sqlx::Error> {
        let inner = match self.inner() {
            Some(inner) if caller.role == Role::Manager => inner,
            _ => return Visibility::of(pool, caller).await,
        };
        if let Some(owners) = inner.scope(caller.tenant_id, &caller.user_id) {
            return Ok(Visibility {
                tenant_id: caller.tenant_id,
                owners,
            });
        }
        let generation = inner.generation(caller.tenant_id);
        let visibility = Visibility::of(pool, caller).await?;
        if let Some(generation) = generation {
            inner.keep_scope(
                caller.tenant_id,
                generation,
                &caller.user_id,
                visibility.owners.clone(),
            );
        }
        Ok(visibility)
    }
}

impl Inner {
    fn scope(&self, tenant: Uuid, login: &str) -> Option<Option<Vec<String>>> {
        let state = self.lock();
        if !state.listening {
            return None;
        }
        let kept = state.tenants.get(&tenant)?.scopes.get(login)?;
        (kept.stored_at.elapsed() < SCOPE_TIME_TO_LIVE).then(|| kept.owners.clone())
    }

    fn keep_scope(&self, tenant: Uuid, generation: u64, login: &str, owners: Option<Vec<String>>) {
        let bytes = login.len()
            + owners
                .iter()
                .flatten()
                .map(|owner| owner.len() + std::mem::size_of::<String>())
                .sum::<usize>()
            + std::mem::size_of::<KeptScope>();
        let mut state = self.lock();
        if !state.listening || !self.make_room(&mut state, bytes) {
            return;
        }
        let tenant_state = state.tenants.entry(tenant).or_default();
        if tenant_state.generation != generation {
            return;
        }
        let kept = KeptScope {
            stored_at: Instant::now(),
            bytes,
            owners,
        };
        let replaced = tenant_state
            .scopes
            .insert(login.to_owned(), kept)
            .map_or(0, |old| old.bytes);
        state.bytes = state.bytes + bytes - replaced;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::super::{CacheSettings, CacheState};
    use super::*;

    fn inner() -> Inner {
        // Answers and records off: scopes are kept all the same.
        let inner = Inner {
            settings: CacheSettings {
                time_to_live: Duration::ZERO,
                record_time_to_live: Duration::ZERO,
                max_bytes: 1 << 20,
            },
            state: Mutex::new(CacheState::default()),
        };
        inner.reset(true);
        inner
    }

    #[test]
    fn a_scope_is_kept_until_its_tenant_changes() {
        let inner = inner();
        let tenant = Uuid::now_v7();
        let other = Uuid::now_v7();
        let team = Some(vec!["mia".to_owned(), "rep-1".to_owned()]);
        inner.keep_scope(tenant, 0, "mia", team.clone());
        inner.keep_scope(other, 0, "mia", None);
        assert_eq!(inner.scope(tenant, "mia"), Some(team.clone()));
        assert_eq!(inner.scope(other, "mia"), Some(None));
        assert_eq!(inner.scope(tenant, "max"), None);
        assert!(inner.lock().bytes > 0);

        inner.forget(&tenant.to_string());
        assert_eq!(inner.scope(tenant, "mia"), None, "the directory changed");
        assert_eq!(
            inner.scope(other, "mia"),
            Some(None),
            "another tenant's stays"
        );

        // A scope read before a change and kept after it is not kept.
        inner.keep_scope(tenant, 0, "mia", team);
        assert_eq!(inner.scope(tenant, "mia"), None);
    }

    #[test]
    fn nothing_is_kept_or_served_while_not_listening() {
        let inner = inner();
        let tenant = Uuid::now_v7();
        inner.keep_scope(tenant, 0, "mia", None);
        inner.reset(false);
        assert_eq!(inner.scope(tenant, "mia"), None);
        inner.keep_scope(tenant, 1, "mia", None);
        assert_eq!(inner.lock().bytes, 0);
    }
}

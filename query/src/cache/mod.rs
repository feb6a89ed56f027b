//! Answers of the mini-program's read routes, kept for a moment and dropped as
//! soon as a projection commits a change to the caller's tenant.
//!
//! The projector sends the tenants a batch touched on
//! [`READ_MODELS_CHANNEL`] inside its batch transaction, so the notice arrives
//! after the change is visible; every service instance listens and forgets
//! those tenants' answers. An answer is thus never older than the read model
//! it came from plus the notice's delivery (milliseconds, like projection lag
//! itself), and never older than the time to live, which bounds what changes
//! with time alone (lifecycles and profiles "as of now"). `?min_position=`
//! (read your writes) always goes to the database. While the listener is not
//! connected nothing is served from or kept in the cache.
//!
//! Customer records (the read-model row behind a customer's detail and
//! profile) are kept the same way but longer: a row changes only through a
//! projection, whose notice drops it, and what depends on time is computed
//! from it at each request. Their time to live only bounds changes made
//! behind the projectors' back (a hand-edited row).

mod middleware;
mod scopes;

pub(crate) use middleware::{from_kept_record, serve_cached, Kept};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderValue;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use projector::runner::{ALL_TENANTS, READ_MODELS_CHANNEL};

use crate::customers::record::CustomerRecord;

/// `hit` or `miss` on answers of the cached routes.
pub const CACHE_HEADER: &str = "x-cache";
/// Answers larger than this are not kept.
const MAX_ENTRY_BYTES: usize = 1 << 20;
/// A full cache looks for expired entries at most this often: the sweep
/// visits every entry under the lock, and every miss of a full cache would
/// otherwise pay for it.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// How long answers and customer records are kept (zero: not at all) and how
/// much memory they may take together.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub time_to_live: Duration,
    pub record_time_to_live: Duration,
    pub max_bytes: usize,
}

/// The cache of read answers; [`ReadCache::disabled`] keeps nothing.
#[derive(Clone, Default)]
pub struct ReadCache(Option<Arc<Inner>>);

struct Inner {
    settings: CacheSettings,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// False until the listener is connected, and again while it reconnects:
    /// notices sent meanwhile are lost, so nothing may be served.
    listening: bool,
    tenants: HashMap<Uuid, TenantAnswers>,
    bytes: usize,
    last_sweep: Option<Instant>,
}

#[derive(Default)]
struct TenantAnswers {
    /// Raised at every change notice for the tenant: an answer computed
    /// before the raise is not kept.
    generation: u64,
    answers: HashMap<String, Answer>,
    customers: HashMap<Uuid, KeptRecord>,
    /// Managers' visibility (login → whose customers it sees), read from
    /// the directory, whose commits send the same notices.
    scopes: HashMap<String, scopes::KeptScope>,
}

struct KeptRecord {
    stored_at: Instant,
    bytes: usize,
    record: Arc<CustomerRecord>,
}

#[derive(Clone)]
struct Answer {
    stored_at: Instant,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

impl ReadCache {
    pub fn disabled() -> Self {
        Self(None)
    }

    /// A cache that serves nothing until [`ReadCache::listen`] has connected.
    /// Managers' team scopes are kept whenever it has memory at all, with
    /// both lifetimes zero too: they are dropped by the same notices as
    /// answers, so keeping them changes no answer, and without them every
    /// request of a manager would read the directory first.
    pub fn new(settings: CacheSettings) -> Self {
        if settings.max_bytes == 0 {
            return Self::disabled();
        }
        Self(Some(Arc::new(Inner {
            settings,
            state: Mutex::new(CacheState::default()),
        })))
    }

    /// Listens for the projector's change notices until `shutdown` turns true,
    /// reconnecting after failures; does nothing for a disabled cache.
    pub async fn listen(self, pool: PgPool, mut shutdown: watch::Receiver<bool>) {
        let Some(inner) = self.0 else { return };
        while !*shutdown.borrow() {
            let mut listener = match connect(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "read cache: cannot listen for changes; not caching");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.changed() => break,
                    }
                }
            };
            inner.reset(true);
            loop {
                tokio::select! {
                    notice = listener.try_recv() => match notice {
                        Ok(Some(notice)) => inner.forget(notice.payload()),
                        Ok(None) => {
                            tracing::warn!("read cache: change listener lost its connection; not caching");
                            break;
                        }
                        Err(error) => {
                            tracing::warn!(%error, "read cache: change listener failed; not caching");
                            break;
                        }
                    },
                    _ = shutdown.changed() => break,
                }
            }
            inner.reset(false);
        }
    }

    fn inner(&self) -> Option<&Inner> {
        self.0.as_deref()
    }

    /// The tenant's generation before a record is read from the database,
    /// `None` when records are not kept now.
    pub(crate) fn record_generation(&self, tenant: Uuid) -> Option<u64> {
        let inner = self.inner()?;
        if inner.settings.record_time_to_live.is_zero() {
            return None;
        }
        inner.generation(tenant)
    }

    /// The kept record of a customer of `tenant` (whoever may see it).
    pub(crate) fn customer(&self, tenant: Uuid, id: Uuid) -> Option<Arc<CustomerRecord>> {
        let inner = self.inner()?;
        let state = inner.lock();
        if !state.listening {
            return None;
        }
        let kept = state.tenants.get(&tenant)?.customers.get(&id)?;
        (kept.stored_at.elapsed() < inner.settings.record_time_to_live)
            .then(|| Arc::clone(&kept.record))
    }

    /// Keeps a record read from the database unless its tenant changed since
    /// `generation`.
    pub(crate) fn keep_customer(&self, tenant: Uuid, generation: u64, record: Arc<CustomerRecord>) {
        let Some(inner) = self.inner() else { return };
        let bytes = record.approximate_bytes();
        let mut state = inner.lock();
        if !state.listening || !inner.make_room(&mut state, bytes) {
            return;
        }
        let tenant_state = state.tenants.entry(tenant).or_default();
        if tenant_state.generation != generation {
            return;
        }
        let kept = KeptRecord {
            stored_at: Instant::now(),
            bytes,
            record,
        };
        let replaced = tenant_state
            .customers
            .insert(kept.record.summary_id(), kept)
            .map_or(0, |old| old.bytes);
        state.bytes = state.bytes + bytes - replaced;
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(READ_MODELS_CHANNEL).await?;
    Ok(listener)
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, CacheState> {
        // A panic while holding the lock leaves plain data behind: go on with it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets everything; caches from now on only when `listening`.
    fn reset(&self, listening: bool) {
        let mut state = self.lock();
        for answers in state.tenants.values_mut() {
            answers.generation += 1;
            answers.answers.clear();
            answers.customers.clear();
            answers.scopes.clear();
        }
        state.bytes = 0;
        state.listening = listening;
    }

    /// Handles a change notice: tenant ids separated by commas, or everything.
    fn forget(&self, payload: &str) {
        if payload == ALL_TENANTS {
            self.reset(true);
            return;
        }
        let mut state = self.lock();
        for tenant in payload.split(',') {
            let Ok(tenant) = Uuid::parse_str(tenant) else {
                drop(state);
                tracing::warn!(
                    payload,
                    "read cache: unreadable change notice; forgetting everything"
                );
                self.reset(true);
                return;
            };
            let answers = state.tenants.entry(tenant).or_default();
            answers.generation += 1;
            let freed: usize = answers
                .answers
                .drain()
                .map(|(_, a)| a.body.len())
                .sum::<usize>()
                + answers
                    .customers
                    .drain()
                    .map(|(_, kept)| kept.bytes)
                    .sum::<usize>()
                + answers
                    .scopes
                    .drain()
                    .map(|(_, kept)| kept.bytes)
                    .sum::<usize>();
            state.bytes -= freed;
        }
    }

    fn get(&self, tenant: Uuid, key: &str) -> Option<Answer> {
        let state = self.lock();
        if !state.listening || self.settings.time_to_live.is_zero() {
            return None;
        }
        let answer = state.tenants.get(&tenant)?.answers.get(key)?;
        (answer.stored_at.elapsed() < self.settings.time_to_live).then(|| answer.clone())
    }

    /// The tenant's generation before its answer is computed.
    fn generation(&self, tenant: Uuid) -> Option<u64> {
        let state = self.lock();
        state
            .listening
            .then(|| state.tenants.get(&tenant).map_or(0, |t| t.generation))
    }

    /// Whether `bytes` more fit in the budget, after dropping what expired
    /// (when the last sweep is [`SWEEP_INTERVAL`] old).
    fn make_room(&self, state: &mut CacheState, bytes: usize) -> bool {
        let full = state.bytes + bytes > self.settings.max_bytes;
        let may_sweep = state
            .last_sweep
            .is_none_or(|last| last.elapsed() >= SWEEP_INTERVAL);
        if full && may_sweep {
            self.drop_expired(state);
            state.last_sweep = Some(Instant::now());
        }
        state.bytes + bytes <= self.settings.max_bytes
    }

    fn put(&self, tenant: Uuid, generation: u64, key: String, answer: Answer) {
        let mut state = self.lock();
        let size = answer.body.len();
        if !state.listening
            || self.settings.time_to_live.is_zero()
            || size > MAX_ENTRY_BYTES
            || !self.make_room(&mut state, size)
        {
            return;
        }
        let answers = state.tenants.entry(tenant).or_default();
        if answers.generation != generation {
            return;
        }
        let replaced = answers
            .answers
            .insert(key, answer)
            .map_or(0, |old| old.body.len());
        state.bytes = state.bytes + size - replaced;
    }

    fn drop_expired(&self, state: &mut CacheState) {
        let ttl = self.settings.time_to_live;
        let record_ttl = self.settings.record_time_to_live;
        let mut freed = 0;
        for answers in state.tenants.values_mut() {
            answers.answers.retain(|_, answer| {
                let keep = answer.stored_at.elapsed() < ttl;
                if !keep {
                    freed += answer.body.len();
                }
                keep
            });
            answers.customers.retain(|_, kept| {
                let keep = kept.stored_at.elapsed() < record_ttl;
                if !keep {
                    freed += kept.bytes;
                }
                keep
            });
            answers.scopes.retain(|_, kept| {
                let keep = kept.stored_at.elapsed() < scopes::SCOPE_TIME_TO_LIVE;
                if !keep {
                    freed += kept.bytes;
                }
                keep
            });
        }
        state.tenants.retain(|_, answers| {
            !answers.answers.is_empty()
                || !answers.customers.is_empty()
                || !answers.scopes.is_empty()
                || answers.generation > 0
        });
        state.bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(bytes: usize) -> Answer {
        Answer {
            stored_at: Instant::now(),
            content_type: None,
            body: Bytes::from(vec![b'x'; bytes]),
        }
    }

    #[test]
    fn a_full_cache_sweeps_expired_answers_at_most_once_per_interval() {
        let inner = Inner {
            settings: CacheSettings {
                time_to_live: Duration::from_millis(1),
                record_time_to_live: Duration::ZERO,
                max_bytes: 200,
            },
            state: Mutex::new(CacheState::default()),
        };
        inner.reset(true);
        let tenant = Uuid::nil();
        let put = |key: &str| inner.put(tenant, 0, key.to_owned(), answer(100));
        let kept = || inner.lock().bytes;
        put("a");
        put("b");
        assert_eq!(kept(), 200);
        std::thread::sleep(Duration::from_millis(5));
        put("c");
        assert_eq!(kept(), 100, "the first sweep dropped a and b");
        put("d");
        std::thread::sleep(Duration::from_millis(5));
        put("e");
        assert_eq!(
            kept(),
            200,
            "full again, and swept less than an interval ago"
        );
        std::thread::sleep(SWEEP_INTERVAL);
        put("f");
        assert_eq!(kept(), 100, "the next sweep dropped c and d");
    }
}

//! The read API of the mini-program: customer lists and search, detail,
//! timeline, RFM profile, sales funnel and lifecycle segments, served from the
//! projectors' read models with rep/manager/tenant visibility.
#![forbid(unsafe_code)]

pub mod audit;
mod cache;
mod cursor;
mod customers;
mod freshness;
mod funnel;
pub mod stream;

use axum::extract::FromRef;
use sqlx::PgPool;
use store::keys::KeyStore;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use web::{Caller, JwtKeys};

pub use cache::{CacheSettings, ReadCache, CACHE_HEADER};
pub use freshness::STALE_HEADER;

/// What the query routes need.
#[derive(Clone)]
pub struct QueryApi {
    pub pool: PgPool,
    pub keys: JwtKeys,
    /// Customers' data keys, to show auditors personal fields (or that they were erased).
    pub data_keys: KeyStore,
    /// Answers of the mini-program's routes (list, detail, timeline, profile,
    /// funnel, segments); audit and stream answers are never kept.
    pub cache: ReadCache,
}

impl FromRef<QueryApi> for JwtKeys {
    fn from_ref(api: &QueryApi) -> JwtKeys {
        api.keys.clone()
    }
}

pub fn router(api: QueryApi) -> OpenApiRouter {
    let cached = OpenApiRouter::new()
        .routes(routes!(customers::list_customers))
        .routes(routes!(customers::get_customer))
        .routes(routes!(customers::get_timeline))
        .routes(routes!(customers::get_profile))
        .routes(routes!(funnel::get_funnel))
        .routes(routes!(funnel::get_segments))
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            cache::serve_cached,
        ));
    OpenApiRouter::new()
        .merge(cached)
        .routes(routes!(audit::history))
        .routes(routes!(audit::state))
        .routes(routes!(audit::verify))
        .routes(routes!(stream::get_events))
        .with_state(api)
}

/// Database failures: an exhausted pool (overload) is a 503 the client may
/// retry; anything else is an internal error.
pub(crate) fn db_error(error: sqlx::Error) -> web::ApiError {
    match error {
        sqlx::Error::PoolTimedOut => {
            web::ApiError::Unavailable("the service is overloaded; retry shortly".to_owned())
        }
        other => web::ApiError::internal(other),
    }
}

/// Which customers a caller may see: its tenant, and for a rep only its own.
#[derive(Debug, Clone)]
pub(crate) struct Visibility {
    pub tenant_id: uuid::Uuid,
    pub owner_id: Option<String>,
}

impl Visibility {
    /// Whether a customer owned by `owner_id` (of the caller's tenant) is visible.
    pub fn sees(&self, owner_id: &str) -> bool {
        self.owner_id.as_deref().is_none_or(|own| own == owner_id)
    }
}

impl From<&Caller> for Visibility {
    fn from(caller: &Caller) -> Self {
        Visibility {
            tenant_id: caller.tenant_id,
            owner_id: (!caller.role.sees_whole_tenant()).then(|| caller.user_id.clone()),
        }
    }
}

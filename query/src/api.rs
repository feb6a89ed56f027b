//! What the query routes share: their state.

use axum::extract::FromRef;
use sqlx::PgPool;
use store::data_keys::DataKeys;
use web::JwtKeys;

use crate::cache::ReadCache;

/// What the query routes need.
#[derive(Clone)]
pub struct QueryApi {
    pub pool: PgPool,
    pub jwt: JwtKeys,
    /// Customers' data keys, to show auditors personal fields (or that they were erased).
    pub data_keys: DataKeys,
    /// Answers of the mini-program's routes (list, detail, timeline, profile,
    /// funnel, segments); audit and stream answers are never kept.
    pub cache: ReadCache,
}

impl FromRef<QueryApi> for JwtKeys {
    fn from_ref(api: &QueryApi) -> JwtKeys {
        api.jwt.clone()
    }
}

impl FromRef<QueryApi> for PgPool {
    fn from_ref(api: &QueryApi) -> PgPool {
        api.pool.clone()
    }
}

impl FromRef<QueryApi> for ReadCache {
    fn from_ref(api: &QueryApi) -> ReadCache {
        api.cache.clone()
    }
}

//! Which customers a caller may see: the one rule every read route applies.
//!
//! An admin and an auditor see the whole tenant; a rep its own customers. A
//! manager sees its own and those of the members of the teams it manages,
//! once the tenant has a directory; a tenant without one (its tokens come
//! from `crm token`) keeps the older rule, a manager seeing the tenant.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;
use web::{ApiError, Caller, Role};

use crate::api::QueryApi;

#[derive(Debug, Clone)]
pub(crate) struct Visibility {
    pub tenant_id: Uuid,
    /// Whose customers the caller sees; `None`: everyone's in the tenant.
    pub owners: Option<Vec<String>>,
}

impl Visibility {
    /// The caller's visibility. Reads the directory for managers only.
    pub async fn of(pool: &PgPool, caller: &Caller) -> Result<Self, sqlx::Error> {
        let owners = match caller.role {
            Role::Admin | Role::Auditor => None,
            Role::Rep => Some(vec![caller.user_id.clone()]),
            Role::Manager => {
                store::directory::managed_owners(pool, caller.tenant_id, &caller.user_id).await?
            }
        };
        Ok(Self {
            tenant_id: caller.tenant_id,
            owners,
        })
    }

    /// Whether a customer owned by `owner_id` (of the caller's tenant) is visible.
    pub fn sees(&self, owner_id: &str) -> bool {
        self.owners
            .as_ref()
            .is_none_or(|owners| owners.iter().any(|owner| owner == owner_id))
    }

    /// ` AND owner_id ...` restricting a query on `rm_customers` (or the
    /// funnel totals) to the visible owners; nothing for the whole tenant.
    pub fn push_owner_filter(&self, builder: &mut QueryBuilder<'_, Postgres>) {
        match self.owners.as_deref() {
            None => {}
            // One owner (every rep): the plain equality the indexes were planned for.
            Some([owner]) => {
                builder.push(" AND owner_id = ").push_bind(owner.clone());
            }
            Some(owners) => {
                builder
                    .push(" AND owner_id = ANY(")
                    .push_bind(owners.to_vec())
                    .push(")");
            }
        }
    }

    /// Names the visible set in cache keys.
    pub fn key(&self) -> String {
        self.owners
            .as_ref()
            .map_or_else(|| "*".to_owned(), |owners| owners.join(","))
    }
}

/// The caller's visibility as a route's argument: the one the read cache's
/// middleware already worked out for this request, or worked out now (one
/// query, for managers only, unless the cache keeps the manager's scope).
impl FromRequestParts<QueryApi> for Visibility {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &QueryApi) -> Result<Self, ApiError> {
        if let Some(visibility) = parts.extensions.get::<Visibility>() {
            return Ok(visibility.clone());
        }
        let caller = Caller::from_request_parts(parts, api).await?;
        Ok(api.cache.visibility(&api.pool, &caller).await?)
    }
}

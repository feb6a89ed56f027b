//! The users whose tokens are refused before they expire.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

/// The users (tenant, login) whose tokens are refused before they expire:
/// deactivated ones. Kept current by whoever knows the directory. It applies
/// to every token whatever signed it, the service or an external identity
/// provider, since both name the same (tenant, user).
#[derive(Clone, Default)]
pub struct Revocations(Arc<RwLock<HashSet<(Uuid, String)>>>);

impl Revocations {
    /// Replaces the whole set.
    pub fn replace(&self, revoked: HashSet<(Uuid, String)>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = revoked;
    }

    pub fn is_revoked(&self, tenant_id: Uuid, user_id: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&(tenant_id, user_id.to_owned()))
    }
}

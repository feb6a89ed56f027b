//! Which customers a caller may see.

use uuid::Uuid;
use web::Caller;

/// Which customers a caller may see: its tenant, and for a rep only its own.
#[derive(Debug, Clone)]
pub(crate) struct Visibility {
    pub tenant_id: Uuid,
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

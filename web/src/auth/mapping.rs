//! How an external identity provider's claims become a tenant, a user and a
//! role of this service.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::Role;

/// Where an external caller's tenant comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSource {
    /// A claim holding the tenant id (a UUID), for providers that serve
    /// several tenants.
    Claim(String),
    /// One tenant for every token, for a provider dedicated to one company.
    Fixed(Uuid),
}

impl Default for TenantSource {
    fn default() -> Self {
        TenantSource::Claim("tid".to_owned())
    }
}

/// The identity provider's role values (roles, groups) and the CRM roles
/// they grant, written `value=role,value=role`. A value not in the map that
/// is a CRM role's name (`rep`, `manager`, `admin`, `auditor`) grants that
/// role; `value=none` makes a value grant nothing, for a provider whose
/// group called `admin` is about something else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap(HashMap<String, Option<Role>>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleMapError {
    #[error("{0:?} is not `value=role`")]
    NotAPair(String),
    #[error("{0:?} has an empty value")]
    EmptyValue(String),
    #[error("{entry:?}: unknown role {role:?} (expected rep, manager, admin, auditor or none)")]
    UnknownRole { entry: String, role: String },
    #[error("{0:?} is mapped twice")]
    Duplicate(String),
}

impl FromStr for RoleMap {
    type Err = RoleMapError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut map = HashMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            // Roles never hold `=`, values (group paths) might.
            let (value, role) = entry
                .rsplit_once('=')
                .ok_or_else(|| RoleMapError::NotAPair(entry.to_owned()))?;
            let (value, role) = (value.trim(), role.trim());
            if value.is_empty() {
                return Err(RoleMapError::EmptyValue(entry.to_owned()));
            }
            let role = match role {
                "none" => None,
                role => Some(
                    role.parse::<Role>()
                        .map_err(|_| RoleMapError::UnknownRole {
                            entry: entry.to_owned(),
                            role: role.to_owned(),
                        })?,
                ),
            };
            if map.insert(value.to_owned(), role).is_some() {
                return Err(RoleMapError::Duplicate(value.to_owned()));
            }
        }
        Ok(RoleMap(map))
    }
}

impl fmt::Display for RoleMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries: Vec<_> = self
            .0
            .iter()
            .map(|(value, role)| format!("{value}={}", role.map_or("none", Role::as_str)))
            .collect();
        entries.sort();
        f.write_str(&entries.join(","))
    }
}

impl RoleMap {
    /// The CRM role one provider value grants, if any.
    pub fn role_of(&self, value: &str) -> Option<Role> {
        match self.0.get(value) {
            Some(mapped) => *mapped,
            None => value.parse().ok(),
        }
    }
}

/// Whether `wider` may do everything `narrower` may. Admin includes every
/// role and a manager includes a rep; an auditor (read-only, tenant-wide)
/// and a rep or manager (writers) each may do something the other may not.
fn includes(wider: Role, narrower: Role) -> bool {
    wider == narrower || wider == Role::Admin || (wider == Role::Manager && narrower == Role::Rep)
}

/// The one role among `granted` that includes all the others: group claims
/// are cumulative (a sales lead is in `sales` too), so what the provider
/// grants is their union, and that role is exactly it. Roles none of which
/// includes the others (an auditor who is also a rep) have no such role:
/// either choice would add or drop rights the provider did not say, so the
/// caller is refused until the provider or the role map says which.
pub(super) fn strongest(granted: &[Role]) -> Result<Role, String> {
    if granted.is_empty() {
        return Err("no role".to_owned());
    }
    granted
        .iter()
        .copied()
        .find(|candidate| granted.iter().all(|other| includes(*candidate, *other)))
        .ok_or_else(|| {
            let mut names: Vec<&str> = granted.iter().map(|role| role.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            format!(
                "roles {} conflict (none of them includes the others)",
                names.join(", ")
            )
        })
}

/// A claim by its exact name, else by a dotted path into nested objects
/// (`realm_access.roles`): names with dots (`https://example.com/roles`)
/// are common, so the exact name wins.
pub(super) fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

pub(super) fn tenant(claims: &Map<String, Value>, source: &TenantSource) -> Result<Uuid, String> {
    let name = match source {
        TenantSource::Fixed(tenant) => return Ok(*tenant),
        TenantSource::Claim(name) => name,
    };
    let value = claim(claims, name).ok_or_else(|| format!("the token lacks the `{name}` claim"))?;
    value
        .as_str()
        .and_then(|text| Uuid::parse_str(text).ok())
        .ok_or_else(|| format!("the token's `{name}` claim is not a tenant id (a UUID)"))
}

pub(super) fn user(claims: &Map<String, Value>, name: &str) -> Result<String, String> {
    let value = claim(claims, name).ok_or_else(|| format!("the token lacks the `{name}` claim"))?;
    let text = value
        .as_str()
        .ok_or_else(|| format!("the token's `{name}` claim is not a string"))?;
    events::values::UserId::parse(text)
        .map(Into::into)
        .map_err(|error| format!("the token's `{name}` claim is not a valid user id: {error}"))
}

/// The role a token's role claim (a string, or an array of strings such as
/// groups) grants through `map`.
pub(super) fn role(claims: &Map<String, Value>, name: &str, map: &RoleMap) -> Result<Role, String> {
    let value = claim(claims, name)
        .ok_or_else(|| format!("the token lacks the `{name}` claim, so it grants no CRM role"))?;
    let values: Vec<&str> = match value {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(format!(
                "the token's `{name}` claim is neither a string nor an array of strings"
            ))
        }
    };
    let granted: Vec<Role> = values.iter().filter_map(|v| map.role_of(v)).collect();
    if granted.is_empty() {
        return Err(format!(
            "the token's `{name}` claim has no value that maps to a CRM role"
        ));
    }
    strongest(&granted).map_err(|conflict| format!("the token's `{name}` claim: {conflict}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn role_maps_parse_and_refuse_nonsense() {
        let map: RoleMap = "sales=rep, sales-leads=manager,/crm/admins=admin,admin=none"
            .parse()
            .expect("map");
        assert_eq!(map.role_of("sales"), Some(Role::Rep));
        assert_eq!(map.role_of("sales-leads"), Some(Role::Manager));
        assert_eq!(map.role_of("/crm/admins"), Some(Role::Admin));
        assert_eq!(map.role_of("admin"), None, "an explicit none wins");
        assert_eq!(
            map.role_of("auditor"),
            Some(Role::Auditor),
            "a CRM role name maps to itself"
        );
        assert_eq!(map.role_of("Auditor"), None, "values are case-sensitive");
        assert_eq!(map.role_of("marketing"), None);
        assert_eq!(
            "".parse::<RoleMap>().expect("empty").role_of("rep"),
            Some(Role::Rep)
        );
        assert_eq!(
            "cn=sales=rep"
                .parse::<RoleMap>()
                .expect("map")
                .role_of("cn=sales"),
            Some(Role::Rep)
        );
        for bad in ["sales", "=rep", "sales=boss", "a=rep,a=admin"] {
            assert!(bad.parse::<RoleMap>().is_err(), "{bad}");
        }
        assert_eq!(map.to_string().parse::<RoleMap>().expect("round trip"), map);
    }

    #[test]
    fn the_role_including_the_others_wins_and_incomparable_ones_are_refused() {
        use Role::*;
        assert_eq!(strongest(&[Rep, Manager]), Ok(Manager));
        assert_eq!(strongest(&[Manager, Rep, Rep]), Ok(Manager));
        assert_eq!(strongest(&[Auditor, Admin]), Ok(Admin));
        assert_eq!(strongest(&[Rep, Manager, Auditor, Admin]), Ok(Admin));
        assert_eq!(strongest(&[Auditor]), Ok(Auditor));
        assert!(strongest(&[Auditor, Rep]).is_err());
        assert!(strongest(&[Manager, Auditor]).is_err());
        assert!(strongest(&[]).is_err());
    }

    #[test]
    fn claims_are_found_by_name_then_by_dotted_path() {
        let claims = claims(json!({
            "https://example.com/roles": ["manager"],
            "realm_access": {"roles": ["offline_access", "sales"]},
        }));
        assert!(claim(&claims, "https://example.com/roles").is_some());
        assert_eq!(
            claim(&claims, "realm_access.roles"),
            Some(&json!(["offline_access", "sales"]))
        );
        assert!(claim(&claims, "realm_access.groups").is_none());
        assert!(claim(&claims, "missing").is_none());
    }

    #[test]
    fn tenant_user_and_role_are_mapped_or_refused_with_a_reason() {
        let tid = Uuid::new_v4();
        let map: RoleMap = "sales=rep,sales-leads=manager".parse().expect("map");
        let good = claims(json!({"tid": tid, "sub": "alice", "groups": ["sales", "sales-leads"]}));
        assert_eq!(tenant(&good, &TenantSource::default()), Ok(tid));
        let fixed = Uuid::new_v4();
        assert_eq!(tenant(&good, &TenantSource::Fixed(fixed)), Ok(fixed));
        assert_eq!(user(&good, "sub"), Ok("alice".to_owned()));
        assert_eq!(role(&good, "groups", &map), Ok(Role::Manager));
        assert_eq!(
            role(&claims(json!({"role": "auditor"})), "role", &map),
            Ok(Role::Auditor)
        );

        let refused = |result: Result<_, String>, words: &str| {
            let reason = result.expect_err("refused");
            assert!(reason.contains(words), "{reason}");
        };
        refused(
            tenant(&claims(json!({})), &TenantSource::default()).map(|_| ()),
            "lacks the `tid`",
        );
        refused(
            tenant(&claims(json!({"tid": "acme"})), &TenantSource::default()).map(|_| ()),
            "not a tenant id",
        );
        refused(
            user(&claims(json!({"sub": 7})), "sub").map(|_| ()),
            "not a string",
        );
        refused(
            user(&claims(json!({"sub": "two\nlines"})), "sub").map(|_| ()),
            "not a valid user id",
        );
        refused(
            user(&claims(json!({"sub": ""})), "sub").map(|_| ()),
            "not a valid user id",
        );
        refused(
            role(&claims(json!({"groups": ["marketing"]})), "groups", &map).map(|_| ()),
            "no value that maps",
        );
        refused(
            role(&claims(json!({})), "groups", &map).map(|_| ()),
            "lacks the `groups`",
        );
        refused(
            role(&claims(json!({"groups": {"a": 1}})), "groups", &map).map(|_| ()),
            "neither a string",
        );
        refused(
            role(
                &claims(json!({"groups": ["sales", "auditor"]})),
                "groups",
                &map,
            )
            .map(|_| ()),
            "conflict",
        );
    }
}

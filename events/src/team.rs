//! Team events, version 1: groups of users of one tenant, with managers.
//! Stored payloads are never edited: a changed payload becomes a new version
//! with an upcaster.
//!
//! A team's stream id is a UUID (`aggregate_type` "Team"). Members are named
//! by login ([`UserId`]), the name the rest of the system uses for a user.
//! Nothing here is personal data (a team's name names a group; logins are
//! never sealed, see [`crate::user`]), so team events need no data key.

use std::fmt;

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::customer::V1;
use crate::values::{TeamName, UserId};

/// Every event type name, as stored in `event_type` and used as the payload's tag.
pub const EVENT_TYPES: [&str; 5] = [
    "TeamCreated",
    "TeamRenamed",
    "TeamMemberAdded",
    "TeamMemberRemoved",
    "TeamMemberRoleChanged",
];

/// What a member is in its team. A manager is a member with the manager
/// role: promoting or demoting one is a [`TeamMemberRoleChanged`], not a
/// removal and an addition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    Member,
    Manager,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Member => "member",
            TeamRole::Manager => "manager",
        }
    }
}

impl fmt::Display for TeamRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TeamRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(TeamRole::Member),
            "manager" => Ok(TeamRole::Manager),
            other => Err(format!(
                "unknown team role {other:?}: expected member or manager"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TeamEvent {
    TeamCreated(TeamCreated),
    TeamRenamed(TeamRenamed),
    TeamMemberAdded(TeamMemberAdded),
    TeamMemberRemoved(TeamMemberRemoved),
    TeamMemberRoleChanged(TeamMemberRoleChanged),
}

/// An admin created an empty team. A team may be without managers (at
/// creation, or after its last manager left): one can be added later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamCreated {
    /// The tenant the team belongs to: the aggregate answers "not found" to
    /// every other tenant, as a customer's does.
    pub tenant_id: Uuid,
    pub name: TeamName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamRenamed {
    pub name: TeamName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamMemberAdded {
    pub login: UserId,
    pub role: TeamRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamMemberRemoved {
    pub login: UserId,
}

/// A member was promoted to manager or demoted to member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamMemberRoleChanged {
    pub login: UserId,
    pub role: TeamRole,
}

impl TeamEvent {
    /// The stable name stored in `event_type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            TeamEvent::TeamCreated(_) => "TeamCreated",
            TeamEvent::TeamRenamed(_) => "TeamRenamed",
            TeamEvent::TeamMemberAdded(_) => "TeamMemberAdded",
            TeamEvent::TeamMemberRemoved(_) => "TeamMemberRemoved",
            TeamEvent::TeamMemberRoleChanged(_) => "TeamMemberRoleChanged",
        }
    }

    /// Always `false`: team events hold no personal data (see the module).
    /// There for symmetry with the other aggregates' events, so the command
    /// service asks every event the same question.
    pub fn has_personal_data(&self) -> bool {
        false
    }
}

impl DomainEvent for TeamEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        V1.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::{
        assert_samples_match_schemas, data_document, round_trips, validator,
    };
    use serde_json::json;

    fn login(text: &str) -> UserId {
        UserId::parse(text).expect("login")
    }

    fn samples() -> Vec<TeamEvent> {
        let name = |text: &str| TeamName::parse(text).expect("team name");
        vec![
            TeamEvent::TeamCreated(TeamCreated {
                tenant_id: Uuid::from_u128(0x11),
                name: name("华东销售一组"),
            }),
            TeamEvent::TeamRenamed(TeamRenamed {
                name: name("华东大客户组"),
            }),
            TeamEvent::TeamMemberAdded(TeamMemberAdded {
                login: login("e1024"),
                role: TeamRole::Manager,
            }),
            TeamEvent::TeamMemberAdded(TeamMemberAdded {
                login: login("e2048"),
                role: TeamRole::Member,
            }),
            TeamEvent::TeamMemberRemoved(TeamMemberRemoved {
                login: login("e2048"),
            }),
            TeamEvent::TeamMemberRoleChanged(TeamMemberRoleChanged {
                login: login("e1024"),
                role: TeamRole::Member,
            }),
        ]
    }

    macro_rules! round_trip_test {
        ($($test:ident: $type_name:literal),* $(,)?) => {$(
            #[test]
            fn $test() {
                round_trips(&samples(), $type_name, TeamEvent::type_name);
            }
        )*};
    }

    round_trip_test!(
        created_round_trips: "TeamCreated",
        renamed_round_trips: "TeamRenamed",
        member_added_round_trips: "TeamMemberAdded",
        member_removed_round_trips: "TeamMemberRemoved",
        member_role_changed_round_trips: "TeamMemberRoleChanged",
    );

    #[test]
    fn every_event_type_has_samples_and_none_holds_personal_data() {
        let samples = samples();
        for type_name in EVENT_TYPES {
            assert!(samples.iter().any(|event| event.type_name() == type_name));
        }
        assert!(samples.iter().all(|event| !event.has_personal_data()));
        assert_eq!(samples[0].event_type(), "TeamCreated");
        assert_eq!(samples[0].event_version(), "1");
    }

    #[test]
    fn team_roles_are_snake_case_names_that_parse_back() {
        for role in [TeamRole::Member, TeamRole::Manager] {
            assert_eq!(
                serde_json::to_value(role).expect("serialise"),
                serde_json::Value::from(role.as_str())
            );
            assert_eq!(role.as_str().parse(), Ok(role));
        }
        assert!("lead".parse::<TeamRole>().is_err());
    }

    #[test]
    fn stored_payloads_match_their_json_schemas() {
        let stored = samples().into_iter().map(|event| {
            (
                event.type_name(),
                serde_json::to_value(&event).expect("json"),
            )
        });
        assert_samples_match_schemas(&crate::schema::TEAM, stored);
    }

    /// The schema accepts a team name exactly when reading it back does and
    /// writes it back unchanged (as `tests/json_schema.rs` checks for the
    /// other value types).
    #[test]
    fn team_name_schema_agrees_with_its_decoding() {
        let validator = validator(&data_document(&crate::schema::TEAM, "TeamRenamed"));
        let max = TeamName::MAX_CHARS;
        for candidate in [
            "a".to_owned(),
            "组".repeat(max),
            "组".repeat(max + 1),
            String::new(),
            " a".into(),
            "a ".into(),
            "a b".into(),
            "a\nb".into(),
            "a\u{7}b".into(),
            "\u{3000}组".into(),
            "a\u{ffff}b".into(),
            "a\u{200f}b".into(),
        ] {
            let decoded = serde_json::from_value::<TeamName>(json!(candidate)).ok();
            let by_type = decoded.is_some_and(|name| name.as_str() == candidate);
            let by_schema = validator.is_valid(&json!({ "name": candidate }));
            assert_eq!(by_type, by_schema, "{candidate:?}");
        }
    }
}

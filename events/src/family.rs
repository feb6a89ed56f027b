//! The event families: one per aggregate type (Customer, User, Team,
//! FollowUp), each
//! with its event type names and how the contract names them. The envelope
//! types every event by its family (`crm.<segment>.<event>.v<version>`), and
//! the JSON Schemas are generated family by family.

use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use crate::customer::{CustomerEvent, EVENT_TYPES, V1};
use crate::follow_up::FollowUpEvent;
use crate::team::TeamEvent;
use crate::user::UserEvent;

/// The events of one aggregate type, as the contract names them.
#[derive(Debug, Clone, Copy)]
pub struct EventFamily {
    /// The store's `aggregate_type`, and the prefix the family's event type
    /// names drop in their CloudEvents `type` (`UserInvited` → `invited`).
    pub aggregate_type: &'static str,
    /// The CloudEvents `type`'s second segment: `crm.<segment>.<event>.v1`.
    pub segment: &'static str,
    /// Every event type name of the family, as stored in `event_type`.
    pub event_types: &'static [&'static str],
    /// The payload schemas (utoipa's `ToSchema::schemas` of the event enum).
    pub(crate) schemas: fn(&mut Vec<(String, RefOr<Schema>)>),
}

impl EventFamily {
    /// The CloudEvents `type` of one of the family's event types in its v1
    /// form (`CustomerStageMoved` → `crm.customer.stage_moved.v1`,
    /// `TeamMemberAdded` → `crm.team.member_added.v1`).
    pub fn cloud_type(&self, event_type: &str) -> String {
        self.versioned_cloud_type(event_type, V1)
    }

    /// The CloudEvents `type` of a stored event type and version.
    pub fn versioned_cloud_type(&self, event_type: &str, version: &str) -> String {
        let name = event_type
            .strip_prefix(self.aggregate_type)
            .unwrap_or(event_type);
        format!("crm.{}.{}.v{version}", self.segment, type_slug(name))
    }

    /// The family of a stored `aggregate_type`.
    pub fn of_aggregate(aggregate_type: &str) -> Option<EventFamily> {
        FAMILIES
            .into_iter()
            .find(|family| family.aggregate_type == aggregate_type)
    }

    /// Whether this is the customers' family (the one the projections read).
    pub fn is_customer(&self) -> bool {
        self.aggregate_type == CUSTOMER.aggregate_type
    }
}

pub const CUSTOMER: EventFamily = EventFamily {
    aggregate_type: "Customer",
    segment: "customer",
    event_types: &EVENT_TYPES,
    schemas: CustomerEvent::schemas,
};

pub const USER: EventFamily = EventFamily {
    aggregate_type: "User",
    segment: "user",
    event_types: &crate::user::EVENT_TYPES,
    schemas: UserEvent::schemas,
};

pub const TEAM: EventFamily = EventFamily {
    aggregate_type: "Team",
    segment: "team",
    event_types: &crate::team::EVENT_TYPES,
    schemas: TeamEvent::schemas,
};

pub const FOLLOW_UP: EventFamily = EventFamily {
    aggregate_type: "FollowUp",
    segment: "follow_up",
    event_types: &crate::follow_up::EVENT_TYPES,
    schemas: FollowUpEvent::schemas,
};

/// Every family, in the order the JSON Schemas list them.
pub const FAMILIES: [EventFamily; 4] = [CUSTOMER, USER, TEAM, FOLLOW_UP];

/// The CloudEvents `type` of a stored event. Every aggregate type this build
/// writes has a family; an unknown one (a newer build's) is named after its
/// own aggregate type rather than passed off as another family's.
pub fn cloud_type_of(aggregate_type: &str, event_type: &str, version: &str) -> String {
    match EventFamily::of_aggregate(aggregate_type) {
        Some(family) => family.versioned_cloud_type(event_type, version),
        None => {
            let name = event_type
                .strip_prefix(aggregate_type)
                .unwrap_or(event_type);
            format!(
                "crm.{}.{}.v{version}",
                type_slug(aggregate_type),
                type_slug(name)
            )
        }
    }
}

/// `StageMoved` → `stage_moved` (an event name without its family's
/// prefix). "WeChat" is one word: `WeChatBound` → `wechat_bound`.
pub fn type_slug(name: &str) -> String {
    let name = name.replace("WeChat", "Wechat");
    let mut slug = String::new();
    for (index, character) in name.chars().enumerate() {
        if character.is_uppercase() {
            if index > 0 {
                slug.push('_');
            }
            slug.extend(character.to_lowercase());
        } else {
            slug.push(character);
        }
    }
    slug
}

/// The family, stored event type and version a CloudEvents `type` names
/// (`crm.customer.stage_moved.v1` → `(CUSTOMER, "CustomerStageMoved", "1")`).
pub fn stored_type(cloud_type: &str) -> Option<(EventFamily, &'static str, &str)> {
    let rest = cloud_type.strip_prefix("crm.")?;
    let (segment, rest) = rest.split_once('.')?;
    let (slug, version) = rest.rsplit_once(".v")?;
    let family = FAMILIES
        .into_iter()
        .find(|family| family.segment == segment)?;
    let name = family.event_types.iter().copied().find(|name| {
        let bare = name.strip_prefix(family.aggregate_type).unwrap_or(name);
        type_slug(bare) == slug
    })?;
    Some((family, name, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_dotted_snake_case_with_version() {
        assert_eq!(
            CUSTOMER.cloud_type("CustomerStageMoved"),
            "crm.customer.stage_moved.v1"
        );
        assert_eq!(
            CUSTOMER.cloud_type("ActivityLogged"),
            "crm.customer.activity_logged.v1"
        );
        assert_eq!(
            CUSTOMER.versioned_cloud_type("CustomerForgotten", "2"),
            "crm.customer.forgotten.v2"
        );
        assert_eq!(USER.cloud_type("UserInvited"), "crm.user.invited.v1");
        assert_eq!(
            USER.cloud_type("UserWeChatBound"),
            "crm.user.wechat_bound.v1"
        );
        assert_eq!(
            TEAM.cloud_type("TeamMemberAdded"),
            "crm.team.member_added.v1"
        );
        assert_eq!(
            FOLLOW_UP.cloud_type("FollowUpScheduled"),
            "crm.follow_up.scheduled.v1"
        );
    }

    #[test]
    fn every_type_of_every_family_maps_back_to_its_stored_name() {
        for family in FAMILIES {
            for &name in family.event_types {
                let cloud = family.cloud_type(name);
                let (found, stored, version) = stored_type(&cloud).expect("known type");
                assert_eq!(found.aggregate_type, family.aggregate_type);
                assert_eq!((stored, version), (name, "1"));
            }
        }
        assert!(stored_type("crm.customer.unknown.v1").is_none());
        assert!(stored_type("crm.order.placed.v1").is_none());
        assert!(stored_type("crm.user.stage_moved.v1").is_none());
        assert!(stored_type("customer.registered.v1").is_none());
    }

    #[test]
    fn families_are_found_by_aggregate_type() {
        assert!(EventFamily::of_aggregate("Customer").is_some_and(|f| f.is_customer()));
        assert_eq!(
            EventFamily::of_aggregate("Team").map(|f| f.segment),
            Some("team")
        );
        assert!(EventFamily::of_aggregate("Order").is_none());
        assert_eq!(
            cloud_type_of("Team", "TeamCreated", "1"),
            "crm.team.created.v1"
        );
        assert_eq!(
            cloud_type_of("SalesOrder", "SalesOrderPlaced", "2"),
            "crm.sales_order.placed.v2"
        );
    }
}

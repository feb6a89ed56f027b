//! The event contract of the CRM: value types, the Customer events (v1), the
//! people directory's User and Team events (v1), the FollowUp events (v1) and
//! the funnel stages. No I/O lives here.
#![forbid(unsafe_code)]

pub mod customer;
pub mod envelope;
pub mod family;
pub mod follow_up;
pub mod personal;
pub mod role;
pub mod schema;
pub mod team;
pub mod user;
pub mod values;

pub use customer::CustomerEvent;
pub use follow_up::FollowUpEvent;
pub use role::Role;
pub use team::{TeamEvent, TeamRole};
pub use user::UserEvent;

/// `Option<Option<T>>` where an absent field is `None`, `null` is `Some(None)`.
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

//! User events, version 1: the tenant's people directory, event-sourced so
//! an auditor can see who granted whom what, and when. Stored payloads are
//! never edited: a changed payload becomes a new version with an upcaster.
//!
//! A user's stream id is a UUID (`aggregate_type` "User"); its `login` (a
//! [`UserId`]) is the name the rest of the system knows it by (the JWT `sub`,
//! a customer's `owner_id`, an event's `actor`) and never changes. Because
//! the whole log refers to users by login, the login is not sealed: it
//! survives [`UserForgotten`] as a pseudonym, so tenants should not make
//! logins out of personal data (an employee number rather than a name).
//!
//! Secrets never enter the log: password hashes and WeChat openids live
//! outside it, and the events only record that they changed.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::customer::V1;
use crate::personal::{DataKey, Personal};
use crate::values::{DisplayName, Email, Phone, ShortText, UserId};
use crate::Role;

/// Every event type name, as stored in `event_type` and used as the payload's tag.
pub const EVENT_TYPES: [&str; 10] = [
    "UserInvited",
    "UserRoleChanged",
    "UserProfileChanged",
    "UserDeactivated",
    "UserReactivated",
    "UserPasswordReset",
    "UserPasswordChanged",
    "UserWeChatBound",
    "UserWeChatUnbound",
    "UserForgotten",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum UserEvent {
    UserInvited(UserInvited),
    UserRoleChanged(UserRoleChanged),
    UserProfileChanged(UserProfileChanged),
    UserDeactivated(UserDeactivated),
    UserReactivated(UserReactivated),
    UserPasswordReset(UserPasswordReset),
    UserPasswordChanged(UserPasswordChanged),
    UserWeChatBound(UserWeChatBound),
    UserWeChatUnbound(UserWeChatUnbound),
    UserForgotten(UserForgotten),
}

/// An admin added a person to the tenant's directory with a role. The user
/// is active from here on; it signs in once it has a credential (kept by the
/// service outside the log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserInvited {
    /// The tenant the user belongs to: the aggregate answers "not found" to
    /// every other tenant, as a customer's does.
    pub tenant_id: Uuid,
    pub login: UserId,
    #[schema(value_type = crate::personal::PersonalField)]
    pub display_name: Personal<DisplayName>,
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub phone: Option<Personal<Phone>>,
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub email: Option<Personal<Email>>,
    pub role: Role,
}

/// An admin changed the user's role; `previous_role` is there so an audit
/// view reads "from whom to what" without folding the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserRoleChanged {
    pub role: Role,
    pub previous_role: Role,
}

/// Only the fields that changed. The display name can be replaced but not
/// cleared (everyone needs one); for phone and e-mail `Some(None)` clears.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserProfileChanged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub display_name: Option<Personal<DisplayName>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub phone: Option<Option<Personal<Phone>>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::double_option"
    )]
    #[schema(value_type = Option<crate::personal::PersonalField>)]
    pub email: Option<Option<Personal<Email>>>,
}

impl UserProfileChanged {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// An admin switched the user off: it can no longer sign in, but stays in the
/// directory (and in every event that names it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserDeactivated {
    pub reason: Option<ShortText>,
}

/// An admin switched a deactivated user back on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserReactivated {}

/// An admin set a new one-time password for the user. Only the fact: the
/// hash is kept outside the log, so erasing or rotating it rewrites nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserPasswordReset {}

/// The user changed its own password (the fact only, as for a reset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserPasswordChanged {}

/// The user bound a WeChat account for signing in (the openid is kept
/// outside the log). Binding again records a new binding, which may be to
/// another account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserWeChatBound {}

/// The user removed its WeChat binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserWeChatUnbound {}

/// The user's personal data was erased on request (PIPL, GDPR): its data key
/// is destroyed, so every sealed field of its stream reads as erased. Only a
/// deactivated user is forgotten, so the user stays unable to sign in; its
/// login remains as a pseudonym in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserForgotten {
    pub reason: ShortText,
}

impl UserEvent {
    /// The stable name stored in `event_type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            UserEvent::UserInvited(_) => "UserInvited",
            UserEvent::UserRoleChanged(_) => "UserRoleChanged",
            UserEvent::UserProfileChanged(_) => "UserProfileChanged",
            UserEvent::UserDeactivated(_) => "UserDeactivated",
            UserEvent::UserReactivated(_) => "UserReactivated",
            UserEvent::UserPasswordReset(_) => "UserPasswordReset",
            UserEvent::UserPasswordChanged(_) => "UserPasswordChanged",
            UserEvent::UserWeChatBound(_) => "UserWeChatBound",
            UserEvent::UserWeChatUnbound(_) => "UserWeChatUnbound",
            UserEvent::UserForgotten(_) => "UserForgotten",
        }
    }

    /// Whether the event carries personal fields (and so needs the data key).
    pub fn has_personal_data(&self) -> bool {
        match self {
            UserEvent::UserInvited(_) => true,
            UserEvent::UserProfileChanged(change) => !change.is_empty(),
            _ => false,
        }
    }

    /// Seals every personal field with the user's data key. `user` is the
    /// user's stream id: the data key is stored under it and every sealed
    /// value is bound to it (AES-GCM associated data), as a customer's are to
    /// the customer's id.
    pub fn seal_personal(&mut self, key: &DataKey, user: Uuid) {
        match self {
            UserEvent::UserInvited(invited) => {
                invited.display_name.seal(key, user);
                invited
                    .phone
                    .iter_mut()
                    .for_each(|phone| phone.seal(key, user));
                invited
                    .email
                    .iter_mut()
                    .for_each(|email| email.seal(key, user));
            }
            UserEvent::UserProfileChanged(change) => {
                change
                    .display_name
                    .iter_mut()
                    .for_each(|name| name.seal(key, user));
                change
                    .phone
                    .iter_mut()
                    .flatten()
                    .for_each(|phone| phone.seal(key, user));
                change
                    .email
                    .iter_mut()
                    .flatten()
                    .for_each(|email| email.seal(key, user));
            }
            _ => {}
        }
    }
}

impl DomainEvent for UserEvent {
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
    use crate::schema::tests::{assert_samples_match_schemas, round_trips};

    const USER: Uuid = Uuid::from_u128(0x5e);

    fn login(text: &str) -> UserId {
        UserId::parse(text).expect("login")
    }

    fn name(text: &str) -> Personal<DisplayName> {
        Personal::Clear(DisplayName::parse(text).expect("display name"))
    }

    fn phone() -> Personal<Phone> {
        Personal::Clear(Phone::parse("13800138000").expect("phone"))
    }

    fn email() -> Personal<Email> {
        Personal::Clear(Email::parse("wang.xm@xingchen.cn").expect("email"))
    }

    fn reason(text: &str) -> ShortText {
        ShortText::parse(text).expect("reason")
    }

    fn invited() -> UserEvent {
        UserEvent::UserInvited(UserInvited {
            tenant_id: Uuid::from_u128(0x11),
            login: login("e1024"),
            display_name: name("王小明"),
            phone: Some(phone()),
            email: Some(email()),
            role: Role::Rep,
        })
    }

    /// One event of every type, optional fields both set and empty.
    fn samples() -> Vec<UserEvent> {
        vec![
            invited(),
            UserEvent::UserInvited(UserInvited {
                tenant_id: Uuid::from_u128(0x11),
                login: login("auditor-1"),
                display_name: name("审计"),
                phone: None,
                email: None,
                role: Role::Auditor,
            }),
            UserEvent::UserRoleChanged(UserRoleChanged {
                role: Role::Manager,
                previous_role: Role::Rep,
            }),
            UserEvent::UserProfileChanged(UserProfileChanged {
                display_name: Some(name("王晓明")),
                phone: Some(None),
                email: Some(Some(email())),
            }),
            UserEvent::UserProfileChanged(UserProfileChanged {
                phone: Some(Some(phone())),
                ..Default::default()
            }),
            UserEvent::UserDeactivated(UserDeactivated {
                reason: Some(reason("离职")),
            }),
            UserEvent::UserDeactivated(UserDeactivated { reason: None }),
            UserEvent::UserReactivated(UserReactivated {}),
            UserEvent::UserPasswordReset(UserPasswordReset {}),
            UserEvent::UserPasswordChanged(UserPasswordChanged {}),
            UserEvent::UserWeChatBound(UserWeChatBound {}),
            UserEvent::UserWeChatUnbound(UserWeChatUnbound {}),
            UserEvent::UserForgotten(UserForgotten {
                reason: reason("本人要求删除个人信息"),
            }),
        ]
    }

    macro_rules! round_trip_test {
        ($($test:ident: $type_name:literal),* $(,)?) => {$(
            #[test]
            fn $test() {
                round_trips(&samples(), $type_name, UserEvent::type_name);
            }
        )*};
    }

    round_trip_test!(
        invited_round_trips: "UserInvited",
        role_changed_round_trips: "UserRoleChanged",
        profile_changed_round_trips: "UserProfileChanged",
        deactivated_round_trips: "UserDeactivated",
        reactivated_round_trips: "UserReactivated",
        password_reset_round_trips: "UserPasswordReset",
        password_changed_round_trips: "UserPasswordChanged",
        wechat_bound_round_trips: "UserWeChatBound",
        wechat_unbound_round_trips: "UserWeChatUnbound",
        forgotten_round_trips: "UserForgotten",
    );

    #[test]
    fn every_event_type_has_samples_and_a_stable_name() {
        let samples = samples();
        for type_name in EVENT_TYPES {
            assert!(samples.iter().any(|event| event.type_name() == type_name));
        }
        let event = invited();
        assert_eq!(event.event_type(), "UserInvited");
        assert_eq!(event.event_version(), "1");
    }

    #[test]
    fn profile_change_distinguishes_absent_from_cleared() {
        let change = UserProfileChanged {
            email: Some(None),
            ..Default::default()
        };
        let json = serde_json::to_string(&change).expect("serialise");
        assert_eq!(json, r#"{"email":null}"#);
        let back: UserProfileChanged = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, change);
        let empty: UserProfileChanged = serde_json::from_str("{}").expect("deserialise");
        assert!(empty.is_empty());
    }

    #[test]
    fn personal_fields_are_sealed_with_the_users_key_and_id() {
        let key = DataKey::generate();
        for mut event in samples() {
            let personal = event.has_personal_data();
            event.seal_personal(&key, USER);
            let json = serde_json::to_string(&event).expect("serialise");
            assert_eq!(json.contains("sealed:v1:"), personal, "{json}");
            for clear in ["王", "13800138000", "wang.xm"] {
                assert!(!json.contains(clear), "{clear} in clear: {json}");
            }
        }
        let mut event = invited();
        event.seal_personal(&key, USER);
        let UserEvent::UserInvited(sealed) = event else {
            panic!("still an invitation");
        };
        assert_eq!(sealed.login, login("e1024"), "the login is never sealed");
        let name = &sealed.display_name;
        assert_eq!(name.reveal(Some(&key), USER).as_deref(), Some("王小明"));
        assert_eq!(name.reveal(Some(&key), Uuid::from_u128(0x5f)), None);
    }

    #[test]
    fn stored_payloads_match_their_json_schemas() {
        let key = DataKey::generate();
        let stored = samples().into_iter().map(|mut event| {
            event.seal_personal(&key, USER);
            (
                event.type_name(),
                serde_json::to_value(&event).expect("json"),
            )
        });
        assert_samples_match_schemas(&crate::schema::USER, stored);
    }
}

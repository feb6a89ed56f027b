//! The User aggregate's rules in given/when/then form, without a database.

use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;
use uuid::Uuid;

use command::user::{Actor, Invitation, ProfileChange, User, UserAction, UserCommand, UserError};
use events::personal::Personal;
use events::user::{
    UserDeactivated, UserForgotten, UserInvited, UserPasswordChanged, UserPasswordReset,
    UserProfileChanged, UserReactivated, UserRoleChanged, UserWeChatBound, UserWeChatUnbound,
};
use events::values::{DisplayName, Email, Phone, ShortText, UserId};
use events::{Role, UserEvent};

type Rules = TestFramework<User>;

const TENANT: Uuid = Uuid::from_u128(0x11);
const OTHER_TENANT: Uuid = Uuid::from_u128(0x22);
/// The user the stream is about.
const LOGIN: &str = "e1024";
const ADMIN: &str = "root";

fn login(id: &str) -> UserId {
    UserId::parse(id).expect("login")
}

fn actor(role: Role, id: &str) -> Actor {
    Actor {
        tenant_id: TENANT,
        user_id: login(id),
        role,
    }
}

fn command(actor: Actor, action: UserAction) -> UserCommand {
    UserCommand {
        actor,
        expected_version: None,
        action,
    }
}

fn by_admin(action: UserAction) -> UserCommand {
    command(actor(Role::Admin, ADMIN), action)
}

/// The user itself, signed in with its own role.
fn by_self(action: UserAction) -> UserCommand {
    command(actor(Role::Rep, LOGIN), action)
}

fn name(text: &str) -> DisplayName {
    DisplayName::parse(text).expect("display name")
}

fn text(value: &str) -> ShortText {
    ShortText::parse(value).expect("text")
}

fn invitation(role: Role) -> Invitation {
    Invitation {
        login: login(LOGIN),
        display_name: name("王小明"),
        phone: Some(Phone::parse("13800138000").expect("phone")),
        email: None,
        role,
    }
}

fn invited_as(id: &str, role: Role) -> UserEvent {
    UserEvent::UserInvited(UserInvited {
        tenant_id: TENANT,
        login: login(id),
        display_name: Personal::Clear(name("王小明")),
        phone: None,
        email: None,
        role,
    })
}

fn invited() -> UserEvent {
    invited_as(LOGIN, Role::Rep)
}

fn deactivated() -> UserEvent {
    UserEvent::UserDeactivated(UserDeactivated { reason: None })
}

fn forgotten() -> UserEvent {
    UserEvent::UserForgotten(UserForgotten {
        reason: text("本人要求删除"),
    })
}

fn forget() -> UserAction {
    UserAction::Forget {
        reason: text("本人要求删除"),
    }
}

fn rename() -> UserAction {
    UserAction::ChangeProfile(ProfileChange {
        display_name: Some(name("王晓明")),
        ..Default::default()
    })
}

async fn expect_error(given: Vec<UserEvent>, when: UserCommand, error: UserError) {
    Rules::with(())
        .given(given)
        .when_async(when)
        .await
        .then_expect_error(error);
}

async fn expect_events(given: Vec<UserEvent>, when: UserCommand) -> Vec<UserEvent> {
    Rules::with(())
        .given(given)
        .when_async(when)
        .await
        .inspect_result()
        .expect("command accepted")
}

#[tokio::test]
async fn an_admin_invites_a_user_into_its_tenant() {
    let events = expect_events(vec![], by_admin(UserAction::Invite(invitation(Role::Rep)))).await;
    let [UserEvent::UserInvited(invited)] = events.as_slice() else {
        panic!("expected one UserInvited, got {events:?}");
    };
    assert_eq!(invited.tenant_id, TENANT);
    assert_eq!(invited.login, login(LOGIN));
    assert_eq!(invited.role, Role::Rep);
    assert_eq!(invited.display_name, Personal::Clear(name("王小明")));
    assert!(invited.phone.is_some() && invited.email.is_none());
}

#[tokio::test]
async fn only_an_admin_invites() {
    for role in [Role::Rep, Role::Manager, Role::Auditor] {
        expect_error(
            vec![],
            command(
                actor(role, "boss"),
                UserAction::Invite(invitation(Role::Rep)),
            ),
            UserError::Forbidden("only an admin may invite users".into()),
        )
        .await;
    }
}

#[tokio::test]
async fn inviting_onto_an_existing_user_is_a_conflict() {
    expect_error(
        vec![invited()],
        by_admin(UserAction::Invite(invitation(Role::Manager))),
        UserError::AlreadyExists,
    )
    .await;
}

#[tokio::test]
async fn commands_on_an_unknown_user_find_nothing() {
    expect_error(
        vec![],
        by_admin(UserAction::ChangeRole {
            role: Role::Manager,
        }),
        UserError::NotFound,
    )
    .await;
}

#[tokio::test]
async fn another_tenants_user_is_not_found() {
    let stranger = Actor {
        tenant_id: OTHER_TENANT,
        user_id: login(ADMIN),
        role: Role::Admin,
    };
    expect_error(
        vec![invited()],
        command(stranger, UserAction::Reactivate),
        UserError::NotFound,
    )
    .await;
}

#[tokio::test]
async fn an_admin_changes_a_role_and_the_event_names_the_previous_one() {
    let events = expect_events(
        vec![invited()],
        by_admin(UserAction::ChangeRole {
            role: Role::Manager,
        }),
    )
    .await;
    let changed = UserEvent::UserRoleChanged(UserRoleChanged {
        role: Role::Manager,
        previous_role: Role::Rep,
    });
    assert_eq!(events, vec![changed]);
}

#[tokio::test]
async fn only_an_admin_changes_a_role() {
    for (role, id) in [(Role::Manager, "boss"), (Role::Rep, LOGIN)] {
        expect_error(
            vec![invited()],
            command(
                actor(role, id),
                UserAction::ChangeRole { role: Role::Admin },
            ),
            UserError::Forbidden("only an admin may change a user's role".into()),
        )
        .await;
    }
}

#[tokio::test]
async fn setting_the_role_a_user_has_appends_nothing() {
    let same = by_admin(UserAction::ChangeRole { role: Role::Rep });
    assert!(expect_events(vec![invited()], same).await.is_empty());
}

#[tokio::test]
async fn an_admin_cannot_lower_its_own_role() {
    let given = vec![invited_as(ADMIN, Role::Admin)];
    for role in [Role::Manager, Role::Rep, Role::Auditor] {
        expect_error(
            given.clone(),
            by_admin(UserAction::ChangeRole { role }),
            UserError::Forbidden(
                "an admin cannot lower its own role: another admin must do it".into(),
            ),
        )
        .await;
    }
    let keep = by_admin(UserAction::ChangeRole { role: Role::Admin });
    assert!(expect_events(given, keep).await.is_empty());
}

#[tokio::test]
async fn an_admin_deactivates_and_reactivates_a_user() {
    let reason = Some(text("离职"));
    let events = expect_events(
        vec![invited()],
        by_admin(UserAction::Deactivate {
            reason: reason.clone(),
        }),
    )
    .await;
    let expected = UserEvent::UserDeactivated(UserDeactivated { reason });
    assert_eq!(events, vec![expected]);
    let events = expect_events(
        vec![invited(), deactivated()],
        by_admin(UserAction::Reactivate),
    )
    .await;
    assert_eq!(events, vec![UserEvent::UserReactivated(UserReactivated {})]);
}

#[tokio::test]
async fn only_an_admin_deactivates_or_reactivates() {
    let manager = || actor(Role::Manager, "boss");
    expect_error(
        vec![invited()],
        command(manager(), UserAction::Deactivate { reason: None }),
        UserError::Forbidden("only an admin may deactivate a user".into()),
    )
    .await;
    expect_error(
        vec![invited(), deactivated()],
        command(manager(), UserAction::Reactivate),
        UserError::Forbidden("only an admin may reactivate a user".into()),
    )
    .await;
}

#[tokio::test]
async fn an_admin_cannot_deactivate_itself() {
    expect_error(
        vec![invited_as(ADMIN, Role::Admin)],
        by_admin(UserAction::Deactivate { reason: None }),
        UserError::Forbidden("an admin cannot deactivate itself: another admin must do it".into()),
    )
    .await;
}

#[tokio::test]
async fn deactivating_a_deactivated_user_appends_nothing() {
    let again = by_admin(UserAction::Deactivate { reason: None });
    assert!(expect_events(vec![invited(), deactivated()], again)
        .await
        .is_empty());
}

#[tokio::test]
async fn reactivating_an_active_user_appends_nothing() {
    assert!(
        expect_events(vec![invited()], by_admin(UserAction::Reactivate))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_user_changes_its_own_profile_and_an_admin_anyones() {
    let expected = vec![UserEvent::UserProfileChanged(UserProfileChanged {
        display_name: Some(Personal::Clear(name("王晓明"))),
        ..Default::default()
    })];
    assert_eq!(
        expect_events(vec![invited()], by_self(rename())).await,
        expected
    );
    assert_eq!(
        expect_events(vec![invited()], by_admin(rename())).await,
        expected
    );
    let cleared = UserAction::ChangeProfile(ProfileChange {
        phone: Some(None),
        email: Some(Some(Email::parse("wxm@xingchen.cn").expect("email"))),
        ..Default::default()
    });
    let events = expect_events(vec![invited()], by_self(cleared)).await;
    let [UserEvent::UserProfileChanged(change)] = events.as_slice() else {
        panic!("expected a profile change, got {events:?}");
    };
    assert_eq!(change.phone, Some(None), "cleared");
    assert!(matches!(change.email, Some(Some(Personal::Clear(_)))));
}

#[tokio::test]
async fn nobody_else_changes_a_users_profile() {
    expect_error(
        vec![invited()],
        command(actor(Role::Manager, "boss"), rename()),
        UserError::Forbidden("only the user itself or an admin may change a user's profile".into()),
    )
    .await;
}

#[tokio::test]
async fn an_empty_profile_change_is_refused() {
    expect_error(
        vec![invited()],
        by_self(UserAction::ChangeProfile(ProfileChange::default())),
        UserError::Invalid {
            field: "profile",
            message: "the change changes nothing: give a display name, phone or email".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn only_an_admin_resets_a_password_and_only_the_fact_is_recorded() {
    expect_error(
        vec![invited()],
        by_self(UserAction::ResetPassword),
        UserError::Forbidden("only an admin may reset a user's password".into()),
    )
    .await;
    let events = expect_events(vec![invited()], by_admin(UserAction::ResetPassword)).await;
    assert_eq!(
        events,
        vec![UserEvent::UserPasswordReset(UserPasswordReset {})]
    );
}

#[tokio::test]
async fn a_user_changes_only_its_own_password() {
    let events = expect_events(vec![invited()], by_self(UserAction::ChangePassword)).await;
    assert_eq!(
        events,
        vec![UserEvent::UserPasswordChanged(UserPasswordChanged {})]
    );
    expect_error(
        vec![invited()],
        by_admin(UserAction::ChangePassword),
        UserError::Forbidden(
            "a user changes only its own password: an admin resets another's".into(),
        ),
    )
    .await;
}

#[tokio::test]
async fn only_the_user_binds_or_unbinds_its_wechat() {
    for action in [UserAction::BindWeChat, UserAction::UnbindWeChat] {
        expect_error(
            vec![invited()],
            by_admin(action),
            UserError::Forbidden(
                "only the user itself may bind or unbind its WeChat account".into(),
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn every_binding_is_recorded_and_unbinding_an_unbound_user_appends_nothing() {
    let bound = UserEvent::UserWeChatBound(UserWeChatBound {});
    let given = vec![invited(), bound.clone()];
    let events = expect_events(given.clone(), by_self(UserAction::BindWeChat)).await;
    assert_eq!(events, vec![bound], "perhaps another WeChat account");
    let events = expect_events(given, by_self(UserAction::UnbindWeChat)).await;
    assert_eq!(
        events,
        vec![UserEvent::UserWeChatUnbound(UserWeChatUnbound {})]
    );
    let never_bound = by_self(UserAction::UnbindWeChat);
    assert!(expect_events(vec![invited()], never_bound).await.is_empty());
}

#[tokio::test]
async fn a_deactivated_user_accepts_only_reactivation_admin_profile_changes_and_erasure() {
    let given = vec![invited(), deactivated()];
    for when in [
        by_admin(UserAction::ChangeRole {
            role: Role::Manager,
        }),
        by_admin(UserAction::ResetPassword),
        by_self(UserAction::ChangePassword),
        by_self(UserAction::BindWeChat),
        by_self(rename()),
    ] {
        expect_error(given.clone(), when, UserError::Deactivated).await;
    }
    for when in [
        by_admin(UserAction::Reactivate),
        by_admin(rename()),
        by_admin(forget()),
    ] {
        assert_eq!(expect_events(given.clone(), when).await.len(), 1);
    }
}

#[tokio::test]
async fn only_an_admin_erases_a_users_personal_data() {
    expect_error(
        vec![invited(), deactivated()],
        command(actor(Role::Manager, "boss"), forget()),
        UserError::Forbidden("only an admin may erase a user's personal data".into()),
    )
    .await;
    let events = expect_events(vec![invited(), deactivated()], by_admin(forget())).await;
    assert_eq!(events, vec![forgotten()]);
}

#[tokio::test]
async fn only_a_deactivated_user_is_erased() {
    expect_error(vec![invited()], by_admin(forget()), UserError::Active).await;
}

#[tokio::test]
async fn a_forgotten_user_accepts_nothing_and_erasing_again_appends_nothing() {
    let given = vec![invited(), deactivated(), forgotten()];
    for when in [
        by_admin(UserAction::Reactivate),
        by_admin(rename()),
        by_admin(UserAction::Deactivate { reason: None }),
        by_self(UserAction::ChangePassword),
    ] {
        expect_error(given.clone(), when, UserError::Forgotten).await;
    }
    assert!(expect_events(given, by_admin(forget())).await.is_empty());
}

#[tokio::test]
async fn if_match_must_name_the_current_version() {
    let mut stale = by_admin(UserAction::ResetPassword);
    stale.expected_version = Some(0);
    expect_error(
        vec![invited()],
        stale,
        UserError::VersionMismatch {
            expected: 0,
            actual: 1,
        },
    )
    .await;
    let mut current = by_admin(UserAction::ResetPassword);
    current.expected_version = Some(1);
    assert_eq!(expect_events(vec![invited()], current).await.len(), 1);
}

#[test]
fn the_state_follows_the_stream() {
    let mut user = User::default();
    assert!(!user.is_active() && user.login().is_none());
    let invite = by_admin(UserAction::Invite(invitation(Role::Rep)));
    assert!(user.decide_and_apply(invite).expect("invited").is_some());
    assert_eq!(user.login(), Some(&login(LOGIN)));
    assert_eq!(user.role(), Some(Role::Rep));
    assert!(user.is_active());
    for event in [deactivated(), forgotten()] {
        user.apply(event);
    }
    assert!(!user.is_active() && user.is_forgotten());
    assert_eq!(user.version(), 3);
    assert_eq!(User::TYPE, "User");
}

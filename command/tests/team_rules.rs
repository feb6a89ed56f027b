//! The Team aggregate's rules in given/when/then form, without a database.

use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;
use uuid::Uuid;

use command::team::{Actor, Team, TeamAction, TeamCommand, TeamError, TeamRole};
use events::team::{
    TeamCreated, TeamMemberAdded, TeamMemberRemoved, TeamMemberRoleChanged, TeamRenamed,
};
use events::values::{TeamName, UserId};
use events::{Role, TeamEvent};

type Rules = TestFramework<Team>;

const TENANT: Uuid = Uuid::from_u128(0x11);
const OTHER_TENANT: Uuid = Uuid::from_u128(0x22);

fn login(id: &str) -> UserId {
    UserId::parse(id).expect("login")
}

fn team_name(text: &str) -> TeamName {
    TeamName::parse(text).expect("team name")
}

fn actor(role: Role, id: &str) -> Actor {
    Actor {
        tenant_id: TENANT,
        user_id: login(id),
        role,
    }
}

fn command(actor: Actor, action: TeamAction) -> TeamCommand {
    TeamCommand {
        actor,
        expected_version: None,
        action,
    }
}

fn by_admin(action: TeamAction) -> TeamCommand {
    command(actor(Role::Admin, "root"), action)
}

fn created() -> TeamEvent {
    TeamEvent::TeamCreated(TeamCreated {
        tenant_id: TENANT,
        name: team_name("华东销售一组"),
    })
}

fn added(id: &str, role: TeamRole) -> TeamEvent {
    TeamEvent::TeamMemberAdded(TeamMemberAdded {
        login: login(id),
        role,
    })
}

fn add(id: &str, role: TeamRole) -> TeamAction {
    TeamAction::AddMember {
        login: login(id),
        role,
    }
}

fn change_role(id: &str, role: TeamRole) -> TeamAction {
    TeamAction::ChangeMemberRole {
        login: login(id),
        role,
    }
}

async fn expect_error(given: Vec<TeamEvent>, when: TeamCommand, error: TeamError) {
    Rules::with(())
        .given(given)
        .when_async(when)
        .await
        .then_expect_error(error);
}

async fn expect_events(given: Vec<TeamEvent>, when: TeamCommand) -> Vec<TeamEvent> {
    Rules::with(())
        .given(given)
        .when_async(when)
        .await
        .inspect_result()
        .expect("command accepted")
}

#[tokio::test]
async fn an_admin_creates_a_team_in_its_tenant_without_managers() {
    let create = TeamAction::Create {
        name: team_name("华东销售一组"),
    };
    assert_eq!(
        expect_events(vec![], by_admin(create)).await,
        vec![created()]
    );
}

#[tokio::test]
async fn only_an_admin_manages_teams() {
    let forbidden = || TeamError::Forbidden("only an admin may create teams or change them".into());
    for role in [Role::Rep, Role::Manager, Role::Auditor] {
        let create = TeamAction::Create {
            name: team_name("新组"),
        };
        expect_error(vec![], command(actor(role, "boss"), create), forbidden()).await;
        for action in [
            TeamAction::Rename {
                name: team_name("新组"),
            },
            add("e1024", TeamRole::Member),
            TeamAction::RemoveMember {
                login: login("e1024"),
            },
            change_role("e1024", TeamRole::Manager),
        ] {
            let given = vec![created(), added("e1024", TeamRole::Member)];
            expect_error(given, command(actor(role, "boss"), action), forbidden()).await;
        }
    }
}

#[tokio::test]
async fn creating_onto_an_existing_team_is_a_conflict() {
    let create = TeamAction::Create {
        name: team_name("另一组"),
    };
    expect_error(vec![created()], by_admin(create), TeamError::AlreadyExists).await;
}

#[tokio::test]
async fn commands_on_an_unknown_team_find_nothing() {
    expect_error(
        vec![],
        by_admin(add("e1024", TeamRole::Member)),
        TeamError::NotFound,
    )
    .await;
}

#[tokio::test]
async fn another_tenants_team_is_not_found() {
    let stranger = Actor {
        tenant_id: OTHER_TENANT,
        user_id: login("root"),
        role: Role::Admin,
    };
    expect_error(
        vec![created()],
        command(stranger, add("e1024", TeamRole::Member)),
        TeamError::NotFound,
    )
    .await;
}

#[tokio::test]
async fn renaming_records_the_new_name_and_the_same_name_appends_nothing() {
    let rename = |text: &str| {
        by_admin(TeamAction::Rename {
            name: team_name(text),
        })
    };
    let events = expect_events(vec![created()], rename("华东大客户组")).await;
    let expected = TeamEvent::TeamRenamed(TeamRenamed {
        name: team_name("华东大客户组"),
    });
    assert_eq!(events, vec![expected]);
    assert!(expect_events(vec![created()], rename("华东销售一组"))
        .await
        .is_empty());
}

#[tokio::test]
async fn an_admin_adds_members_and_managers() {
    for role in [TeamRole::Member, TeamRole::Manager] {
        let events = expect_events(vec![created()], by_admin(add("e1024", role))).await;
        assert_eq!(events, vec![added("e1024", role)]);
    }
}

#[tokio::test]
async fn adding_a_member_with_the_role_it_has_appends_nothing() {
    let given = vec![created(), added("e1024", TeamRole::Manager)];
    assert!(
        expect_events(given, by_admin(add("e1024", TeamRole::Manager)))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn adding_a_member_with_another_role_is_a_conflict() {
    expect_error(
        vec![created(), added("e1024", TeamRole::Member)],
        by_admin(add("e1024", TeamRole::Manager)),
        TeamError::AlreadyMember {
            login: login("e1024"),
            role: TeamRole::Member,
        },
    )
    .await;
}

#[tokio::test]
async fn removing_a_member_and_removing_one_not_there_appends_nothing() {
    let remove = |id: &str| by_admin(TeamAction::RemoveMember { login: login(id) });
    let given = vec![created(), added("e1024", TeamRole::Member)];
    let events = expect_events(given.clone(), remove("e1024")).await;
    let expected = TeamEvent::TeamMemberRemoved(TeamMemberRemoved {
        login: login("e1024"),
    });
    assert_eq!(events, vec![expected]);
    assert!(expect_events(given, remove("e2048")).await.is_empty());
}

#[tokio::test]
async fn a_member_is_promoted_or_demoted_by_a_role_change() {
    let given = vec![created(), added("e1024", TeamRole::Member)];
    let events = expect_events(given, by_admin(change_role("e1024", TeamRole::Manager))).await;
    let promoted = TeamEvent::TeamMemberRoleChanged(TeamMemberRoleChanged {
        login: login("e1024"),
        role: TeamRole::Manager,
    });
    assert_eq!(events, vec![promoted]);
}

#[tokio::test]
async fn setting_the_role_a_member_has_appends_nothing() {
    let given = vec![created(), added("e1024", TeamRole::Manager)];
    let same = by_admin(change_role("e1024", TeamRole::Manager));
    assert!(expect_events(given, same).await.is_empty());
}

#[tokio::test]
async fn only_a_member_has_its_role_changed() {
    expect_error(
        vec![created()],
        by_admin(change_role("e1024", TeamRole::Manager)),
        TeamError::NotAMember(login("e1024")),
    )
    .await;
}

#[tokio::test]
async fn a_team_may_lose_its_last_manager() {
    let given = vec![created(), added("e1024", TeamRole::Manager)];
    let demote = by_admin(change_role("e1024", TeamRole::Member));
    assert_eq!(expect_events(given.clone(), demote).await.len(), 1);
    let remove = by_admin(TeamAction::RemoveMember {
        login: login("e1024"),
    });
    assert_eq!(expect_events(given, remove).await.len(), 1);
}

#[tokio::test]
async fn if_match_must_name_the_current_version() {
    let mut stale = by_admin(add("e1024", TeamRole::Member));
    stale.expected_version = Some(0);
    expect_error(
        vec![created()],
        stale,
        TeamError::VersionMismatch {
            expected: 0,
            actual: 1,
        },
    )
    .await;
    let mut current = by_admin(add("e1024", TeamRole::Member));
    current.expected_version = Some(1);
    assert_eq!(expect_events(vec![created()], current).await.len(), 1);
}

#[test]
fn the_state_follows_the_stream() {
    let mut team = Team::default();
    let create = by_admin(TeamAction::Create {
        name: team_name("华东销售一组"),
    });
    assert!(team.decide_and_apply(create).expect("created").is_some());
    for event in [
        added("e1024", TeamRole::Member),
        added("e2048", TeamRole::Member),
        TeamEvent::TeamMemberRoleChanged(TeamMemberRoleChanged {
            login: login("e1024"),
            role: TeamRole::Manager,
        }),
        TeamEvent::TeamMemberRemoved(TeamMemberRemoved {
            login: login("e2048"),
        }),
    ] {
        team.apply(event);
    }
    assert_eq!(team.name(), Some(&team_name("华东销售一组")));
    assert_eq!(team.member_role(&login("e1024")), Some(TeamRole::Manager));
    assert_eq!(team.member_role(&login("e2048")), None);
    assert_eq!(team.members().count(), 1);
    assert_eq!(team.version(), 5);
    assert_eq!(Team::TYPE, "Team");
}

//! The demo tenant's people: an admin, a manager with a team of two reps
//! (the reps who own the demo customers), another rep outside the team, and
//! an auditor, each with a one-time password printed at start.

use uuid::Uuid;

use command::aggregate::Actor;
use command::credentials::{Password, PasswordHash};
use command::directory::{DirectoryService, NewTenant};
use command::team::{TeamAction, TeamCommand};
use command::user::{Invitation, UserAction, UserCommand};
use command::RequestContext;
use events::team::TeamRole;
use events::values::{DisplayName, TeamName, UserId};
use events::Role;

/// Someone who can sign in to the demo.
pub struct DemoLogin {
    pub login: String,
    pub role: Role,
    pub password: Password,
}

/// Logins, display names and roles of the demo's people; the reps are the
/// owners `demo::seed` gives the customers.
const PEOPLE: &[(&str, &str, Role)] = &[
    ("demo-admin", "管理员", Role::Admin),
    ("demo-manager", "王经理", Role::Manager),
    ("rep-zhang", "张伟", Role::Rep),
    ("rep-li", "李娜", Role::Rep),
    ("rep-wang", "王芳", Role::Rep),
    ("demo-auditor", "审计员", Role::Auditor),
];

/// The team: its manager and members (`rep-wang` stays outside it, so the
/// manager sees two reps' customers and not the third's).
const TEAM: (&str, &str, &[&str]) = ("华东销售一组", "demo-manager", &["rep-zhang", "rep-li"]);

/// Creates the people, or on a later start (the demo tenant is kept in the
/// data directory) gives them fresh one-time passwords.
pub async fn create(
    directory: &DirectoryService,
    tenant_id: Uuid,
) -> anyhow::Result<Vec<DemoLogin>> {
    let request = RequestContext::default();
    let admin = Actor {
        tenant_id,
        user_id: UserId::parse(PEOPLE[0].0)?,
        role: Role::Admin,
    };
    if directory
        .credentials(tenant_id, &admin.user_id)
        .await?
        .is_some()
    {
        return reset_passwords(directory, &admin).await;
    }
    let mut logins = Vec::new();
    for (index, (login, name, role)) in PEOPLE.iter().enumerate() {
        let password = Password::one_time();
        let hash = PasswordHash::of(&password).await?;
        if index == 0 {
            directory
                .create_tenant(NewTenant {
                    tenant_id,
                    name: "演示公司".to_owned(),
                    admin_login: UserId::parse(login)?,
                    admin_name: DisplayName::parse(name)?,
                    admin_password: hash,
                })
                .await?;
        } else {
            let command = UserCommand {
                actor: admin.clone(),
                expected_version: None,
                action: UserAction::Invite(Invitation {
                    login: UserId::parse(login)?,
                    display_name: DisplayName::parse(name)?,
                    phone: None,
                    email: None,
                    role: *role,
                }),
            };
            directory
                .execute_user(Uuid::now_v7(), command, &request, Some(hash))
                .await?;
        }
        logins.push(DemoLogin {
            login: (*login).to_owned(),
            role: *role,
            password,
        });
    }
    let team_id = Uuid::now_v7();
    let (team_name, manager, members) = TEAM;
    let mut actions = vec![
        TeamAction::Create {
            name: TeamName::parse(team_name)?,
        },
        TeamAction::AddMember {
            login: UserId::parse(manager)?,
            role: TeamRole::Manager,
        },
    ];
    for member in members {
        actions.push(TeamAction::AddMember {
            login: UserId::parse(member)?,
            role: TeamRole::Member,
        });
    }
    for action in actions {
        let command = TeamCommand {
            actor: admin.clone(),
            expected_version: None,
            action,
        };
        directory.execute_team(team_id, command, &request).await?;
    }
    Ok(logins)
}

async fn reset_passwords(
    directory: &DirectoryService,
    admin: &Actor,
) -> anyhow::Result<Vec<DemoLogin>> {
    let mut logins = Vec::new();
    for (login, _, role) in PEOPLE {
        let Some((user_id, _)) = directory
            .credentials(admin.tenant_id, &UserId::parse(login)?)
            .await?
        else {
            continue;
        };
        let password = Password::one_time();
        let hash = PasswordHash::of(&password).await?;
        let command = UserCommand {
            actor: admin.clone(),
            expected_version: None,
            action: UserAction::ResetPassword,
        };
        directory
            .execute_user(user_id, command, &RequestContext::default(), Some(hash))
            .await?;
        logins.push(DemoLogin {
            login: (*login).to_owned(),
            role: *role,
            password,
        });
    }
    Ok(logins)
}

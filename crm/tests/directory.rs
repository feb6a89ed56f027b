//! The tenant's directory over HTTP: users and teams as events, their read
//! model in the same transaction, admins only, tenants apart, nothing
//! written on refusal.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use command::credentials::{Password, PasswordHash};
use command::directory::{rebuild, DirectoryService, NewTenant};
use common::TestApp;
use events::values::{DisplayName, UserId};
use web::Role;

async fn invite(app: &TestApp, token: &str, login: &str, role: &str) -> common::Reply {
    app.call(
        Method::POST,
        "/v1/users",
        token,
        json!({"login": login, "display_name": format!("{login} 名"), "phone": "13800138000", "role": role}),
    )
    .await
}

async fn directory_dump(pool: &PgPool) -> Value {
    sqlx::query_scalar(
        "SELECT json_build_object(
            'users', (SELECT json_agg(u ORDER BY login) FROM (SELECT tenant_id, login, user_id, display_name, phone, email, role, active, forgotten, version FROM directory_users) u),
            'teams', (SELECT json_agg(t ORDER BY team_id) FROM (SELECT tenant_id, team_id, name, version FROM directory_teams) t),
            'members', (SELECT json_agg(m ORDER BY team_id, login) FROM directory_team_members m))",
    )
    .fetch_one(pool)
    .await
    .expect("dump")
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn an_admin_invites_users_who_are_listed_at_once(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    let invited = invite(&app, &admin, "rep-1", "rep")
        .await
        .expect(StatusCode::CREATED);
    let password = invited.body["one_time_password"]
        .as_str()
        .expect("password");
    assert_eq!(password.len(), 16);
    let id = invited.id();
    assert_eq!(
        invited.headers["location"].to_str().expect("location"),
        format!("/v1/users/{id}")
    );

    let listed = app
        .call(Method::GET, "/v1/users", &admin, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed.body["users"][0]["login"], "rep-1");
    assert_eq!(listed.body["users"][0]["display_name"], "rep-1 名");
    assert_eq!(listed.body["users"][0]["phone"], "13800138000");
    assert_eq!(listed.body["users"][0]["active"], true);

    // A rep sees its colleagues, not their contact details.
    let rep = app.token(Role::Rep, "rep-2");
    let seen = app
        .call(Method::GET, &format!("/v1/users/{id}"), &rep, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(seen.body["display_name"], "rep-1 名");
    assert_eq!(seen.body["phone"], Value::Null);

    // The password is stored as an argon2id hash that verifies, never in the log.
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM user_credentials WHERE user_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("credentials");
    assert!(hash.starts_with("$argon2id$"));
    assert!(PasswordHash::from_stored(hash)
        .verify(password.to_owned())
        .await
        .expect("verify"));
    let payload: String = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE aggregate_type = 'User' AND aggregate_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(&pool)
    .await
    .expect("event");
    assert!(!payload.contains(password), "{payload}");
    assert!(
        !payload.contains("13800138000"),
        "personal fields are sealed: {payload}"
    );
    assert!(
        payload.contains("rep-1"),
        "the login is the log's pseudonym: {payload}"
    );
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn refusals_write_nothing(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    invite(&app, &admin, "rep-1", "rep")
        .await
        .expect(StatusCode::CREATED);
    let events = app.event_count().await;
    let rows = directory_dump(&pool).await;

    // A rep creating users, or raising its own role.
    let rep = app.token(Role::Rep, "rep-1");
    invite(&app, &rep, "rep-9", "rep")
        .await
        .expect(StatusCode::FORBIDDEN);
    let users = app
        .call(Method::GET, "/v1/users", &admin, Value::Null)
        .await;
    let rep_id = users.body["users"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.call(
        Method::PUT,
        &format!("/v1/users/{rep_id}/role"),
        &rep,
        json!({"role": "admin"}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    // A duplicate login.
    invite(&app, &admin, "rep-1", "manager")
        .await
        .expect(StatusCode::CONFLICT);
    // Bad fields, all named at once.
    let bad = app
        .call(
            Method::POST,
            "/v1/users",
            &admin,
            json!({"login": "", "display_name": "x\u{0}", "role": "rep"}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body["errors"]["login"].is_array() && bad.body["errors"]["display_name"].is_array(),
        "{}",
        bad.body
    );
    // Another tenant's admin.
    let mut other = TestApp::new(pool.clone());
    other.tenant = Uuid::new_v4();
    let stranger = other.token(Role::Admin, "boss");
    app.call(
        Method::POST,
        &format!("/v1/users/{rep_id}/deactivate"),
        &stranger,
        json!({}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    app.call(
        Method::GET,
        &format!("/v1/users/{rep_id}"),
        &stranger,
        Value::Null,
    )
    .await
    .expect(StatusCode::NOT_FOUND);

    assert_eq!(app.event_count().await, events);
    assert_eq!(directory_dump(&pool).await, rows);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_tenant_keeps_an_active_admin(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let directory = DirectoryService::new(pool.clone(), app.data_keys.clone());
    let created = directory
        .create_tenant(NewTenant {
            tenant_id: app.tenant,
            name: "星辰科技".into(),
            admin_login: UserId::parse("ann").expect("login"),
            admin_name: DisplayName::parse("安").expect("name"),
            admin_password: PasswordHash::of(&Password::parse("first password").expect("password"))
                .await
                .expect("hash"),
        })
        .await
        .expect("tenant");
    let ann = created.admin.id;
    // Ann cannot lower her own role; an operator's admin token cannot
    // deactivate the only admin either.
    let as_ann = app.token(Role::Admin, "ann");
    app.call(
        Method::PUT,
        &format!("/v1/users/{ann}/role"),
        &as_ann,
        json!({"role": "manager"}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let operator = app.token(Role::Admin, "operator");
    let refused = app
        .call(
            Method::POST,
            &format!("/v1/users/{ann}/deactivate"),
            &operator,
            json!({}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body["detail"]
        .as_str()
        .expect("detail")
        .contains("active admin"));
    // With a second admin, the first may go.
    invite(&app, &as_ann, "bob", "admin")
        .await
        .expect(StatusCode::CREATED);
    let as_bob = app.token(Role::Admin, "bob");
    app.call(
        Method::POST,
        &format!("/v1/users/{ann}/deactivate"),
        &as_bob,
        json!({"reason": "left"}),
    )
    .await
    .expect(StatusCode::OK);
    let row: (bool, String) =
        sqlx::query_as("SELECT active, role FROM directory_users WHERE user_id = $1")
            .bind(ann)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(row, (false, "admin".to_owned()));
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn teams_have_active_members_and_managers(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    for (login, role) in [("mia", "manager"), ("rep-1", "rep"), ("rep-2", "rep")] {
        invite(&app, &admin, login, role)
            .await
            .expect(StatusCode::CREATED);
    }
    let team = app
        .call(
            Method::POST,
            "/v1/teams",
            &admin,
            json!({"name": "华东一组"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    for (login, role) in [("mia", "manager"), ("rep-1", "member")] {
        app.call(
            Method::PUT,
            &format!("/v1/teams/{team}/members/{login}"),
            &admin,
            json!({"role": role}),
        )
        .await
        .expect(StatusCode::OK);
    }
    // Unknown and deactivated users cannot join.
    app.call(
        Method::PUT,
        &format!("/v1/teams/{team}/members/nobody"),
        &admin,
        json!({"role": "member"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let users = app
        .call(Method::GET, "/v1/users", &admin, Value::Null)
        .await;
    let rep_2 = users.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["login"] == "rep-2")
        .and_then(|u| u["id"].as_str())
        .expect("rep-2")
        .to_owned();
    app.call(
        Method::POST,
        &format!("/v1/users/{rep_2}/deactivate"),
        &admin,
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::PUT,
        &format!("/v1/teams/{team}/members/rep-2"),
        &admin,
        json!({"role": "member"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    // A manager cannot manage teams.
    let mia = app.token(Role::Manager, "mia");
    app.call(
        Method::PATCH,
        &format!("/v1/teams/{team}"),
        &mia,
        json!({"name": "别名"}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    // Promote rep-1, rename, and read it back.
    app.call(
        Method::PUT,
        &format!("/v1/teams/{team}/members/rep-1"),
        &admin,
        json!({"role": "manager"}),
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::PATCH,
        &format!("/v1/teams/{team}"),
        &admin,
        json!({"name": "华东销售一组"}),
    )
    .await
    .expect(StatusCode::OK);
    let read = app
        .call(Method::GET, &format!("/v1/teams/{team}"), &mia, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read.body["name"], "华东销售一组");
    assert_eq!(
        read.body["members"],
        json!([{"login": "mia", "role": "manager"}, {"login": "rep-1", "role": "manager"}])
    );
    let me = app
        .call(Method::GET, "/v1/me", &mia, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.body["login"], "mia");
    assert_eq!(me.body["user"]["display_name"], "mia 名");
    assert_eq!(
        me.body["teams"],
        json!([{"id": team, "name": "华东销售一组", "role": "manager"}])
    );
    app.call(
        Method::DELETE,
        &format!("/v1/teams/{team}/members/rep-1"),
        &admin,
        Value::Null,
    )
    .await
    .expect(StatusCode::OK);
    let listed = app
        .call(Method::GET, "/v1/teams", &admin, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        listed.body["teams"][0]["members"],
        json!([{"login": "mia", "role": "manager"}])
    );

    // The tables are what the log says: a rebuild, twice, gives them back.
    let live = directory_dump(&pool).await;
    rebuild(&pool, &app.data_keys).await.expect("rebuild");
    assert_eq!(directory_dump(&pool).await, live);
    rebuild(&pool, &app.data_keys).await.expect("rebuild again");
    assert_eq!(directory_dump(&pool).await, live);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_user_changes_its_password_knowing_the_current_one(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    let invited = invite(&app, &admin, "rep-1", "rep")
        .await
        .expect(StatusCode::CREATED);
    let first = invited.body["one_time_password"]
        .as_str()
        .expect("password")
        .to_owned();
    let rep = app.token(Role::Rep, "rep-1");
    app.call(
        Method::POST,
        "/v1/me/password",
        &rep,
        json!({"current_password": "wrong password", "new_password": "a new password"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.call(
        Method::POST,
        "/v1/me/password",
        &rep,
        json!({"current_password": first, "new_password": "short"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.call(
        Method::POST,
        "/v1/me/password",
        &rep,
        json!({"current_password": first, "new_password": "a new password"}),
    )
    .await
    .expect(StatusCode::OK);
    let (hash, one_time): (String, bool) =
        sqlx::query_as("SELECT password_hash, one_time FROM user_credentials WHERE user_id = $1")
            .bind(invited.id())
            .fetch_one(&pool)
            .await
            .expect("credentials");
    assert!(!one_time);
    assert!(PasswordHash::from_stored(hash)
        .verify("a new password".into())
        .await
        .expect("verify"));
    // An admin's reset gives a new one-time password.
    let reset = app
        .call(
            Method::POST,
            &format!("/v1/users/{}/password-reset", invited.id()),
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_ne!(reset.body["one_time_password"], first.as_str());
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'User' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(invited.id().to_string())
    .fetch_all(&pool)
    .await
    .expect("events");
    assert_eq!(
        kinds,
        ["UserInvited", "UserPasswordChanged", "UserPasswordReset"]
    );
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn forgetting_a_user_erases_its_personal_data(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    let id = invite(&app, &admin, "rep-1", "rep")
        .await
        .expect(StatusCode::CREATED)
        .id();
    app.call(
        Method::POST,
        &format!("/v1/users/{id}/forget"),
        &admin,
        json!({"reason": "离职"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.call(
        Method::POST,
        &format!("/v1/users/{id}/deactivate"),
        &admin,
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::POST,
        &format!("/v1/users/{id}/forget"),
        &admin,
        json!({}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.call(
        Method::POST,
        &format!("/v1/users/{id}/forget"),
        &admin,
        json!({"reason": "离职"}),
    )
    .await
    .expect(StatusCode::OK);
    let user = app
        .call(Method::GET, &format!("/v1/users/{id}"), &admin, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(user.body["display_name"], Value::Null);
    assert_eq!(user.body["phone"], Value::Null);
    assert_eq!(user.body["login"], "rep-1");
    // A rebuild cannot bring the data back: the key is gone.
    rebuild(&pool, &app.data_keys).await.expect("rebuild");
    let name: Option<String> =
        sqlx::query_scalar("SELECT display_name FROM directory_users WHERE user_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(name, None);
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn in_a_tenant_with_a_directory_owners_are_its_active_users(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    // No directory yet: owners are named freely, as before it existed.
    let early = app
        .call(
            Method::POST,
            "/v1/customers",
            &admin,
            json!({"name": "张三", "owner_id": "somebody"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    invite(&app, &admin, "rep-1", "rep")
        .await
        .expect(StatusCode::CREATED);
    let rep_2 = invite(&app, &admin, "rep-2", "rep")
        .await
        .expect(StatusCode::CREATED)
        .id();
    app.call(
        Method::POST,
        &format!("/v1/users/{rep_2}/deactivate"),
        &admin,
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let events = app.event_count().await;
    for owner in ["nobody", "rep-2"] {
        let refused = app
            .call(
                Method::POST,
                "/v1/customers",
                &admin,
                json!({"name": "李四", "owner_id": owner}),
            )
            .await
            .expect(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused.body["errors"]["owner_id"].is_array(),
            "{}",
            refused.body
        );
        app.call(
            Method::PUT,
            &format!("/v1/customers/{early}/owner"),
            &admin,
            json!({"owner_id": owner}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    }
    // An admin's token for a login outside the directory registers for nobody.
    app.call(
        Method::POST,
        "/v1/customers",
        &admin,
        json!({"name": "王五"}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.event_count().await, events);
    app.call(
        Method::POST,
        "/v1/customers",
        &admin,
        json!({"name": "李四", "owner_id": "rep-1"}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.call(
        Method::PUT,
        &format!("/v1/customers/{early}/owner"),
        &admin,
        json!({"owner_id": "rep-1"}),
    )
    .await
    .expect(StatusCode::OK);
    // Deactivating a user keeps its customers its own.
    let rep_1 = app
        .call(Method::GET, "/v1/users", &admin, Value::Null)
        .await
        .body["users"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.call(
        Method::POST,
        &format!("/v1/users/{rep_1}/deactivate"),
        &admin,
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    common::project(&pool).await;
    let customer = app
        .call(
            Method::GET,
            &format!("/v1/customers/{early}"),
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(customer.body["owner_id"], "rep-1");
    // Answers carry the owner's display name from the directory.
    assert_eq!(customer.body["owner_name"], "rep-1 名");
    let list = app
        .call(
            Method::GET,
            "/v1/customers?owner_id=rep-1",
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    let names: Vec<&Value> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| &c["owner_name"])
        .collect();
    assert_eq!(names, [&json!("rep-1 名"), &json!("rep-1 名")]);
    let funnel = app
        .call(
            Method::GET,
            "/v1/funnel?owner_id=rep-1",
            &admin,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        funnel.body["stages"][0]["customers"][0]["owner_name"], "rep-1 名",
        "{}",
        funnel.body
    );
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn the_demo_has_people_who_can_sign_in_again_after_a_restart(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let tenant = crm::demo::seed(&pool, &app.data_keys)
        .await
        .expect("demo customers");
    let directory = DirectoryService::new(pool.clone(), app.data_keys.clone());
    let first = crm::demo::people::create(&directory, tenant)
        .await
        .expect("people");
    let logins: Vec<(&str, Role)> = first.iter().map(|p| (p.login.as_str(), p.role)).collect();
    assert_eq!(
        logins,
        [
            ("demo-admin", Role::Admin),
            ("demo-manager", Role::Manager),
            ("rep-zhang", Role::Rep),
            ("rep-li", Role::Rep),
            ("rep-wang", Role::Rep),
            ("demo-auditor", Role::Auditor),
        ]
    );
    let members: Vec<(String, String)> = sqlx::query_as(
        "SELECT login, role FROM directory_team_members WHERE tenant_id = $1 ORDER BY login",
    )
    .bind(tenant)
    .fetch_all(&pool)
    .await
    .expect("members");
    assert_eq!(
        members,
        [
            ("demo-manager".to_owned(), "manager".to_owned()),
            ("rep-li".to_owned(), "member".to_owned()),
            ("rep-zhang".to_owned(), "member".to_owned()),
        ]
    );
    // A second start gives everyone a fresh one-time password; the old one stops working.
    let second = crm::demo::people::create(&directory, tenant)
        .await
        .expect("again");
    assert_eq!(second.len(), 6);
    let (_, hash) = directory
        .credentials(tenant, &UserId::parse("rep-zhang").expect("login"))
        .await
        .expect("credentials")
        .expect("rep-zhang");
    assert!(hash
        .verify(second[2].password.reveal().to_owned())
        .await
        .expect("verify"));
    assert!(!hash
        .verify(first[2].password.reveal().to_owned())
        .await
        .expect("verify"));
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn a_manager_sees_and_changes_its_teams_customers_only(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let admin = app.token(Role::Admin, "boss");
    for (login, role) in [("mia", "manager"), ("rep-1", "rep"), ("rep-2", "rep")] {
        invite(&app, &admin, login, role)
            .await
            .expect(StatusCode::CREATED);
    }
    let team = app
        .call(Method::POST, "/v1/teams", &admin, json!({"name": "一组"}))
        .await
        .expect(StatusCode::CREATED)
        .id();
    for (login, role) in [("mia", "manager"), ("rep-1", "member")] {
        app.call(
            Method::PUT,
            &format!("/v1/teams/{team}/members/{login}"),
            &admin,
            json!({"role": role}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let mut ids = std::collections::HashMap::new();
    for owner in ["mia", "rep-1", "rep-2"] {
        let id = app
            .call(
                Method::POST,
                "/v1/customers",
                &admin,
                json!({"name": format!("{owner} 的客户"), "owner_id": owner, "deal_value": "100"}),
            )
            .await
            .expect(StatusCode::CREATED)
            .id();
        ids.insert(owner, id);
    }
    common::project(&pool).await;
    let mia = app.token(Role::Manager, "mia");
    let listed = app
        .call(Method::GET, "/v1/customers", &mia, Value::Null)
        .await
        .expect(StatusCode::OK);
    let mut owners: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["owner_id"].as_str())
        .collect();
    owners.sort_unstable();
    assert_eq!(owners, ["mia", "rep-1"]);
    let funnel = app
        .call(Method::GET, "/v1/funnel", &mia, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(funnel.body["totals"]["count"], 2, "{}", funnel.body);
    let outside = ids["rep-2"];
    app.call(
        Method::GET,
        &format!("/v1/customers/{outside}"),
        &mia,
        Value::Null,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    app.call(
        Method::GET,
        &format!("/v1/customers/{outside}/timeline"),
        &mia,
        Value::Null,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    app.call(
        Method::PUT,
        &format!("/v1/customers/{outside}/stage"),
        &mia,
        json!({"stage": "qualified"}),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    app.call(
        Method::PUT,
        &format!("/v1/customers/{}/stage", ids["rep-1"]),
        &mia,
        json!({"stage": "qualified"}),
    )
    .await
    .expect(StatusCode::OK);
    // An admin sees the tenant; rep-2 only its own.
    let all = app
        .call(Method::GET, "/v1/customers", &admin, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(all.body["items"].as_array().expect("items").len(), 3);
    let rep_2 = app.token(Role::Rep, "rep-2");
    let own = app
        .call(Method::GET, "/v1/customers", &rep_2, Value::Null)
        .await
        .expect(StatusCode::OK);
    assert_eq!(own.body["items"].as_array().expect("items").len(), 1);
    // The tenant-wide stream is not hers to read.
    app.call(Method::GET, "/v1/events", &mia, Value::Null)
        .await
        .expect(StatusCode::FORBIDDEN);
    // Leaving the team takes rep-1's customers out of mia's sight.
    app.call(
        Method::DELETE,
        &format!("/v1/teams/{team}/members/rep-1"),
        &admin,
        Value::Null,
    )
    .await
    .expect(StatusCode::OK);
    app.call(
        Method::GET,
        &format!("/v1/customers/{}", ids["rep-1"]),
        &mia,
        Value::Null,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

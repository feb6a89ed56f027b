//! The read cache: answers are served from memory until a projection commits
//! a change to the tenant, never across callers who see different customers,
//! never for read-your-writes, and never past their time to live. Customer
//! records are kept longer, with what depends on time computed at each request.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use common::{project, Reply, TestApp};
use query::CACHE_HEADER;
use web::Role;

fn outcome(reply: &Reply) -> Option<&str> {
    reply
        .headers
        .get(CACHE_HEADER)
        .and_then(|value| value.to_str().ok())
}

fn names(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn get(app: &TestApp, uri: &str, token: &str) -> Reply {
    app.call(Method::GET, uri, token, Value::Null)
        .await
        .expect(StatusCode::OK)
}

/// Asks until the answer comes from the cache (the listener connects in the
/// background; until then nothing is cached).
async fn until_hit(app: &TestApp, uri: &str, token: &str) -> Reply {
    until_from(app, uri, token, "hit").await
}

/// Asks until the answer says `X-Cache: <source>`.
async fn until_from(app: &TestApp, uri: &str, token: &str, source: &str) -> Reply {
    for _ in 0..200 {
        let reply = get(app, uri, token).await;
        if outcome(&reply) == Some(source) {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{uri} was never served from the cache ({source})");
}

/// Asks until `check` holds, at most two seconds.
async fn until(app: &TestApp, uri: &str, token: &str, check: impl Fn(&Reply) -> bool) -> Reply {
    for _ in 0..200 {
        let reply = get(app, uri, token).await;
        if check(&reply) {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{uri} never showed the change");
}

#[sqlx::test(migrations = "../schema")]
async fn a_tenants_answers_are_dropped_when_its_read_models_change(pool: PgPool) {
    let (app, _stop) = TestApp::with_cache(
        pool.clone(),
        Duration::from_secs(60),
        Duration::from_secs(60),
    );
    let boss = app.manager();
    app.register(&boss, "赵一").await;
    project(&pool).await;

    let first = until_hit(&app, "/v1/customers", &boss).await;
    assert_eq!(names(&first), ["赵一"]);
    let funnel = until_hit(&app, "/v1/funnel", &boss).await;
    assert_eq!(funnel.body["totals"]["count"], 1);

    // Another tenant's change leaves this tenant's answers alone.
    let other_boss = app.jwt.issue(
        Uuid::new_v4(),
        "boss",
        Role::Manager,
        Duration::from_secs(600),
    );
    app.register(&other_boss, "外人").await;
    project(&pool).await;
    let other_list = until(&app, "/v1/customers", &other_boss, |reply| {
        names(reply) == ["外人"]
    })
    .await;
    assert_eq!(names(&other_list), ["外人"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let still = get(&app, "/v1/customers", &boss).await;
    assert_eq!(outcome(&still), Some("hit"));
    assert_eq!(names(&still), ["赵一"]);

    // This tenant's change (the projector's NOTIFY at commit) drops them,
    // although the time to live is a minute.
    app.register(&boss, "钱二").await;
    project(&pool).await;
    let changed = until(&app, "/v1/customers", &boss, |reply| {
        names(reply).len() == 2
    })
    .await;
    assert_ne!(
        outcome(&changed),
        Some("hit"),
        "the first answer after a change is computed"
    );
    let funnel = until(&app, "/v1/funnel", &boss, |reply| {
        reply.body["totals"]["count"] == 2
    })
    .await;
    assert_eq!(funnel.body["totals"]["count"], 2);
}

#[sqlx::test(migrations = "../schema")]
async fn callers_who_see_different_customers_never_share_an_answer(pool: PgPool) {
    let (app, _stop) = TestApp::with_cache(
        pool.clone(),
        Duration::from_secs(60),
        Duration::from_secs(60),
    );
    let boss = app.manager();
    let rep_a = app.token(Role::Rep, "rep-a");
    let rep_b = app.token(Role::Rep, "rep-b");
    app.register(&rep_a, "甲客户").await;
    app.register(&rep_b, "乙客户").await;
    project(&pool).await;

    let mut everyone = until_hit(&app, "/v1/customers", &boss).await;
    let mut a = until_hit(&app, "/v1/customers", &rep_a).await;
    let b = until_hit(&app, "/v1/customers", &rep_b).await;
    let mut sorted = names(&everyone);
    sorted.sort();
    assert_eq!(sorted, ["乙客户", "甲客户"]);
    assert_eq!(names(&a), ["甲客户"]);
    assert_eq!(names(&b), ["乙客户"]);
    for (token, count) in [(&boss, 2), (&rep_a, 1), (&rep_b, 1)] {
        let funnel = until_hit(&app, "/v1/funnel", token).await;
        assert_eq!(funnel.body["totals"]["count"], count);
    }
    // An admin sees the tenant too, under its own key.
    let admin = app.token(Role::Admin, "root");
    everyone = until_hit(&app, "/v1/customers", &admin).await;
    assert_eq!(names(&everyone).len(), 2);
    // A caller without a valid token is refused, never served.
    let refused = app
        .call(Method::GET, "/v1/customers", "not-a-token", Value::Null)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(outcome(&refused), None);
    a = get(&app, "/v1/customers", &rep_a).await;
    assert_eq!(names(&a), ["甲客户"]);
}

#[sqlx::test(migrations = "../schema")]
async fn read_your_writes_bypasses_the_cache_and_answers_expire(pool: PgPool) {
    let (app, _stop) = TestApp::with_cache(
        pool.clone(),
        Duration::from_millis(300),
        Duration::from_secs(60),
    );
    let boss = app.manager();
    let position = app
        .call(
            Method::POST,
            "/v1/customers",
            &boss,
            serde_json::json!({"name": "孙三"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .position();
    project(&pool).await;
    let uri = format!("/v1/customers?min_position={position}");
    for _ in 0..3 {
        let reply = get(&app, &uri, &boss).await;
        assert_eq!(
            outcome(&reply),
            None,
            "min_position always reads the database"
        );
        assert_eq!(names(&reply), ["孙三"]);
    }
    until_hit(&app, "/v1/segments", &boss).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let expired = get(&app, "/v1/segments", &boss).await;
    assert_eq!(outcome(&expired), Some("miss"), "past its time to live");
}

#[sqlx::test(migrations = "../schema")]
async fn a_rebuild_drops_every_answer(pool: PgPool) {
    let (app, _stop) = TestApp::with_cache(
        pool.clone(),
        Duration::from_secs(60),
        Duration::from_secs(60),
    );
    let boss = app.manager();
    let id = app.register(&boss, "李四").await;
    project(&pool).await;
    until_hit(&app, "/v1/customers", &boss).await;
    let detail = format!("/v1/customers/{id}");
    until_hit(&app, &detail, &boss).await;
    projector::runner::rebuild(
        &pool,
        &common::test_data_keys(&pool),
        &projector::Projection::ALL,
        |_, _| {},
    )
    .await
    .expect("rebuild");
    until(&app, &detail, &boss, |reply| outcome(reply) == Some("miss")).await;
    until(&app, "/v1/customers", &boss, |reply| {
        outcome(reply) == Some("miss")
    })
    .await;
}

/// Answers expire at once; customer records are kept for a minute.
fn records_only(pool: &PgPool) -> (TestApp, tokio::sync::watch::Sender<bool>) {
    TestApp::with_cache(
        pool.clone(),
        Duration::from_millis(1),
        Duration::from_secs(60),
    )
}

#[sqlx::test(migrations = "../schema")]
async fn customer_records_outlive_answers_until_the_customer_changes(pool: PgPool) {
    let (app, _stop) = records_only(&pool);
    let boss = app.manager();
    let id = app.register(&boss, "周五").await;
    project(&pool).await;
    let detail = format!("/v1/customers/{id}");
    let kept = until_from(&app, &detail, &boss, "record").await;
    assert_eq!(kept.body["name"], "周五");
    assert_eq!(kept.body["lifecycle"], "prospect");
    assert_eq!(kept.body["profile"]["lifecycle"], "prospect");

    // What depends on time comes from the kept record as of the request:
    // the same profile the database gives (min_position reads it).
    let future = (chrono::Utc::now() + chrono::Duration::days(200))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let profile = format!("/v1/customers/{id}/profile?as_of={future}");
    let from_record = until_from(&app, &profile, &boss, "record").await;
    let from_database = get(&app, &format!("{profile}&min_position=1"), &boss).await;
    assert_eq!(outcome(&from_database), None);
    assert_eq!(from_record.body, from_database.body);
    assert_eq!(from_record.body["lifecycle"], "lost");

    // A change to the customer drops its record at the projector's commit.
    app.call(
        Method::POST,
        &format!("/v1/customers/{id}/purchases"),
        &boss,
        serde_json::json!({"amount": 1200, "category": "培训"}),
    )
    .await
    .expect(StatusCode::OK);
    project(&pool).await;
    let changed = until(&app, &detail, &boss, |reply| {
        reply.body["purchase_count"] == 1
    })
    .await;
    assert_ne!(
        outcome(&changed),
        Some("record"),
        "read again after the change"
    );
    assert_eq!(changed.body["lifecycle"], "new");
    let kept = until_from(&app, &detail, &boss, "record").await;
    assert_eq!(kept.body["purchase_count"], 1);
    assert_eq!(kept.body["profile"]["total_amount"], "1200.00");
}

#[sqlx::test(migrations = "../schema")]
async fn a_kept_record_is_shown_only_to_callers_who_may_see_it(pool: PgPool) {
    let (app, _stop) = records_only(&pool);
    let boss = app.manager();
    let rep_a = app.token(Role::Rep, "rep-a");
    let rep_b = app.token(Role::Rep, "rep-b");
    let id = app.register(&rep_b, "乙客户").await;
    project(&pool).await;
    let detail = format!("/v1/customers/{id}");
    // The manager's read keeps the record.
    until_from(&app, &detail, &boss, "record").await;
    let refused = app
        .call(Method::GET, &detail, &rep_a, Value::Null)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(refused.body["status"], 404);
    let profile = format!("/v1/customers/{id}/profile");
    app.call(Method::GET, &profile, &rep_a, Value::Null)
        .await
        .expect(StatusCode::NOT_FOUND);
    let owner = get(&app, &detail, &rep_b).await;
    assert_eq!(outcome(&owner), Some("record"));
    assert_eq!(owner.body["name"], "乙客户");
    // Another tenant's manager never reaches it.
    let stranger = app.jwt.issue(
        Uuid::new_v4(),
        "boss",
        Role::Manager,
        Duration::from_secs(600),
    );
    app.call(Method::GET, &detail, &stranger, Value::Null)
        .await
        .expect(StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../schema")]
async fn a_managers_kept_scope_follows_its_teams_at_once(pool: PgPool) {
    let (app, _stop) = TestApp::with_cache(
        pool.clone(),
        Duration::from_secs(60),
        Duration::from_secs(60),
    );
    let admin = app.token(Role::Admin, "root");
    for (login, role) in [("mia", "manager"), ("rep-1", "rep"), ("rep-2", "rep")] {
        app.call(
            Method::POST,
            "/v1/users",
            &admin,
            serde_json::json!({"login": login, "display_name": login, "role": role}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let team = app
        .call(
            Method::POST,
            "/v1/teams",
            &admin,
            serde_json::json!({"name": "一组"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    let member = |login: &'static str, method: Method| {
        let app = &app;
        let admin = &admin;
        async move {
            app.call(
                method,
                &format!("/v1/teams/{team}/members/{login}"),
                admin,
                serde_json::json!({"role": if login == "mia" { "manager" } else { "member" }}),
            )
            .await
            .expect(StatusCode::OK);
        }
    };
    member("mia", Method::PUT).await;
    member("rep-1", Method::PUT).await;
    for (owner, name) in [("rep-1", "一号的客户"), ("rep-2", "二号的客户")] {
        app.call(
            Method::POST,
            "/v1/customers",
            &admin,
            serde_json::json!({"name": name, "owner_id": owner}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    project(&pool).await;
    let mia = app.token(Role::Manager, "mia");
    let seen = until_hit(&app, "/v1/customers", &mia).await;
    assert_eq!(names(&seen), ["一号的客户"]);

    // The team changes; no projection runs. The directory's commit drops the
    // manager's kept scope (and answers), although both live a minute.
    member("rep-1", Method::DELETE).await;
    member("rep-2", Method::PUT).await;
    let moved = until(&app, "/v1/customers", &mia, |reply| {
        names(reply) == ["二号的客户"]
    })
    .await;
    assert_ne!(outcome(&moved), Some("hit"));
}

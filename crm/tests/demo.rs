//! `crm serve --demo` tells a believable story (issue 19): a year of history
//! entered now and dated when it happened, checked through the event store
//! and the read routes the app shows.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use command::directory::DirectoryService;
use common::{project, TestApp};
use web::Role;

/// The demo tenant with its people, projected; `app` answers for it.
async fn demo(pool: &PgPool) -> TestApp {
    let mut app = TestApp::new(pool.clone());
    let tenant = crm::demo::seed(pool, &app.data_keys)
        .await
        .expect("demo customers");
    let directory = DirectoryService::new(pool.clone(), app.data_keys.clone());
    crm::demo::people::create(&directory, tenant)
        .await
        .expect("demo people");
    project(pool).await;
    app.tenant = tenant;
    app
}

fn token(app: &TestApp, role: Role, login: &str) -> String {
    app.jwt
        .issue(app.tenant, login, role, Duration::from_secs(600))
}

async fn get(app: &TestApp, uri: &str, token: &str) -> Value {
    app.call(Method::GET, uri, token, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn the_demo_history_happens_after_each_registration_over_a_year(pool: PgPool) {
    let app = demo(&pool).await;
    // No fact before its customer's registration.
    let early: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events e
           JOIN events r ON r.aggregate_type = e.aggregate_type
                        AND r.aggregate_id = e.aggregate_id AND r.sequence = 1
          WHERE e.tenant_id = $1 AND e.aggregate_type = 'Customer'
            AND e.occurred_at < r.occurred_at",
    )
    .bind(app.tenant)
    .fetch_one(&pool)
    .await
    .expect("early facts");
    assert_eq!(early, 0, "facts before their customer's registration");
    // Stage moves in order; each a real stay (days, not seconds).
    let backwards: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT occurred_at - lag(occurred_at) OVER (PARTITION BY aggregate_id ORDER BY sequence)
                    AS gap
               FROM events
              WHERE tenant_id = $1 AND aggregate_type = 'Customer'
                AND event_type IN ('CustomerRegistered', 'CustomerStageMoved')) moves
          WHERE gap < interval '1 day'",
    )
    .bind(app.tenant)
    .fetch_one(&pool)
    .await
    .expect("stays");
    assert_eq!(
        backwards, 0,
        "stage moves less than a day apart or out of order"
    );
    // Registrations spread over the last year, all entered now.
    let (customers, first, last, oldest_record): (
        i64,
        DateTime<Utc>,
        DateTime<Utc>,
        DateTime<Utc>,
    ) = sqlx::query_as(
        "SELECT count(*), min(occurred_at), max(occurred_at), min(recorded_at) FROM events
              WHERE tenant_id = $1 AND event_type = 'CustomerRegistered'",
    )
    .bind(app.tenant)
    .fetch_one(&pool)
    .await
    .expect("registrations");
    let now = Utc::now();
    assert_eq!(customers, 36);
    assert!(now - first <= chrono::Duration::days(366), "{first}");
    assert!(
        last - first >= chrono::Duration::days(300),
        "{first} .. {last}"
    );
    assert!(now - oldest_record < chrono::Duration::hours(1));
    let months: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT date_trunc('month', occurred_at)) FROM events
          WHERE tenant_id = $1 AND event_type = 'CustomerRegistered'",
    )
    .bind(app.tenant)
    .fetch_one(&pool)
    .await
    .expect("months");
    assert!(months >= 8, "registrations in only {months} months");
    // Won and lost deals with reasons.
    let reasons: Vec<(String, i64)> = sqlx::query_as(
        "SELECT payload -> 'CustomerStageMoved' ->> 'to', count(*) FROM events
          WHERE tenant_id = $1 AND event_type = 'CustomerStageMoved'
            AND payload -> 'CustomerStageMoved' ->> 'reason' IS NOT NULL
          GROUP BY 1",
    )
    .bind(app.tenant)
    .fetch_all(&pool)
    .await
    .expect("reasons");
    let reasons: HashMap<String, i64> = reasons.into_iter().collect();
    for stage in ["closed_won", "closed_lost", "qualified"] {
        assert!(reasons.get(stage).is_some_and(|n| *n > 0), "{reasons:?}");
    }
    // Contacts after the registration: the list shows them, not the registration.
    let admin = token(&app, Role::Admin, "demo-admin");
    let page = get(&app, "/v1/customers?limit=100", &admin).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 36);
    let contacted_later = items
        .iter()
        .filter(|c| c["last_contact_at"] != c["registered_at"])
        .count();
    assert_eq!(contacted_later, 36, "{page}");
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn the_demo_funnel_and_lifecycles_look_like_a_sales_teams_year(pool: PgPool) {
    let app = demo(&pool).await;
    for (role, login) in [(Role::Admin, "demo-admin"), (Role::Manager, "demo-manager")] {
        let caller = token(&app, role, login);
        let funnel = get(&app, "/v1/funnel", &caller).await;
        let stages = funnel["stages"].as_array().expect("stages");
        assert_eq!(stages.len(), 6);
        let mut cycles = BTreeSet::new();
        for stage in stages {
            let cycle = stage["avg_cycle_days"].as_f64();
            assert!(
                cycle.is_some_and(|days| days > 0.0),
                "{login}: {} has no positive cycle: {stage}",
                stage["id"]
            );
            cycles.insert((cycle.unwrap_or_default() * 100.0) as i64);
            if let Some(rate) = stage["conversion_rate"].as_f64() {
                assert!(
                    rate > 0.0 && rate < 1.0,
                    "{login}: {} converts {rate}",
                    stage["id"]
                );
            } else {
                assert!(
                    matches!(stage["id"].as_str(), Some("closed_won" | "closed_lost")),
                    "{stage}"
                );
            }
            assert!(stage["count"].as_i64().is_some_and(|n| n > 0), "{stage}");
        }
        assert_eq!(cycles.len(), 6, "every stage its own cycle time: {funnel}");
        // Every lifecycle is represented.
        let segments = get(&app, "/v1/segments", &caller).await;
        for segment in segments["segments"].as_array().expect("segments") {
            assert!(
                segment["count"].as_i64().is_some_and(|n| n > 0),
                "{login}: {segments}"
            );
        }
    }
    // Open deals have been in their stage for a while.
    let admin = token(&app, Role::Admin, "demo-admin");
    let lifecycles = get(&app, "/v1/segments", &admin).await;
    assert_eq!(
        lifecycles["segments"].as_array().map(Vec::len),
        Some(6),
        "{lifecycles}"
    );
}

/// What the app's browser tests look for: the manager finds customers named
/// 张…, a two-character name only one of its customers has, and the
/// timeline of a customer lists its history by date, newest first.
#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn the_demo_manager_sees_names_to_search_and_dated_timelines(pool: PgPool) {
    let app = demo(&pool).await;
    let manager = token(&app, Role::Manager, "demo-manager");
    let zhang = get(&app, "/v1/customers?q=%E5%BC%A0&limit=100", &manager).await;
    assert!(
        zhang["items"]
            .as_array()
            .is_some_and(|items| items.len() >= 2),
        "{zhang}"
    );
    let all = get(&app, "/v1/customers?limit=100", &manager).await;
    let items = all["items"].as_array().expect("items");
    assert_eq!(items.len(), 24, "the team's two reps' customers");
    let names: Vec<&str> = items.iter().filter_map(|c| c["name"].as_str()).collect();
    let unique_pair = names.iter().any(|name| {
        name.chars().count() == 2 && names.iter().filter(|other| *other == name).count() == 1
    });
    assert!(unique_pair, "{names:?}");
    for customer in items.iter().take(6) {
        let id = customer["id"].as_str().expect("id");
        let timeline = get(
            &app,
            &format!("/v1/customers/{id}/timeline?limit=3"),
            &manager,
        )
        .await;
        let mut entries: Vec<Value> = timeline["items"].as_array().cloned().unwrap_or_default();
        let mut cursor = timeline["next_cursor"].as_str().map(str::to_owned);
        while let Some(next) = cursor {
            let page = get(
                &app,
                &format!("/v1/customers/{id}/timeline?limit=3&cursor={next}"),
                &manager,
            )
            .await;
            entries.extend(page["items"].as_array().cloned().unwrap_or_default());
            cursor = page["next_cursor"].as_str().map(str::to_owned);
        }
        let dates: Vec<DateTime<Utc>> = entries
            .iter()
            .map(|e| serde_json::from_value(e["occurred_at"].clone()).expect("occurred_at"))
            .collect();
        assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{entries:?}");
        assert_eq!(
            entries.last().and_then(|e| e["kind"].as_str()),
            Some("registered"),
            "the registration is the oldest entry"
        );
        let sequences: BTreeSet<i64> = entries
            .iter()
            .filter_map(|e| e["sequence"].as_i64())
            .collect();
        assert_eq!(sequences.len(), entries.len(), "pages overlap");
        assert_eq!(
            sequences.len() as i64,
            customer["version"].as_i64().unwrap_or_default(),
            "every entry once"
        );
    }
}

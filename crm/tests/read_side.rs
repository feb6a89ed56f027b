//! Projectors and the query API against a real PostgreSQL.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use command::aggregate::{Action, Actor, CustomerCommand, Registration};
use command::{CommandService, RequestContext};
use common::{project, project_once, test_data_keys, RunningProjector, TestApp};
use events::values::{CustomerName, Money, OccurredAt, ShortText, Stage, UserId};
use projector::profile::{self, Lifecycle};
use projector::runner::{rebuild, rebuild_in_batches, Projection};
use web::Role;

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().expect("decimal string")).expect("decimal")
}

#[sqlx::test(migrations = "../schema")]
async fn a_transaction_committing_late_is_not_skipped(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let held = app.register(&boss, "迟到").await;
    let other = app.register(&boss, "先到").await;
    project(&pool).await;

    // An append transaction stays open while a later one commits.
    let mut slow = pool.begin().await.expect("begin");
    let payload = json!({"CustomerTagged": {"tag": "held"}});
    let metadata = json!({"tenant_id": app.tenant.to_string(), "actor": "boss", "role": "manager",
                          "command": "TagCustomer", "correlation_id": "slow"});
    let held_position: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Customer', $1, 2, 'CustomerTagged', '1', $2, $3) RETURNING global_position",
    )
    .bind(held.to_string())
    .bind(&payload)
    .bind(&metadata)
    .fetch_one(&mut *slow)
    .await
    .expect("held append");
    let later = app
        .call(
            Method::POST,
            &format!("/v1/customers/{other}/tags"),
            &boss,
            json!({"tag": "fast"}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(later.position() > held_position);

    project_once(&pool).await;
    let tags = |id: Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, Vec<String>>("SELECT tags FROM rm_customers WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("row")
        }
    };
    assert!(
        tags(other).await.is_empty(),
        "the later commit waits behind the open transaction"
    );
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = 'customers'")
            .fetch_one(&pool)
            .await
            .expect("checkpoint");
    assert!(
        checkpoint < held_position,
        "the checkpoint must not pass an uncommitted event"
    );

    slow.commit().await.expect("commit");
    project(&pool).await;
    assert_eq!(
        tags(held).await,
        ["held"],
        "the late commit was applied, not skipped"
    );
    assert_eq!(tags(other).await, ["fast"]);
}

#[sqlx::test(migrations = "../schema")]
async fn replaying_and_rebuilding_give_identical_read_models(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    common::varied_history(&app).await;
    project(&pool).await;
    let incremental = common::dump(&pool).await;
    assert_eq!(
        incremental["rm_customers"].as_array().map(Vec::len),
        Some(4)
    );
    // The funnel totals kept batch by batch equal the same sums taken afresh.
    let grouped: Value = sqlx::query_scalar(
        "SELECT json_agg(t ORDER BY tenant_id, owner_id, stage, furthest_rank) FROM (
            SELECT tenant_id, owner_id, stage, furthest_rank, count(*)::bigint AS customers,
                   sum(deal_value)::numeric(24, 2) AS total_value,
                   sum(deal_value * probability)::numeric(30, 6) AS weighted_value,
                   ARRAY[sum(stay_micros[1]), sum(stay_micros[2]), sum(stay_micros[3]),
                         sum(stay_micros[4]), sum(stay_micros[5]), sum(stay_micros[6])]::bigint[]
                       AS stay_micros,
                   ARRAY[sum(stay_counts[1]), sum(stay_counts[2]), sum(stay_counts[3]),
                         sum(stay_counts[4]), sum(stay_counts[5]), sum(stay_counts[6])]::bigint[]
                       AS stay_counts
              FROM rm_customers WHERE NOT archived GROUP BY 1, 2, 3, 4) t",
    )
    .fetch_one(&pool)
    .await
    .expect("grouped");
    assert_eq!(incremental["rm_funnel_totals"], grouped);
    assert_eq!(grouped[0]["customers"], 3, "the archived customer left");

    // The same history applied again over the same tables changes nothing.
    sqlx::query("UPDATE projection_checkpoints SET tx = '0', position = 0")
        .execute(&pool)
        .await
        .expect("reset");
    project(&pool).await;
    assert_eq!(
        common::dump(&pool).await,
        incremental,
        "replaying is a no-op"
    );

    let indexes = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT indexname::text FROM pg_indexes WHERE tablename::text LIKE 'rm_%' ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .expect("indexes")
    };
    let before = indexes(pool.clone()).await;
    // Twice: a rebuild leaves tables and indexes as the migrations made them.
    let each_then_all: [&[Projection]; 3] = [
        &[Projection::Customers],
        &[Projection::Timeline],
        &Projection::ALL,
    ];
    for projections in each_then_all {
        rebuild(&pool, &test_data_keys(&pool), projections, |_, _| {})
            .await
            .expect("rebuild");
    }
    assert_eq!(
        common::dump(&pool).await,
        incremental,
        "rebuild equals incremental"
    );
    // Reads of three events: every stream runs across reads and is held
    // back until it is whole, and the writers load batches concurrently.
    rebuild_in_batches(
        &pool,
        &test_data_keys(&pool),
        &Projection::ALL,
        3,
        |_, _| {},
    )
    .await
    .expect("rebuild in small batches");
    assert_eq!(
        common::dump(&pool).await,
        incremental,
        "rebuild in small batches equals incremental"
    );
    assert_eq!(
        indexes(pool.clone()).await,
        before,
        "same indexes after rebuilds"
    );
    // After the swap the live projector carries on from the rebuilt checkpoint.
    let boss = app.manager();
    let id = app.register(&boss, "周五").await;
    project(&pool).await;
    let found: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rm_customers WHERE id = $1)")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("exists");
    assert!(found);
}

/// How many events each projection has applied, by name.
async fn applied_counts(pool: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT name, events FROM projection_checkpoints ORDER BY name")
        .fetch_all(pool)
        .await
        .expect("checkpoints")
}

#[sqlx::test(migrations = "../schema")]
async fn projections_at_different_checkpoints_catch_up_together_without_doubling(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    common::varied_history(&app).await;
    // Customers runs ahead: a rebuild of it alone, while the timeline has read nothing.
    rebuild(
        &pool,
        &test_data_keys(&pool),
        &[Projection::Customers],
        |_, _| {},
    )
    .await
    .expect("rebuild customers");
    common::varied_history(&app).await;
    project(&pool).await;

    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Customer'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(
        applied_counts(&pool).await,
        vec![
            ("customers".to_owned(), total),
            ("timeline".to_owned(), total)
        ],
        "each event applied once to each projection"
    );
    let together = common::dump(&pool).await;
    rebuild(&pool, &test_data_keys(&pool), &Projection::ALL, |_, _| {})
        .await
        .expect("rebuild all");
    assert_eq!(common::dump(&pool).await, together);
}

#[sqlx::test(migrations = "../schema")]
async fn a_failing_projection_does_not_hold_back_the_other(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    // The timeline cannot be written: its table is gone, so every joint
    // batch fails.
    sqlx::query("ALTER TABLE rm_timeline RENAME TO rm_timeline_away")
        .execute(&pool)
        .await
        .expect("rename");
    let projector = RunningProjector::start(&pool);
    let written = app
        .call(
            Method::POST,
            "/v1/customers",
            &app.manager(),
            json!({"name": "独行"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let applied = |projection: &'static [Projection]| {
        projector::runner::has_applied(&pool, projection, written.position())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !applied(&[Projection::Customers]).await.expect("applied") {
        assert!(
            std::time::Instant::now() < deadline,
            "customers waited behind the failing timeline"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!applied(&[Projection::Timeline]).await.expect("applied"));
    projector.stop().await;
}

#[sqlx::test(migrations = "../schema")]
async fn search_finds_two_character_chinese_substrings_and_phones(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    for (name, company, phone) in [
        ("张三丰", "星辰科技有限公司", "13800138000"),
        ("李四", "云帆软件", "13900000000"),
        ("王五", "华美科技", "13912345678"),
        ("张三", "恒达制造", "15000000000"),
    ] {
        app.call(
            Method::POST,
            "/v1/customers",
            &boss,
            json!({"name": name, "company": company, "phone": phone}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    project(&pool).await;
    let names = |q: &'static str| {
        let app = &app;
        let boss = boss.clone();
        async move {
            let uri = format!("/v1/customers?q={}&sort=name", urlencode(q));
            let page = app
                .call(Method::GET, &uri, &boss, Value::Null)
                .await
                .expect(StatusCode::OK);
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|item| item["name"].as_str().unwrap_or_default().to_owned())
                .collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(
        names("张三").await,
        BTreeSet::from(["张三".to_owned(), "张三丰".to_owned()])
    );
    assert_eq!(
        names("科技").await,
        BTreeSet::from(["张三丰".to_owned(), "王五".to_owned()])
    );
    assert_eq!(names("1234").await, BTreeSet::from(["王五".to_owned()]));
    assert_eq!(names("丰").await, BTreeSet::from(["张三丰".to_owned()]));
    assert_eq!(names("云帆软件").await, BTreeSet::from(["李四".to_owned()]));
    assert!(names("%").await.is_empty(), "wildcards are literal");
    assert!(names("三张").await.is_empty());
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[sqlx::test(migrations = "../schema")]
async fn keyset_pages_neither_skip_nor_repeat_while_writes_go_on(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let mut expected = BTreeSet::new();
    for index in 0..7 {
        expected.insert(app.register(&boss, &format!("客户{index}")).await);
    }
    project(&pool).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(cursor) => format!("/v1/customers?limit=3&cursor={cursor}"),
            None => "/v1/customers?limit=3".to_owned(),
        };
        let page = app
            .call(Method::GET, &uri, &boss, Value::Null)
            .await
            .expect(StatusCode::OK);
        for item in page.body["items"].as_array().expect("items") {
            seen.push(
                item["id"]
                    .as_str()
                    .and_then(|id| id.parse::<Uuid>().ok())
                    .expect("id"),
            );
        }
        // Writes between pages: new customers and changes to listed ones.
        let newcomer = app.register(&boss, "新客户").await;
        app.call(
            Method::PUT,
            &format!("/v1/customers/{}/stage", seen[0]),
            &boss,
            json!({"stage": "closed_lost"}),
        )
        .await;
        let _ = newcomer;
        project(&pool).await;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: BTreeSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no row repeated");
    assert_eq!(
        unique, expected,
        "no row skipped, none added behind the cursor"
    );
    app.call(Method::GET, "/v1/customers?cursor=zz", &boss, Value::Null)
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.call(Method::GET, "/v1/customers?limit=1000", &boss, Value::Null)
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.call(Method::GET, "/v1/customers?colour=red", &boss, Value::Null)
        .await
        .expect(StatusCode::BAD_REQUEST);
}

struct Scenario {
    service: CommandService,
    tenant: Uuid,
    t0: DateTime<Utc>,
}

impl Scenario {
    fn actor(&self) -> Actor {
        Actor {
            tenant_id: self.tenant,
            user_id: UserId::parse("boss").expect("user"),
            role: Role::Manager,
        }
    }

    async fn at(&self, day: i64, id: Uuid, action: Action) {
        let command = CustomerCommand {
            actor: self.actor(),
            now: self.t0 + Duration::days(day),
            expected_version: None,
            action,
        };
        self.service
            .execute(id, command, &RequestContext::default())
            .await
            .expect("command");
    }

    async fn register(&self, day: i64, name: &str, owner: &str, deal: i64) -> Uuid {
        let id = Uuid::now_v7();
        let registration = Registration {
            name: CustomerName::parse(name).expect("name"),
            phone: None,
            email: None,
            company: Some(ShortText::parse("测试公司").expect("company")),
            industry: None,
            position: None,
            source: None,
            owner_id: Some(UserId::parse(owner).expect("owner")),
            tags: vec![],
            deal_value: Some(Money::non_negative(Decimal::from(deal)).expect("deal")),
            occurred_at: None,
        };
        self.at(day, id, Action::Register(registration)).await;
        id
    }

    async fn move_to(&self, day: i64, id: Uuid, stage: Stage, reason: Option<&str>) {
        let action = Action::MoveStage {
            stage,
            deal_value: None,
            probability: None,
            reason: reason.map(|r| ShortText::parse(r).expect("reason")),
            occurred_at: None,
        };
        self.at(day, id, action).await;
    }
}

#[sqlx::test(migrations = "../schema")]
async fn the_funnel_matches_a_hand_computed_scenario(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let s = Scenario {
        service: CommandService::new(pool.clone(), test_data_keys(&pool)),
        tenant: app.tenant,
        t0: Utc::now() - Duration::days(30),
    };
    use Stage::*;
    let a = s.register(0, "甲", "rep-1", 100_000).await;
    let b = s.register(0, "乙", "rep-1", 50_000).await;
    let c = s.register(0, "丙", "rep-1", 20_000).await;
    let d = s.register(0, "丁", "rep-1", 30_000).await;
    let _e = s.register(0, "戊", "rep-1", 10_000).await;
    let f = s.register(0, "己", "rep-1", 99_000).await;
    let _g = s.register(-100, "庚", "rep-2", 7_777).await;
    // A: the whole way to closed_won.
    s.move_to(2, a, Qualified, None).await;
    s.move_to(5, a, Proposal, None).await;
    s.move_to(7, a, Negotiation, None).await;
    s.move_to(8, a, ClosedWon, None).await;
    // B skips qualified.
    s.move_to(4, b, Proposal, None).await;
    // C is lost after qualifying.
    s.move_to(1, c, Qualified, None).await;
    s.move_to(2, c, ClosedLost, None).await;
    // D is lost in proposal, then reopened to qualified.
    s.move_to(3, d, Qualified, None).await;
    s.move_to(6, d, Proposal, None).await;
    s.move_to(8, d, ClosedLost, None).await;
    s.move_to(9, d, Qualified, Some("客户重新询价")).await;
    // F moves, then is archived: it counts nowhere.
    s.move_to(10, f, Qualified, None).await;
    s.at(11, f, Action::Archive { reason: None }).await;
    project(&pool).await;

    let boss = app.manager();
    let from = (s.t0 - Duration::days(1)).to_rfc3339().replace('+', "%2B");
    // With a period the route sums the customers' rows; without one, the
    // totals the projection keeps per owner: both must give these numbers.
    for uri in [
        format!("/v1/funnel?owner_id=rep-1&from={from}&cards=2"),
        "/v1/funnel?owner_id=rep-1&cards=2".to_owned(),
    ] {
        let funnel = app
            .call(Method::GET, &uri, &boss, Value::Null)
            .await
            .expect(StatusCode::OK)
            .body;
        let stages: HashMap<String, &Value> = funnel["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .map(|stage| (stage["id"].as_str().unwrap_or_default().to_owned(), stage))
            .collect();
        let expected = [
            // id, count, total, weighted, avg deal, conversion, avg cycle days
            ("lead", 1, 10_000, 1_000, 10_000, Some(0.8), Some(2.5)),
            (
                "qualified",
                1,
                30_000,
                6_000,
                30_000,
                Some(0.75),
                Some(2.33),
            ),
            (
                "proposal",
                1,
                50_000,
                25_000,
                50_000,
                Some(0.3333),
                Some(2.0),
            ),
            ("negotiation", 0, 0, 0, 0, Some(1.0), Some(1.0)),
            ("closed_won", 1, 100_000, 100_000, 100_000, None, None),
            ("closed_lost", 1, 20_000, 0, 20_000, None, Some(1.0)),
        ];
        for (id, count, total, weighted, average, conversion, cycle) in expected {
            let stage = stages[id];
            assert_eq!(stage["count"], count, "{id} count");
            assert_eq!(
                decimal(&stage["total_value"]),
                Decimal::from(total),
                "{id} total"
            );
            assert_eq!(
                decimal(&stage["weighted_value"]),
                Decimal::from(weighted),
                "{id} weighted"
            );
            assert_eq!(
                decimal(&stage["avg_deal_size"]),
                Decimal::from(average),
                "{id} average"
            );
            assert_eq!(
                stage["conversion_rate"].as_f64(),
                conversion,
                "{id} conversion"
            );
            assert_eq!(stage["avg_cycle_days"].as_f64(), cycle, "{id} cycle");
        }
        assert_eq!(stages["lead"]["name"], "潜在客户");
        assert_eq!(stages["closed_lost"]["color"], "#ff7875");
        assert_eq!(funnel["totals"]["count"], 5);
        assert_eq!(
            decimal(&funnel["totals"]["total_value"]),
            Decimal::from(210_000)
        );
        assert_eq!(
            decimal(&funnel["totals"]["weighted_value"]),
            Decimal::from(132_000)
        );
        let card = &stages["closed_won"]["customers"][0];
        assert_eq!(card["name"], "甲");
        assert_eq!(card["owner_id"], "rep-1");
        assert_eq!(decimal(&card["deal_value"]), Decimal::from(100_000));
    }

    // Without the period and owner filters, G (registered earlier, rep-2) counts too.
    let everything = app
        .call(Method::GET, "/v1/funnel", &boss, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(everything["stages"][0]["count"], 2);
    assert_eq!(everything["totals"]["count"], 6);
    app.call(Method::GET, "/v1/funnel?from=yesterday", &boss, Value::Null)
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.call(Method::GET, "/v1/funnel?cards=51", &boss, Value::Null)
        .await
        .expect(StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrations = "../schema")]
async fn segments_and_lifecycle_filters_follow_time(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let now = Utc::now();
    let s = Scenario {
        service: CommandService::new(pool.clone(), test_data_keys(&pool)),
        tenant: app.tenant,
        t0: now,
    };
    let _prospect = s.register(0, "新人", "rep-1", 0).await;
    let lost = s.register(-200, "旧人", "rep-1", 0).await;
    let fading = s.register(-130, "渐远", "rep-1", 0).await;
    for days_ago in [126, 125] {
        let purchase = Action::RecordPurchase {
            amount: Money::positive(Decimal::from(800)).expect("amount"),
            category: ShortText::parse("软件订阅").expect("category"),
            occurred_at: Some(OccurredAt::new(now - Duration::days(days_ago)).expect("instant")),
            order_ref: None,
        };
        s.at(0, fading, purchase).await;
    }
    project(&pool).await;
    let boss = app.manager();
    let segments = app
        .call(Method::GET, "/v1/segments", &boss, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    let counts: HashMap<String, i64> = segments["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| {
            (
                s["lifecycle"].as_str().unwrap_or_default().to_owned(),
                s["count"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(counts["prospect"], 1);
    assert_eq!(counts["lost"], 1);
    assert_eq!(counts["at_risk"], 1, "two purchases 125 days ago: R=2, F=2");
    assert_eq!(counts.len(), 6);
    let only = app
        .call(
            Method::GET,
            "/v1/segments?lifecycle=at_risk",
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(
        only["segments"],
        json!([{"lifecycle": "at_risk", "count": 1}])
    );
    let listed = app
        .call(
            Method::GET,
            "/v1/customers?lifecycle=lost",
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(listed["items"][0]["id"], lost.to_string());
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    app.call(
        Method::GET,
        "/v1/segments?lifecycle=sleepy",
        &boss,
        Value::Null,
    )
    .await
    .expect(StatusCode::BAD_REQUEST);

    // The profile agrees with the segment, and as_of moves it through time.
    let profile = app
        .call(
            Method::GET,
            &format!("/v1/customers/{fading}/profile"),
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(profile["lifecycle"], "at_risk");
    assert_eq!(
        profile["rfm"],
        json!({"recency": 2, "frequency": 2, "monetary": 2})
    );
    let earlier = (now - Duration::days(120)).to_rfc3339().replace('+', "%2B");
    let then = app
        .call(
            Method::GET,
            &format!("/v1/customers/{fading}/profile?as_of={earlier}"),
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(then["rfm"]["recency"], 5);
    assert_eq!(then["lifecycle"], "active");
    let before = (now - Duration::days(400)).to_rfc3339().replace('+', "%2B");
    app.call(
        Method::GET,
        &format!("/v1/customers/{fading}/profile?as_of={before}"),
        &boss,
        Value::Null,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    app.call(
        Method::GET,
        &format!("/v1/customers/{fading}/profile?as_of=last-week"),
        &boss,
        Value::Null,
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrations = "../schema")]
async fn sql_and_rust_lifecycles_agree_at_every_boundary(pool: PgPool) {
    let as_of = Utc::now();
    let mut checked = 0;
    for count in [0usize, 1, 2, 7] {
        for total in ["999", "1000", "4999", "5000"] {
            for purchase_days in [29i64, 30, 31, 60, 61, 90, 91, 180, 181] {
                for contact_days in [29i64, 60, 61, 90, 91, 180, 181] {
                    let contact_days = contact_days.min(purchase_days);
                    let total = Decimal::from_str(total).expect("total");
                    let last_purchase = (count > 0).then(|| as_of - Duration::days(purchase_days));
                    let last_contact = as_of
                        - Duration::days(if count > 0 {
                            contact_days
                        } else {
                            purchase_days
                        });
                    let scores = profile::rfm(count, total, last_purchase, as_of);
                    let contact =
                        Decimal::from((as_of - last_contact).num_seconds()) / Decimal::from(86_400);
                    let rust = profile::lifecycle(count, scores, contact);
                    let sql: String =
                        sqlx::query_scalar("SELECT crm_lifecycle($1, $2, $3, $4, $5)")
                            .bind(i32::try_from(count).expect("count"))
                            .bind(total)
                            .bind(last_purchase)
                            .bind(last_contact)
                            .bind(as_of)
                            .fetch_one(&pool)
                            .await
                            .expect("sql lifecycle");
                    assert_eq!(sql, rust.as_str(), "count {count} total {total} purchase {purchase_days}d contact {contact_days}d");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500);
    // A month with no new events turns an active customer at risk.
    let row = |as_of: DateTime<Utc>| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT crm_lifecycle(2, 1500, $1, $1, $2)")
                .bind(Utc::now() - Duration::days(100))
                .bind(as_of)
                .fetch_one(&pool)
                .await
                .expect("lifecycle")
        }
    };
    assert_eq!(row(Utc::now()).await, Lifecycle::Active.as_str());
    assert_eq!(
        row(Utc::now() + Duration::days(31)).await,
        Lifecycle::AtRisk.as_str()
    );
}

#[sqlx::test(migrations = "../schema")]
async fn lifecycle_function_is_inlined_into_queries(pool: PgPool) {
    // Not inlined, PostgreSQL runs the SQL-function executor once per row.
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN (VERBOSE) SELECT crm_lifecycle(purchase_count, total_amount, last_purchase_at, \
         last_contact_at, now()) FROM rm_customers",
    )
    .fetch_all(&pool)
    .await
    .expect("explain");
    let plan = plan.join("\n");
    assert!(plan.contains("CASE WHEN"), "{plan}");
    assert!(!plan.contains("crm_lifecycle"), "{plan}");
}

#[sqlx::test(migrations = "../schema")]
async fn reps_see_their_own_managers_the_tenant_and_nobody_another_tenant(pool: PgPool) {
    let mut app = TestApp::new(pool.clone());
    let rep1 = app.token(Role::Rep, "rep-1");
    let rep2 = app.token(Role::Rep, "rep-2");
    let boss = app.manager();
    let mine = app.register(&rep1, "甲方").await;
    let theirs = app.register(&rep2, "乙方").await;
    app.call(
        Method::PUT,
        &format!("/v1/customers/{theirs}/stage"),
        &rep2,
        json!({"stage": "proposal"}),
    )
    .await
    .expect(StatusCode::OK);
    project(&pool).await;

    let ids = |body: &Value| -> BTreeSet<String> {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let listed = app
        .call(Method::GET, "/v1/customers", &rep1, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(ids(&listed), BTreeSet::from([mine.to_string()]));
    let searched = app
        .call(
            Method::GET,
            "/v1/customers?q=%E4%B9%99%E6%96%B9",
            &rep1,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    assert!(ids(&searched).is_empty(), "search respects visibility");
    let everyone = app
        .call(Method::GET, "/v1/customers", &boss, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(everyone["items"].as_array().map(Vec::len), Some(2));
    for route in ["", "/timeline", "/profile"] {
        app.call(
            Method::GET,
            &format!("/v1/customers/{theirs}{route}"),
            &rep1,
            Value::Null,
        )
        .await
        .expect(StatusCode::NOT_FOUND);
        app.call(
            Method::GET,
            &format!("/v1/customers/{theirs}{route}"),
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
        app.call(
            Method::GET,
            &format!("/v1/customers/{mine}{route}"),
            &rep1,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    }
    let funnel = app
        .call(Method::GET, "/v1/funnel", &rep1, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(funnel["totals"]["count"], 1);
    let funnel_for_rep2 = app
        .call(Method::GET, "/v1/funnel?owner_id=rep-2", &rep1, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(
        funnel_for_rep2["totals"]["count"], 0,
        "a rep cannot widen its view with owner_id"
    );
    let segments = app
        .call(Method::GET, "/v1/segments", &rep1, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    let total: i64 = segments["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| s["count"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(total, 1);

    let timeline = app
        .call(
            Method::GET,
            &format!("/v1/customers/{theirs}/timeline"),
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK)
        .body;
    let kinds: Vec<&str> = timeline["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["stage_moved", "registered"], "newest first");

    app.tenant = Uuid::new_v4();
    let stranger = app.token(Role::Admin, "boss");
    let nothing = app
        .call(Method::GET, "/v1/customers", &stranger, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert!(ids(&nothing).is_empty());
    for route in ["", "/timeline", "/profile"] {
        app.call(
            Method::GET,
            &format!("/v1/customers/{mine}{route}"),
            &stranger,
            Value::Null,
        )
        .await
        .expect(StatusCode::NOT_FOUND);
    }
    let funnel = app
        .call(Method::GET, "/v1/funnel", &stranger, Value::Null)
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(funnel["totals"]["count"], 0);
    app.call(Method::GET, "/v1/customers", "not-a-token", Value::Null)
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = "../schema")]
async fn min_position_reads_your_writes_or_says_it_is_stale(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    // No projector running: the answer comes after the wait, marked stale.
    let written = app
        .call(
            Method::POST,
            "/v1/customers",
            &boss,
            json!({"name": "等待"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let started = std::time::Instant::now();
    let stale = app
        .call(
            Method::GET,
            &format!("/v1/customers?min_position={}", written.position()),
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    assert_eq!(stale.headers[query::STALE_HEADER], "true");
    assert_eq!(stale.body["items"].as_array().map(Vec::len), Some(0));

    // With the projector running, the write is visible as soon as it is projected.
    let projector = RunningProjector::start(&pool);
    let second = app
        .call(
            Method::POST,
            "/v1/customers",
            &boss,
            json!({"name": "即时"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let fresh = app
        .call(
            Method::GET,
            &format!(
                "/v1/customers/{}?min_position={}",
                second.id(),
                second.position()
            ),
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert!(!fresh.headers.contains_key(query::STALE_HEADER));
    assert_eq!(fresh.body["name"], "即时");
    assert_eq!(fresh.body["profile"]["lifecycle"], "prospect");
    let timeline = app
        .call(
            Method::GET,
            &format!(
                "/v1/customers/{}/timeline?min_position={}",
                second.id(),
                second.position()
            ),
            &boss,
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(timeline.body["items"][0]["kind"], "registered");
    projector.stop().await;

    let metrics = app.send(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains("crm_projection_checkpoint_position"),
        "{text}"
    );
    assert!(text.contains("crm_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/v1/customers/{id}\""), "{text}");
}

/// Transaction ids must be compared as numbers: two committed events whose
/// ids sort the other way as text ("9999" after "10000") still come out in
/// commit order, from the projectors' reader and the relay's alike.
#[sqlx::test(migrations = "../schema")]
async fn commit_order_is_numeric_across_a_digit_boundary_of_transaction_ids(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    app.register(&boss, "甲").await;
    app.register(&boss, "乙").await;
    let xmin: String = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        .fetch_one(&pool)
        .await
        .expect("xmin");
    let boundary = 10u64.pow(u32::try_from(xmin.len() - 1).expect("digits"));
    assert!(
        boundary >= 10,
        "the cluster is too young for this test: xmin {xmin}"
    );
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&mut *conn)
        .await
        .expect("disable");
    sqlx::query(
        "UPDATE events SET tx = (CASE WHEN global_position = (SELECT min(global_position) FROM events)
                                      THEN $1 ELSE $2 END)::text::xid8",
    )
    .bind((boundary - 1).to_string())
    .bind(boundary.to_string())
    .execute(&mut *conn)
    .await
    .expect("set tx");
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_append_only")
        .execute(&mut *conn)
        .await
        .expect("enable");

    let first = store::source::read_batch(&mut conn, store::Checkpoint::default(), 1)
        .await
        .expect("read");
    assert_eq!(first.events[0].checkpoint.tx, boundary - 1);
    let relay = relay::Relay::new(
        pool.clone(),
        relay::RelayConfig {
            batch: 1,
            ..relay::RelayConfig::new("127.0.0.1:1")
        },
    )
    .expect("relay");
    let first = relay
        .read(store::Checkpoint::default())
        .await
        .expect("read");
    assert_eq!(first[0].checkpoint.tx, boundary - 1);
}

/// Purchases and activities of a customer as the projection stored them.
async fn stored_facts(pool: &PgPool, id: Uuid) -> projector::profile::Facts {
    let registered_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT registered_at FROM rm_customers WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .expect("registered_at");
    let purchases: Vec<(DateTime<Utc>, Decimal, String)> = sqlx::query_as(
        "SELECT occurred_at, amount, category FROM rm_purchases WHERE customer_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("purchases");
    let activities: Vec<(DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT occurred_at, activity_type FROM rm_activities WHERE customer_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("activities");
    projector::profile::Facts {
        registered_at,
        purchases: purchases
            .into_iter()
            .map(
                |(occurred_at, amount, category)| projector::profile::Purchase {
                    occurred_at,
                    amount,
                    category,
                },
            )
            .collect(),
        activities: activities
            .into_iter()
            .map(|(occurred_at, kind)| projector::profile::Activity {
                occurred_at,
                activity_type: kind.parse().expect("activity type"),
            })
            .collect(),
    }
}

#[sqlx::test(migrations = "../schema")]
async fn the_profile_from_the_row_equals_the_profile_from_the_histories(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let boss = app.manager();
    let mut ids = common::varied_history(&app).await;
    // More than three categories with ties on one customer, every activity
    // kind on another, nothing at all on a third.
    for (amount, category) in [
        (100, "硬件"),
        (200, "软件订阅"),
        (300, "服务"),
        (400, "硬件"),
        (500, "培训"),
        (600, "服务"),
    ] {
        app.call(
            Method::POST,
            &format!("/v1/customers/{}/purchases", ids[0]),
            &boss,
            json!({"amount": amount, "category": category}),
        )
        .await
        .expect(StatusCode::OK);
    }
    for kind in ["visit", "email", "meeting", "call", "email"] {
        app.call(
            Method::POST,
            &format!("/v1/customers/{}/activities", ids[1]),
            &boss,
            json!({"type": kind}),
        )
        .await
        .expect(StatusCode::OK);
    }
    ids.push(app.register(&boss, "新客户").await);
    project(&pool).await;

    for id in ids {
        let detail = app
            .call(
                Method::GET,
                &format!("/v1/customers/{id}"),
                &boss,
                Value::Null,
            )
            .await
            .expect(StatusCode::OK)
            .body;
        let as_of: DateTime<Utc> = detail["profile"]["as_of"]
            .as_str()
            .and_then(|text| text.parse().ok())
            .expect("as_of");
        let facts = stored_facts(&pool, id).await;
        let expected =
            serde_json::to_value(projector::profile::profile(&facts, as_of)).expect("profile json");
        assert_eq!(detail["profile"], expected, "customer {id}");
        assert_eq!(detail["purchase_count"], expected["purchase_count"]);

        // Before the last fact the route reads the histories.
        let before = facts.registered_at;
        let past = app
            .call(
                Method::GET,
                &format!(
                    "/v1/customers/{id}/profile?as_of={}",
                    before.to_rfc3339().replace('+', "%2B")
                ),
                &boss,
                Value::Null,
            )
            .await
            .expect(StatusCode::OK)
            .body;
        let expected_past = serde_json::to_value(projector::profile::profile(&facts, before))
            .expect("profile json");
        assert_eq!(past, expected_past, "customer {id} at registration");
    }
}

//! `crm serve --demo`: a demo tenant with a few dozen realistic customers,
//! created through the same command service the API uses.

use std::str::FromStr;

use chrono::{Duration, SubsecRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use command::aggregate::{Action, Actor, CustomerCommand, Registration};
use command::{CommandService, RequestContext};
use events::values::{
    ActivityType, CustomerName, Email, Money, Phone, ShortText, Stage, Tag, UserId,
};
use store::keys::KeyStore;
use web::Role;

/// The demo tenant's id: fixed, so a second `--demo` run finds it.
pub const DEMO_TENANT: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0de0);
const CUSTOMERS: usize = 36;

const SURNAMES: &[&str] = &[
    "张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超",
    "秀英", "建国", "海燕", "志强", "丽华",
];
const COMPANIES: &[(&str, &str)] = &[
    ("星辰科技有限公司", "科技"),
    ("华美零售连锁", "零售"),
    ("恒达精密制造", "制造业"),
    ("绿地置业顾问", "房地产"),
    ("优品生活服务", "服务业"),
    ("东方教育咨询", "教育"),
    ("鑫源物流", "物流"),
    ("云帆软件", "科技"),
    ("金穗餐饮管理", "服务业"),
    ("宏图建材", "制造业"),
    ("康宁医疗器械", "医疗"),
    ("锦绣家居", "零售"),
];
const SOURCES: &[&str] = &["展会", "官网", "转介绍", "电话营销", "微信公众号"];
const POSITIONS: &[&str] = &["总经理", "采购经理", "IT主管", "财务总监", "运营总监"];
const TAGS: &[&str] = &[
    "重点客户",
    "价格敏感",
    "决策人",
    "老客户推荐",
    "需要演示",
    "华东区",
];
const CATEGORIES: &[&str] = &["软件订阅", "实施服务", "硬件设备", "培训"];
const REPS: &[&str] = &["rep-zhang", "rep-li", "rep-wang"];

/// Creates the demo tenant unless it already has customers; returns its id.
pub async fn seed(pool: &PgPool, data_keys: &KeyStore) -> anyhow::Result<Uuid> {
    let existing: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE tenant_id = $1)")
            .bind(DEMO_TENANT)
            .fetch_one(pool)
            .await?;
    if existing {
        return Ok(DEMO_TENANT);
    }
    let service = CommandService::new(pool.clone(), data_keys.clone());
    let manager = Actor {
        tenant_id: DEMO_TENANT,
        user_id: UserId::parse("demo-manager")?,
        role: Role::Manager,
    };
    let mut rng = StdRng::seed_from_u64(20_261_125);
    let now = Utc::now().trunc_subsecs(6);
    for index in 0..CUSTOMERS {
        let id = Uuid::now_v7();
        let run = |action: Action| CustomerCommand {
            actor: manager.clone(),
            now,
            expected_version: None,
            action,
        };
        let request = RequestContext {
            correlation_id: format!("demo-{index}"),
            idempotency_key: None,
        };
        let (company, industry) = COMPANIES[rng.gen_range(0..COMPANIES.len())];
        let name = format!(
            "{}{}",
            SURNAMES[rng.gen_range(0..SURNAMES.len())],
            GIVEN[rng.gen_range(0..GIVEN.len())]
        );
        let deal = Decimal::from(rng.gen_range(2..200) * 5_000);
        let tags = (0..rng.gen_range(0..3))
            .map(|_| Tag::parse(TAGS[rng.gen_range(0..TAGS.len())]))
            .collect::<Result<Vec<_>, _>>()?;
        let registration = Registration {
            name: CustomerName::parse(&name)?,
            phone: Some(Phone::parse(&format!(
                "13{:09}",
                rng.gen_range(0..1_000_000_000u64)
            ))?),
            email: Some(Email::parse(&format!("customer{index}@example.cn"))?),
            company: Some(ShortText::parse(company)?),
            industry: Some(ShortText::parse(industry)?),
            position: Some(ShortText::parse(
                POSITIONS[rng.gen_range(0..POSITIONS.len())],
            )?),
            source: Some(ShortText::parse(SOURCES[rng.gen_range(0..SOURCES.len())])?),
            owner_id: Some(UserId::parse(REPS[index % REPS.len()])?),
            tags,
            deal_value: Some(Money::non_negative(deal)?),
        };
        service
            .execute(id, run(Action::Register(registration)), &request)
            .await?;

        let path = [
            Stage::Qualified,
            Stage::Proposal,
            Stage::Negotiation,
            Stage::ClosedWon,
        ];
        let steps = rng.gen_range(0..=path.len());
        for stage in path.iter().take(steps) {
            service
                .execute(
                    id,
                    run(Action::MoveStage {
                        stage: *stage,
                        deal_value: None,
                        probability: None,
                        reason: None,
                    }),
                    &request,
                )
                .await?;
        }
        if steps < path.len() && rng.gen_bool(0.15) {
            service
                .execute(
                    id,
                    run(Action::MoveStage {
                        stage: Stage::ClosedLost,
                        deal_value: None,
                        probability: None,
                        reason: Some(ShortText::parse("预算不足")?),
                    }),
                    &request,
                )
                .await?;
        }
        for _ in 0..rng.gen_range(1..5) {
            let kind = [
                ActivityType::Visit,
                ActivityType::Call,
                ActivityType::Email,
                ActivityType::Meeting,
            ][rng.gen_range(0..4)];
            service
                .execute(
                    id,
                    run(Action::LogActivity {
                        activity_type: kind,
                        subject: Some(ShortText::parse(
                            ["需求沟通", "方案讲解", "报价跟进", "售后回访"][rng.gen_range(0..4)],
                        )?),
                        notes: None,
                        occurred_at: Some(now - Duration::days(rng.gen_range(0..200))),
                        value: None,
                    }),
                    &request,
                )
                .await?;
        }
        if steps == path.len() {
            for order in 0..rng.gen_range(1..6) {
                service
                    .execute(
                        id,
                        run(Action::RecordPurchase {
                            amount: Money::positive(Decimal::from_str(&format!(
                                "{}.00",
                                rng.gen_range(500..20_000)
                            ))?)?,
                            category: ShortText::parse(
                                CATEGORIES[rng.gen_range(0..CATEGORIES.len())],
                            )?,
                            occurred_at: Some(now - Duration::days(rng.gen_range(0..400))),
                            order_ref: Some(events::values::OrderRef::parse(&format!(
                                "DEMO-{index}-{order}"
                            ))?),
                        }),
                        &request,
                    )
                    .await?;
            }
        }
    }
    Ok(DEMO_TENANT)
}

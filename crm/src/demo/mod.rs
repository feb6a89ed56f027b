//! `crm serve --demo`: a demo tenant with a few dozen realistic customers,
//! created through the same command service the API uses.

pub mod people;

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
    ActivityType, CustomerName, Email, Money, Phone, Stage, Tag, TextField, UserId,
};
use store::data_keys::DataKeys;
use web::Role;

use crate::vocabulary::{
    pick, CATEGORIES, DEMO_COMPANIES, DEMO_GIVEN_PAIRS, DEMO_POSITIONS, DEMO_SOURCES,
    DEMO_SUBJECTS, GIVEN, LOST_REASONS, SURNAMES, TAGS,
};

/// The demo tenant's id: fixed, so a second `--demo` run finds it.
pub const DEMO_TENANT: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0de0);
const CUSTOMERS: usize = 36;

/// The demo draws from the commonest words: these many first entries of the
/// shared lists (and the demo's own lists in `vocabulary`).
const SURNAMES_USED: usize = 16;
const GIVEN_USED: usize = 15;
const TAGS_USED: usize = 6;
const CATEGORIES_USED: usize = 4;
const REPS: &[&str] = &["rep-zhang", "rep-li", "rep-wang"];

/// Creates the demo tenant unless it already has customers; returns its id.
pub async fn seed(pool: &PgPool, data_keys: &DataKeys) -> anyhow::Result<Uuid> {
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
        let (company, industry) = pick(&mut rng, DEMO_COMPANIES);
        let name = format!(
            "{}{}",
            pick(&mut rng, &SURNAMES[..SURNAMES_USED]).0,
            given_name(&mut rng)
        );
        let deal = Decimal::from(rng.gen_range(2..200) * 5_000);
        let tags = (0..rng.gen_range(0..3))
            .map(|_| Tag::parse(pick(&mut rng, &TAGS[..TAGS_USED])))
            .collect::<Result<Vec<_>, _>>()?;
        let registration = Registration {
            name: CustomerName::parse(&name)?,
            phone: Some(Phone::parse(&format!(
                "13{:09}",
                rng.gen_range(0..1_000_000_000u64)
            ))?),
            email: Some(Email::parse(&format!("customer{index}@example.cn"))?),
            company: Some(TextField::COMPANY.parse(company)?),
            industry: Some(TextField::INDUSTRY.parse(industry)?),
            position: Some(TextField::POSITION.parse(pick(&mut rng, DEMO_POSITIONS))?),
            source: Some(TextField::SOURCE.parse(pick(&mut rng, DEMO_SOURCES))?),
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
                        reason: Some(TextField::REASON.parse(LOST_REASONS[0])?),
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
                        subject: Some(TextField::SUBJECT.parse(pick(&mut rng, DEMO_SUBJECTS))?),
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
                            category: TextField::CATEGORY
                                .parse(pick(&mut rng, &CATEGORIES[..CATEGORIES_USED]).0)?,
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

/// One of the commonest given names: a single character or one of the pairs.
fn given_name(rng: &mut StdRng) -> &'static str {
    let index = rng.gen_range(0..GIVEN_USED + DEMO_GIVEN_PAIRS.len());
    match index.checked_sub(GIVEN_USED) {
        None => GIVEN[index].0,
        Some(pair) => DEMO_GIVEN_PAIRS[pair],
    }
}

//! `crm serve --demo`: a demo tenant with three dozen customers and a year
//! of believable history (`story`), created through the same command
//! service the API uses. Every customer is entered now, dated when it
//! happened: registrations spread over the year, stage moves days to weeks
//! apart, contacts and orders only after the registration.

pub mod people;
mod story;

use std::str::FromStr;

use chrono::{SubsecRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use command::aggregate::{Action, Actor, CustomerCommand, Registration};
use command::{CommandService, RequestContext};
use events::values::{
    ActivityType, CustomerName, Email, Money, OccurredAt, OrderRef, Phone, Tag, TextField, UserId,
};
use store::data_keys::DataKeys;
use web::Role;

use crate::vocabulary::{
    pick, CATEGORIES, DEMO_COMPANIES, DEMO_GIVEN_PAIRS, DEMO_POSITIONS, DEMO_SOURCES,
    DEMO_SUBJECTS, GIVEN, SURNAMES, TAGS,
};
use story::{Step, KINDS};

/// The demo tenant's id: fixed, so a second `--demo` run finds it.
pub const DEMO_TENANT: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0de0);
const CUSTOMERS: usize = 3 * KINDS;

/// The demo draws from the commonest words: these many first entries of the
/// shared lists (and the demo's own lists in `vocabulary`).
const SURNAMES_USED: usize = 16;
const GIVEN_USED: usize = 15;
const TAGS_USED: usize = 6;
const CATEGORIES_USED: usize = 4;
/// The owners, one block of [`KINDS`] customers each, so every rep has every
/// kind of story (the manager's team is the first two).
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
            caused_by: None,
        };
        let story = story::story(&mut rng, index, now);
        service
            .execute(
                id,
                run(Action::Register(registration(&mut rng, index, &story)?)),
                &request,
            )
            .await?;
        let mut orders = 0;
        for (at, step) in story.steps {
            let occurred_at = Some(OccurredAt::new(at)?);
            let action = match step {
                Step::Move { to, reason } => Action::MoveStage {
                    stage: to,
                    deal_value: None,
                    probability: None,
                    reason: reason.map(|r| TextField::REASON.parse(r)).transpose()?,
                    occurred_at,
                },
                Step::Activity => Action::LogActivity {
                    activity_type: [
                        ActivityType::Visit,
                        ActivityType::Call,
                        ActivityType::Email,
                        ActivityType::Meeting,
                    ][rng.gen_range(0..4)],
                    // After a win the rep calls to look after the customer.
                    subject: Some(TextField::SUBJECT.parse(if orders > 0 {
                        DEMO_SUBJECTS[DEMO_SUBJECTS.len() - 1]
                    } else {
                        pick(&mut rng, &DEMO_SUBJECTS[..DEMO_SUBJECTS.len() - 1])
                    })?),
                    notes: None,
                    occurred_at,
                    value: None,
                },
                Step::Purchase => {
                    orders += 1;
                    Action::RecordPurchase {
                        amount: Money::positive(Decimal::from_str(&format!(
                            "{}.00",
                            rng.gen_range(800..8_000)
                        ))?)?,
                        category: TextField::CATEGORY
                            .parse(pick(&mut rng, &CATEGORIES[..CATEGORIES_USED]).0)?,
                        occurred_at,
                        order_ref: Some(OrderRef::parse(&format!("DEMO-{index}-{orders}"))?),
                    }
                }
            };
            service.execute(id, run(action), &request).await?;
        }
    }
    Ok(DEMO_TENANT)
}

/// The `index`th customer as entered: a person at one of the demo's
/// companies, owned by its block's rep, registered when its story began.
fn registration(
    rng: &mut StdRng,
    index: usize,
    story: &story::Story,
) -> anyhow::Result<Registration> {
    let (company, industry) = pick(rng, DEMO_COMPANIES);
    // The first story of each of the team's reps is a 张, so the manager's
    // search for 张 always finds some.
    let surname = if index.is_multiple_of(KINDS) && index < 2 * KINDS {
        SURNAMES[0].0
    } else {
        pick(rng, &SURNAMES[..SURNAMES_USED]).0
    };
    let name = format!("{surname}{}", given_name(rng));
    let deal = Decimal::from(rng.gen_range(2..200) * 5_000);
    let tags = (0..rng.gen_range(0..3))
        .map(|_| Tag::parse(pick(rng, &TAGS[..TAGS_USED])))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Registration {
        name: CustomerName::parse(&name)?,
        phone: Some(Phone::parse(&format!(
            "13{:09}",
            rng.gen_range(0..1_000_000_000u64)
        ))?),
        email: Some(Email::parse(&format!("customer{index}@example.cn"))?),
        company: Some(TextField::COMPANY.parse(company)?),
        industry: Some(TextField::INDUSTRY.parse(industry)?),
        position: Some(TextField::POSITION.parse(pick(rng, DEMO_POSITIONS))?),
        source: Some(TextField::SOURCE.parse(pick(rng, DEMO_SOURCES))?),
        owner_id: Some(UserId::parse(REPS[index / KINDS % REPS.len()])?),
        tags,
        deal_value: Some(Money::non_negative(deal)?),
        occurred_at: Some(OccurredAt::new(story.registered_at)?),
    })
}

/// One of the commonest given names: a single character or one of the pairs.
fn given_name(rng: &mut StdRng) -> &'static str {
    let index = rng.gen_range(0..GIVEN_USED + DEMO_GIVEN_PAIRS.len());
    match index.checked_sub(GIVEN_USED) {
        None => GIVEN[index].0,
        Some(pair) => DEMO_GIVEN_PAIRS[pair],
    }
}

//! The customer being generated: draws each planned step's values as the
//! command a user would issue, has the real aggregate decide it, and appends
//! the event it decides.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use rust_decimal::Decimal;
use uuid::Uuid;

use command::aggregate::{Action, Actor, Customer, CustomerCommand, Registration, MAX_TAGS};
use events::personal::{DataKey, MasterKey};
use events::values::{
    CustomerName, Money, OccurredAt, OrderRef, Probability, Stage, Tag, TextField, UserId,
};
use events::CustomerEvent;
use web::Role;

use super::plan::Step;
use super::tenant::{Tenant, ADMIN, MANAGERS, REPS};
use super::values::{
    activity, company, deal_value, email, person, phone, profile_update, text, timestamp, yuan,
};
use super::writer::{Batch, Metadata};
use crate::vocabulary::{pick, CATEGORIES, POSITIONS, SOURCES, TAGS};

/// The customer being generated.
pub(super) struct Stream<'a> {
    tenant: &'a Tenant,
    number: u64,
    customer: Uuid,
    id: String,
    /// The customer's data key, which seals its personal fields.
    key: DataKey,
    /// The service's aggregate, folded over the events so far: it decides
    /// every command, so the rules are the service's own.
    aggregate: Customer,
    // What the next choices depend on, as decided so far.
    owner: &'static str,
    deal_value: Money,
    tags: BTreeSet<&'static str>,
    purchases: u32,
    /// For a customer entered after the fact (an import): when it was
    /// entered. Its history up to then is recorded at that instant and dated
    /// when it happened; what follows is recorded as it happens.
    imported_at: Option<DateTime<Utc>>,
}

impl<'a> Stream<'a> {
    pub(super) fn register(
        rng: &mut StdRng,
        tenant: &'a Tenant,
        number: u64,
        master: &MasterKey,
        at: DateTime<Utc>,
        imported_at: Option<DateTime<Utc>>,
        batch: &mut Batch,
    ) -> anyhow::Result<Self> {
        // Busy reps own more customers: the lower of two draws favours the first reps.
        let owner = tenant.reps[rng
            .gen_range(0..tenant.reps.len())
            .min(rng.gen_range(0..tenant.reps.len()))];
        let person = person(rng);
        let company = rng.gen_bool(0.9).then(|| company(rng));
        // Some registrations give no deal value (the service records zero).
        let deal = if rng.gen_bool(0.1) {
            None
        } else {
            Some(deal_value(rng)?)
        };
        let mut tags = BTreeSet::new();
        for _ in 0..rng.gen_range(0..=3) {
            tags.insert(pick(rng, TAGS));
        }
        let registration = Registration {
            name: CustomerName::parse(&person.name)?,
            phone: rng.gen_bool(0.95).then(|| phone(rng)).transpose()?,
            email: rng
                .gen_bool(0.8)
                .then(|| email(rng, &person, company.as_ref()))
                .transpose()?,
            company: company
                .as_ref()
                .map(|c| text(TextField::COMPANY, &c.name))
                .transpose()?,
            industry: company
                .as_ref()
                .map(|c| text(TextField::INDUSTRY, c.industry))
                .transpose()?,
            position: company
                .as_ref()
                .filter(|_| rng.gen_bool(0.85))
                .map(|_| text(TextField::POSITION, pick(rng, POSITIONS)))
                .transpose()?,
            source: rng
                .gen_bool(0.9)
                .then(|| text(TextField::SOURCE, pick(rng, SOURCES)))
                .transpose()?,
            owner_id: Some(UserId::parse(owner)?),
            tags: tags
                .iter()
                .map(|tag| Tag::parse(tag))
                .collect::<Result<_, _>>()?,
            deal_value: deal,
            occurred_at: Some(OccurredAt::new(at)?),
        };
        let customer = Uuid::now_v7();
        // The service creates the key with the first event that carries
        // personal data: the registration, which always has a name.
        let key = DataKey::generate();
        let keyed_at = imported_at.unwrap_or(at).max(at);
        batch.push_key(customer, tenant.id, master.wrap(&key, customer), keyed_at);
        let mut stream = Self {
            tenant,
            number,
            customer,
            id: customer.to_string(),
            key,
            aggregate: Customer::default(),
            owner,
            deal_value: Money::ZERO,
            tags: BTreeSet::new(),
            purchases: 0,
            imported_at,
        };
        // Reps register their own customers; a manager sometimes does it for them.
        let (actor, role) = if rng.gen_bool(0.15) {
            (pick(rng, MANAGERS), Role::Manager)
        } else {
            (owner, Role::Rep)
        };
        stream.execute(Action::Register(registration), actor, role, at, batch)?;
        Ok(stream)
    }

    /// Mostly the owner acts; now and then a manager steps in.
    fn actor(&self, rng: &mut StdRng) -> (&'static str, Role) {
        if rng.gen_bool(0.1) {
            (pick(rng, MANAGERS), Role::Manager)
        } else {
            (self.owner, Role::Rep)
        }
    }

    pub(super) fn step(
        &mut self,
        rng: &mut StdRng,
        step: Step,
        at: DateTime<Utc>,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let (mut actor, mut role) = self.actor(rng);
        let action = match step {
            Step::Move { to, reason } => self.move_stage(rng, to, reason, at)?,
            Step::Purchase => self.purchase(rng, at)?,
            Step::Tag if self.tags.len() < MAX_TAGS => {
                let free: Vec<&'static str> = TAGS
                    .iter()
                    .copied()
                    .filter(|tag| !self.tags.contains(tag))
                    .collect();
                match free.choose(rng) {
                    Some(&tag) => Action::Tag(Tag::parse(tag)?),
                    None => activity(rng, at)?,
                }
            }
            Step::Untag if !self.tags.is_empty() => {
                let tags: Vec<&'static str> = self.tags.iter().copied().collect();
                Action::Untag(Tag::parse(pick(rng, &tags))?)
            }
            Step::UpdateProfile => profile_update(rng)?,
            Step::Assign => {
                let others: Vec<&'static str> = self
                    .tenant
                    .reps
                    .iter()
                    .copied()
                    .filter(|rep| *rep != self.owner)
                    .collect();
                let owner = pick(rng, &others);
                // Only managers and admins reassign.
                (actor, role) = if rng.gen_bool(0.1) {
                    (ADMIN, Role::Admin)
                } else {
                    (pick(rng, MANAGERS), Role::Manager)
                };
                Action::Assign {
                    owner_id: UserId::parse(owner)?,
                }
            }
            // A tag step with no tag left to add or remove becomes a follow-up.
            Step::Activity | Step::Tag | Step::Untag => activity(rng, at)?,
        };
        self.execute(action, actor, role, at, batch)
    }

    /// A move to `to`: the quote revised now and then, the odds sometimes the
    /// rep's own; the stage default and the current quote otherwise.
    fn move_stage(
        &self,
        rng: &mut StdRng,
        to: Stage,
        reason: Option<&'static str>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Action> {
        // Quotes get revised during proposal and negotiation, and the final
        // price is often not the first one.
        let revised = matches!(to, Stage::Proposal | Stage::Negotiation | Stage::ClosedWon)
            && rng.gen_bool(0.35);
        let unquoted = self.deal_value == Money::ZERO && !to.is_closed();
        let deal_value = if revised || unquoted {
            Some(if self.deal_value == Money::ZERO {
                deal_value(rng)?
            } else {
                let percent = Decimal::from(rng.gen_range(70..=130));
                // Whole hundreds, as quotes are.
                let hundreds = (self.deal_value.amount() * percent
                    / Decimal::ONE_HUNDRED
                    / Decimal::ONE_HUNDRED)
                    .round();
                let revised = (hundreds * Decimal::ONE_HUNDRED).max(Decimal::ONE_THOUSAND);
                Money::non_negative(revised)?
            })
        } else {
            None
        };
        // Reps sometimes estimate the odds themselves instead of the stage default.
        let probability = match to {
            Stage::Qualified if rng.gen_bool(0.2) => Some((10, 35)),
            Stage::Proposal if rng.gen_bool(0.2) => Some((30, 65)),
            Stage::Negotiation if rng.gen_bool(0.2) => Some((55, 90)),
            _ => None,
        };
        let probability = probability
            .map(|(low, high)| Probability::new(Decimal::new(rng.gen_range(low..=high), 2)))
            .transpose()?;
        Ok(Action::MoveStage {
            stage: to,
            deal_value,
            probability,
            reason: reason
                .map(|reason| text(TextField::REASON, reason))
                .transpose()?,
            occurred_at: Some(OccurredAt::new(at)?),
        })
    }

    fn purchase(&self, rng: &mut StdRng, at: DateTime<Utc>) -> anyhow::Result<Action> {
        let (category, low, high) = pick(rng, CATEGORIES);
        // The purchase's number makes the reference unique within the
        // customer (the aggregate would record nothing for a repeated one).
        let order_ref = rng
            .gen_bool(0.85)
            .then(|| {
                OrderRef::parse(&format!(
                    "SO{}{:04}-{}",
                    at.format("%Y%m%d"),
                    rng.gen_range(0..10_000),
                    self.purchases + 1
                ))
            })
            .transpose()?;
        Ok(Action::RecordPurchase {
            amount: Money::positive(yuan(rng, low, high))?,
            category: text(TextField::CATEGORY, category)?,
            occurred_at: Some(OccurredAt::new(at)?),
            order_ref,
        })
    }

    /// Issues `action`, planned for `at`, to the aggregate as `actor`, as the
    /// service would, and appends the event it decides with the service's
    /// metadata. Live, the command is issued at `at`; for an imported
    /// customer's history before its import, at the import (the dated facts
    /// keep `at`, bookkeeping such as tags happens at the import).
    /// A refusal, or a command that would append nothing, is a planning bug:
    /// the run fails rather than write a history the service would not have.
    fn execute(
        &mut self,
        action: Action,
        actor: &str,
        role: Role,
        at: DateTime<Utc>,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let command = action.name();
        let now = self.imported_at.map_or(at, |imported| imported.max(at));
        let occurred_at = timestamp(action.occurred_at(now));
        let decided = self.aggregate.decide_and_apply(CustomerCommand {
            actor: Actor {
                tenant_id: self.tenant.id,
                user_id: UserId::parse(actor)?,
                role,
            },
            now,
            expected_version: None,
            action,
        });
        let mut event = match decided {
            Ok(Some(event)) => event,
            Ok(None) => bail!("{command} by {actor} would append nothing"),
            Err(error) => bail!("{command} by {actor} is refused: {error}"),
        };
        self.follow(&event)?;
        event.seal_personal(&self.key, self.customer);
        let sequence = i64::try_from(self.aggregate.version())?;
        let correlation_id = format!("seed-{}-{sequence}", self.number);
        let metadata = Metadata {
            tenant_id: &self.tenant.id_text,
            actor,
            role: role.as_str(),
            command,
            correlation_id: &correlation_id,
            occurred_at: &occurred_at,
        };
        batch.push_event(&self.id, sequence, &event, &metadata)
    }

    /// Keeps what the next choices depend on up to date with a decided event.
    fn follow(&mut self, event: &CustomerEvent) -> anyhow::Result<()> {
        let rep = |owner: &UserId| {
            REPS.iter()
                .copied()
                .find(|rep| *rep == owner.as_str())
                .with_context(|| format!("an unknown owner {owner}"))
        };
        let known = |tag: &Tag| {
            TAGS.iter()
                .copied()
                .find(|known| *known == tag.as_str())
                .with_context(|| format!("an unknown tag {tag}"))
        };
        match event {
            CustomerEvent::CustomerRegistered(registered) => {
                self.owner = rep(&registered.owner_id)?;
                self.deal_value = registered.deal_value;
                self.tags = registered
                    .tags
                    .iter()
                    .map(known)
                    .collect::<Result<_, _>>()?;
            }
            CustomerEvent::CustomerProfileUpdated(update) => {
                if let Some(deal_value) = update.deal_value {
                    self.deal_value = deal_value;
                }
            }
            CustomerEvent::CustomerAssigned(assigned) => self.owner = rep(&assigned.owner_id)?,
            CustomerEvent::CustomerStageMoved(moved) => self.deal_value = moved.deal_value,
            CustomerEvent::PurchaseRecorded(_) => self.purchases += 1,
            CustomerEvent::CustomerTagged(tagged) => {
                self.tags.insert(known(&tagged.tag)?);
            }
            CustomerEvent::CustomerUntagged(untagged) => {
                self.tags.remove(untagged.tag.as_str());
            }
            CustomerEvent::ActivityLogged(_)
            | CustomerEvent::CustomerArchived(_)
            | CustomerEvent::CustomerForgotten(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// The aggregate has the last word: a step the service would refuse, or
    /// one that would append nothing, fails the run instead of being written.
    #[test]
    fn steps_the_service_would_refuse_fail_the_run() {
        let tenant = Tenant::new(Uuid::from_u128(1), 0, 1, 1);
        let master = MasterKey::from_hex(&"ab".repeat(32)).expect("master key");
        let at = DateTime::from_timestamp(1_750_000_000, 0).expect("instant");
        let mut rng = StdRng::seed_from_u64(1);
        let mut batch = Batch::default();
        let mut stream = Stream::register(&mut rng, &tenant, 0, &master, at, None, &mut batch)
            .expect("registered");
        let lost = Step::Move {
            to: Stage::ClosedLost,
            reason: None,
        };
        stream.step(&mut rng, lost, at, &mut batch).expect("lost");
        for (step, refusal) in [
            (lost, "already in closed_lost"),
            (
                Step::Move {
                    to: Stage::Qualified,
                    reason: None,
                },
                "needs a reason",
            ),
            (
                Step::Move {
                    to: Stage::Proposal,
                    reason: Some("客户主动联系"),
                },
                "reopened to lead or qualified",
            ),
        ] {
            let error = stream
                .step(&mut rng, step, at, &mut batch)
                .expect_err("refused");
            assert!(error.to_string().contains(refusal), "{error}");
        }
        assert_eq!(batch.len(), 2, "nothing refused was written");
    }
}

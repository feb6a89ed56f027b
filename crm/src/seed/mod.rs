//! `crm seed`: bulk generation of realistic, valid, hash-chained customer
//! histories for demos and benchmarks.
//!
//! Going through [`command::CommandService`] (load the stream, decide, append,
//! one round trip per command) manages a few hundred events a second; a
//! benchmark store of millions of events would take hours. Instead this module
//! plans each customer's whole history in Rust and has the service's own
//! aggregate (`command::aggregate::Customer`, folded in memory) decide every
//! event from the command a user would have issued, so the rules (stage
//! transitions, reopen reasons, positive purchases, at most 20 tags, unique
//! order references, no dates in the future, who may do what) are the
//! service's, not a copy. It then appends thousands of rows per statement
//! through the normal `events` table. The table's insert trigger therefore
//! fills `tenant_id`, `occurred_at`, `prev_hash` and `hash` exactly as it does
//! for the service, and every seeded stream verifies and replays.
//! `crm/tests/seed.rs` proves it by re-deciding seeded histories through the
//! real command service.
//!
//! Most customers' histories are issued as they happened, each command at
//! its planned instant; one in five was entered after the fact (an import, a
//! rep catching up): its registration, stage moves, activities and purchases
//! up to the moment it was entered are issued at that moment and dated when
//! they happened (`occurred_at`, under the same ordering rules as the
//! service's), its bookkeeping (tags, profile changes) happens at that
//! moment, and what follows is issued live.
//!
//! The parts: `plan` shapes a history (which steps, in which order, when);
//! `values` draws realistic values from `crate::vocabulary`; `stream` turns
//! each step into a command, has the aggregate decide it and keeps what the
//! next choices depend on; `generator` runs every customer from its own RNG
//! into batches; `writer` appends the batches.
//!
//! Personal fields (names, phones, e-mails, activity notes) are sealed as the
//! service seals them (`events::personal`): [`run`] gives every customer a
//! data key, stores it wrapped by the master key in `customer_keys` (in the
//! same statement as the customer's events) and seals the fields with it, so
//! the seeded data can be read, audited and forgotten like any other.
//!
//! Output is deterministic for a given [`SeedOptions::seed`] apart from ids
//! (tenant, customer, activity and purchase UUIDs), keys and ciphertexts, and
//! timestamps, which are laid out relative to the moment the run starts.

mod generator;
mod plan;
mod stream;
mod tenant;
mod values;
mod writer;

use std::time::{Duration, Instant};

use anyhow::ensure;
use chrono::Utc;
use indicatif::ProgressBar;
use sqlx::PgPool;
use uuid::Uuid;

use events::personal::MasterKey;

use generator::Generator;
use tenant::Tenant;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedOptions {
    /// Number of tenants.
    pub tenants: usize,
    /// Customers over all tenants.
    pub customers: usize,
    /// Customers of the first (largest) tenant; the rest are spread evenly over the others.
    pub largest_tenant: usize,
    /// Average events per customer, registration included (10 → 500k customers give ~5M events).
    pub events_per_customer: usize,
    /// RNG seed: the same seed gives the same histories apart from ids and timestamps.
    pub seed: u64,
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// Tenant ids, largest tenant first (the order of [`SeedOptions::tenant_sizes`]).
    pub tenants: Vec<Uuid>,
    pub customers: u64,
    pub events: u64,
    pub elapsed: Duration,
}

/// The most events a customer may average: beyond it a history no longer fits
/// the hour of slack kept between the last event and "now" (see `plan::plan_times`).
pub const MAX_EVENTS_PER_CUSTOMER: usize = 1_000;

impl SeedOptions {
    /// Customers per tenant, largest first, or why the options do not add up.
    pub fn tenant_sizes(&self) -> anyhow::Result<Vec<usize>> {
        ensure!(self.tenants >= 1, "there must be at least one tenant");
        ensure!(
            (1..=MAX_EVENTS_PER_CUSTOMER).contains(&self.events_per_customer),
            "events per customer must be between 1 and {MAX_EVENTS_PER_CUSTOMER} (got {})",
            self.events_per_customer
        );
        ensure!(
            self.largest_tenant <= self.customers,
            "the largest tenant ({}) cannot hold more than all {} customers",
            self.largest_tenant,
            self.customers
        );
        let others = self.tenants - 1;
        let rest = self.customers - self.largest_tenant;
        if others == 0 {
            ensure!(
                rest == 0,
                "with one tenant, the largest tenant must hold all {} customers (got {})",
                self.customers,
                self.largest_tenant
            );
            return Ok(vec![self.customers]);
        }
        let (base, remainder) = (rest / others, rest % others);
        let biggest_other = base + usize::from(remainder > 0);
        ensure!(
            self.largest_tenant >= biggest_other,
            "the largest tenant ({}) would be smaller than the others ({biggest_other}); \
             raise the largest tenant or the number of tenants",
            self.largest_tenant
        );
        let mut sizes = Vec::with_capacity(self.tenants);
        sizes.push(self.largest_tenant);
        sizes.extend((0..others).map(|index| base + usize::from(index < remainder)));
        Ok(sizes)
    }
}

/// Seeds the store as the service would have written it, personal fields
/// sealed with per-customer data keys wrapped by `master` (which must be the
/// service's master key, or it cannot open them), and reports what it wrote.
/// `progress` advances by the customers of each committed statement.
pub async fn run(
    pool: &PgPool,
    options: &SeedOptions,
    master: &MasterKey,
    progress: &ProgressBar,
) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    let sizes = options.tenant_sizes()?;
    let tenants: Vec<Tenant> = sizes
        .iter()
        .enumerate()
        .map(|(index, &customers)| Tenant::new(Uuid::new_v4(), index, customers, options.seed))
        .collect();
    let tenant_ids = tenants.iter().map(|tenant| tenant.id).collect();
    let generator = Generator::new(
        tenants,
        options.seed,
        options.events_per_customer,
        Utc::now(),
        master.clone(),
    );
    let written = writer::write(
        pool,
        move |emit: &mut dyn FnMut(writer::Batch) -> bool| generator.generate(emit),
        progress,
    )
    .await?;
    Ok(SeedReport {
        tenants: tenant_ids,
        customers: written.customers,
        events: written.events,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(tenants: usize, customers: usize, largest: usize) -> SeedOptions {
        SeedOptions {
            tenants,
            customers,
            largest_tenant: largest,
            events_per_customer: 10,
            seed: 7,
        }
    }

    #[test]
    fn customers_are_spread_evenly_after_the_largest_tenant() {
        let sizes = |o: SeedOptions| o.tenant_sizes().expect("valid options");
        assert_eq!(sizes(options(3, 300, 150)), vec![150, 75, 75]);
        assert_eq!(sizes(options(3, 301, 150)), vec![150, 76, 75]);
        assert_eq!(sizes(options(4, 10, 4)), vec![4, 2, 2, 2]);
        assert_eq!(sizes(options(1, 500, 500)), vec![500]);
        assert_eq!(sizes(options(2, 5, 5)), vec![5, 0]);
    }

    #[test]
    fn options_that_do_not_add_up_are_refused() {
        assert!(options(0, 10, 5).tenant_sizes().is_err());
        assert!(options(2, 10, 11).tenant_sizes().is_err());
        assert!(options(1, 10, 5).tenant_sizes().is_err());
        assert!(
            options(3, 100, 10).tenant_sizes().is_err(),
            "largest smaller than the others"
        );
        let mut no_events = options(2, 10, 5);
        no_events.events_per_customer = 0;
        assert!(no_events.tenant_sizes().is_err());
    }
}

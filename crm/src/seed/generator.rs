//! Generation: every tenant's customers, each from an RNG of its own, handed
//! to the writer in batches of whole customers.

use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use events::personal::MasterKey;

use super::plan::plan;
use super::stream::Stream;
use super::writer::{Batch, ROWS_PER_STATEMENT};

/// Sales reps a tenant may have: each tenant uses the first 3 to 8.
pub(super) const REPS: &[&str] = &[
    "rep-1", "rep-2", "rep-3", "rep-4", "rep-5", "rep-6", "rep-7", "rep-8",
];
pub(super) const MANAGERS: &[&str] = &["manager-1", "manager-2"];
pub(super) const ADMIN: &str = "admin";

/// A tenant and its staff.
#[derive(Debug, Clone)]
pub(super) struct Tenant {
    pub(super) id: Uuid,
    pub(super) id_text: String,
    customers: usize,
    /// The tenant's reps: a prefix of [`REPS`].
    pub(super) reps: &'static [&'static str],
}

impl Tenant {
    pub(super) fn new(id: Uuid, index: usize, customers: usize, seed: u64) -> Self {
        // A stream of its own, so the staff do not depend on the customer count.
        let mut rng = StdRng::seed_from_u64(mix(seed ^ 0x7e4a_47c0_5eed_0001, index as u64));
        let reps = &REPS[..rng.gen_range(3..=REPS.len())];
        Self {
            id,
            id_text: id.to_string(),
            customers,
            reps,
        }
    }
}

/// SplitMix64: spreads (seed, number) pairs over independent RNG seeds, so a
/// customer's history depends only on the seed and its number, never on the
/// batching or on another customer's history.
fn mix(seed: u64, number: u64) -> u64 {
    let mut z = seed
        .wrapping_add(number.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Generates every tenant's customers, deterministically for a seed.
pub(super) struct Generator {
    tenants: Vec<Tenant>,
    seed: u64,
    /// Events beyond the registration are drawn uniformly from `0..=max_extra`,
    /// so their mean is `events_per_customer - 1`.
    max_extra: usize,
    now: DateTime<Utc>,
    /// Wraps each customer's data key.
    master: MasterKey,
}

impl Generator {
    pub(super) fn new(
        tenants: Vec<Tenant>,
        seed: u64,
        events_per_customer: usize,
        now: DateTime<Utc>,
        master: MasterKey,
    ) -> Self {
        Self {
            tenants,
            seed,
            max_extra: 2 * events_per_customer.saturating_sub(1),
            now,
            master,
        }
    }

    /// Generates every customer, handing full batches to `emit`; stops early
    /// when `emit` answers false.
    pub(super) fn generate(&self, mut emit: impl FnMut(Batch) -> bool) -> anyhow::Result<()> {
        let mut batch = Batch::with_capacity(ROWS_PER_STATEMENT + self.max_extra + 1);
        let mut number: u64 = 0;
        for tenant in &self.tenants {
            for _ in 0..tenant.customers {
                let mut rng = StdRng::seed_from_u64(mix(self.seed, number));
                self.customer(&mut rng, tenant, number, &mut batch)
                    .with_context(|| format!("customer {number}"))?;
                number += 1;
                if batch.len() >= ROWS_PER_STATEMENT {
                    let full = std::mem::replace(
                        &mut batch,
                        Batch::with_capacity(ROWS_PER_STATEMENT + self.max_extra + 1),
                    );
                    if !emit(full) {
                        return Ok(());
                    }
                }
            }
        }
        if !batch.is_empty() {
            emit(batch);
        }
        Ok(())
    }

    /// One customer's whole history, as planned.
    fn customer(
        &self,
        rng: &mut StdRng,
        tenant: &Tenant,
        number: u64,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let plan = plan(rng, self.max_extra, self.now);
        let mut stream =
            Stream::register(rng, tenant, number, &self.master, plan.registered_at, batch)?;
        for (step, at) in plan.steps {
            stream.step(rng, step, at, batch)?;
        }
        batch.customers += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything but the ids (and timestamps, fixed here by `now`).
    fn generated(seed: u64) -> Vec<(i64, &'static str, serde_json::Value, String)> {
        let tenant = Tenant::new(Uuid::from_u128(1), 0, 200, seed);
        let now = DateTime::from_timestamp(1_750_000_000, 0).expect("instant");
        let master = MasterKey::from_hex(&"ab".repeat(32)).expect("master key");
        let generator = Generator::new(vec![tenant], seed, 8, now, master);
        let mut rows = Vec::new();
        generator
            .generate(|batch| {
                for index in 0..batch.len() {
                    let mut payload: serde_json::Value =
                        serde_json::from_str(&batch.payloads[index]).expect("payload");
                    for inner in payload
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|o| o.values_mut())
                    {
                        if let Some(fields) = inner.as_object_mut() {
                            fields.remove("activity_id");
                            fields.remove("purchase_id");
                            // Keys and nonces are random: compare that a field is sealed.
                            for value in fields.values_mut() {
                                if value
                                    .as_str()
                                    .is_some_and(events::personal::Sealed::is_sealed)
                                {
                                    *value = serde_json::Value::from("<sealed>");
                                }
                            }
                        }
                    }
                    rows.push((
                        batch.sequences[index],
                        batch.event_types[index],
                        payload,
                        batch.metadata[index].clone(),
                    ));
                }
                true
            })
            .expect("generate");
        rows
    }

    #[test]
    fn the_same_seed_gives_the_same_histories() {
        let first = generated(11);
        assert!(first.len() > 1_000, "{} events", first.len());
        assert_eq!(first, generated(11));
        assert_ne!(first, generated(12));
    }
}

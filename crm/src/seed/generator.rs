//! Generation: every tenant's customers, each from an RNG of its own, handed
//! to the writer in batches of whole customers.

use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use events::personal::MasterKey;

use super::plan::plan;
use super::stream::Stream;
use super::tenant::{mix, Tenant};
use super::writer::{Batch, ROWS_PER_STATEMENT};

/// The share of customers entered after the fact.
const IMPORTED: f64 = 0.2;

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
        // One customer in five was entered after the fact (an import, or a
        // rep catching up): its history until then is dated in the past.
        let imported_at = if rng.gen_bool(IMPORTED) {
            plan.steps.choose(rng).map(|(_, at)| *at)
        } else {
            None
        };
        let mut stream = Stream::register(
            rng,
            tenant,
            number,
            &self.master,
            plan.registered_at,
            imported_at,
            batch,
        )?;
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
    use uuid::Uuid;

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

//! Tenants and their staff: who registers, owns and reassigns customers.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

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
    pub(super) customers: usize,
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
pub(super) fn mix(seed: u64, number: u64) -> u64 {
    let mut z = seed
        .wrapping_add(number.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

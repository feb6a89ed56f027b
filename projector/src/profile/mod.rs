//! The customer profile of docs/design.md §5 (the seed's CustomerProfileAnalyzer
//! with its bugs fixed), computed for an explicit instant so replays are
//! deterministic. `crm_lifecycle` in schema/0003_read_models.sql is the same
//! lifecycle rule in SQL, for list filters; a test keeps them in agreement.
//!
//! Layout: [`thresholds`] (the constants), `facts` (what the formulas read),
//! `scoring` (RFM), `lifecycle` (stages and their actions) and `assemble`
//! (the whole profile).

mod assemble;
mod facts;
mod lifecycle;
mod scoring;
pub mod thresholds;

pub use assemble::{profile, profile_of, Profile};
pub use facts::{Activity, Facts, Purchase, Summary};
pub use lifecycle::{lifecycle, Lifecycle};
pub use scoring::{rfm, Rfm};

#[cfg(test)]
mod tests;

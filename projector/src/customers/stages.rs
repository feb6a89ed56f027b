//! Where each funnel stage sits: its slot in the per-stage stay totals and
//! its progress rank. Shared by the fold, the funnel totals and the query
//! side's funnel figures.

use events::values::Stage;

/// Where a stage's totals sit in `stay_micros`/`stay_counts` (0-based; SQL
/// arrays are 1-based): the order of [`Stage::ALL`].
pub fn stay_index(stage: Stage) -> usize {
    Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0)
}

/// Funnel progress rank; `closed_lost` is not progress.
pub fn rank(stage: Stage) -> Option<i16> {
    match stage {
        Stage::Lead => Some(0),
        Stage::Qualified => Some(1),
        Stage::Proposal => Some(2),
        Stage::Negotiation => Some(3),
        Stage::ClosedWon => Some(4),
        Stage::ClosedLost => None,
    }
}

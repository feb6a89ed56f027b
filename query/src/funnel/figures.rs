//! The funnel's arithmetic, apart from its SQL: per-stage counts and values,
//! conversion and cycle time from the sums per (stage, furthest rank), the
//! cards grouped by stage. Pure functions, no I/O.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use events::values::Stage;
use projector::customers::{rank, stay_index};
use projector::profile::thresholds::SECONDS_PER_DAY;

/// Microseconds in a day (the day of the profile formulas).
const DAY_MICROS: i64 = SECONDS_PER_DAY * 1_000_000;

/// Sums over the customers in `stage` whose furthest stage has rank
/// `furthest_rank`: the stage figures and the reach in one.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StageGroup {
    pub stage: String,
    pub furthest_rank: i16,
    pub customers: i64,
    pub total_value: Decimal,
    pub weighted_value: Decimal,
    /// Per stage (in [`Stage::ALL`]'s order): microseconds of completed stays.
    pub stay_micros: Vec<i64>,
    /// Per stage: completed stays.
    pub stay_counts: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CustomerCard {
    id: Uuid,
    name: String,
    company: Option<String>,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    deal_value: Decimal,
    #[schema(value_type = f64)]
    #[serde(with = "rust_decimal::serde::float")]
    probability: Decimal,
    owner_id: String,
    /// The owner's display name in the tenant's directory, if it is there.
    owner_name: Option<String>,
    last_activity_at: Option<DateTime<Utc>>,
    /// The first two tags.
    tags: Vec<String>,
    #[serde(skip)]
    stage: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelStage {
    id: Stage,
    name: &'static str,
    color: &'static str,
    count: i64,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    total_value: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    weighted_value: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    avg_deal_size: Decimal,
    /// Share of customers that reached this stage and later reached the next
    /// open stage or further; null for the closed stages.
    conversion_rate: Option<f64>,
    /// Mean days of completed stays in this stage; null when none completed.
    avg_cycle_days: Option<f64>,
    customers: Vec<CustomerCard>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelTotals {
    count: i64,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    total_value: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    weighted_value: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Funnel {
    stages: Vec<FunnelStage>,
    totals: FunnelTotals,
}

/// `numerator / denominator` to four places; `None` for no denominator.
fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator > 0).then(|| {
        let value = Decimal::from(numerator) / Decimal::from(denominator);
        value.round_dp(4).to_f64().unwrap_or(0.0)
    })
}

/// Mean days of `stays` stays lasting `micros` in all, to two places; `None`
/// for no stays.
fn mean_days(micros: i64, stays: i64) -> Option<f64> {
    (stays > 0).then(|| {
        (Decimal::from(micros) / Decimal::from(stays) / Decimal::from(DAY_MICROS))
            .round_dp(2)
            .to_f64()
            .unwrap_or(0.0)
    })
}

/// The groups added up: per stage, per furthest rank, per stay.
#[derive(Debug, Default)]
struct Tally {
    /// Stage → (customers, total value, weighted value).
    per_stage: HashMap<String, (i64, Decimal, Decimal)>,
    /// Furthest rank → customers.
    reach_at_rank: HashMap<i16, i64>,
    stay_micros: [i64; 6],
    stay_counts: [i64; 6],
}

impl Tally {
    fn of(groups: Vec<StageGroup>) -> Self {
        let mut tally = Tally::default();
        for group in groups {
            let entry =
                tally
                    .per_stage
                    .entry(group.stage)
                    .or_insert((0, Decimal::ZERO, Decimal::ZERO));
            entry.0 += group.customers;
            entry.1 += group.total_value;
            entry.2 += group.weighted_value;
            *tally.reach_at_rank.entry(group.furthest_rank).or_insert(0) += group.customers;
            for (index, value) in group.stay_micros.into_iter().enumerate().take(6) {
                tally.stay_micros[index] = tally.stay_micros[index].saturating_add(value);
            }
            for (index, value) in group.stay_counts.into_iter().enumerate().take(6) {
                tally.stay_counts[index] += value;
            }
        }
        tally
    }

    /// Customers that reached rank `rank` or further.
    fn reached(&self, rank: i16) -> i64 {
        self.reach_at_rank
            .iter()
            .filter(|(furthest, _)| **furthest >= rank)
            .map(|(_, n)| n)
            .sum()
    }

    /// Of those that reached `stage`, the share that reached the next open
    /// stage or further; `None` for the closed stages.
    fn conversion_rate(&self, stage: Stage) -> Option<f64> {
        match rank(stage) {
            Some(current) if current < 4 => ratio(self.reached(current + 1), self.reached(current)),
            _ => None,
        }
    }

    fn avg_cycle_days(&self, stage: Stage) -> Option<f64> {
        let index = stay_index(stage);
        mean_days(self.stay_micros[index], self.stay_counts[index])
    }
}

/// The funnel of `groups`, each stage with its `cards` (in their order).
pub(super) fn funnel(groups: Vec<StageGroup>, cards: Vec<CustomerCard>) -> Funnel {
    let mut tally = Tally::of(groups);
    let mut cards_by_stage: HashMap<String, Vec<CustomerCard>> = HashMap::new();
    for card in cards {
        cards_by_stage
            .entry(card.stage.clone())
            .or_default()
            .push(card);
    }
    let mut stages = Vec::new();
    let mut totals = FunnelTotals {
        count: 0,
        total_value: Decimal::ZERO,
        weighted_value: Decimal::ZERO,
    };
    for stage in Stage::ALL {
        let (count, total, weighted) =
            tally
                .per_stage
                .remove(stage.as_str())
                .unwrap_or((0, Decimal::ZERO, Decimal::ZERO));
        totals.count += count;
        totals.total_value += total;
        totals.weighted_value += weighted;
        stages.push(FunnelStage {
            id: stage,
            name: stage.display_name(),
            color: stage.colour(),
            count,
            total_value: total.round_dp(2),
            weighted_value: weighted.round_dp(2),
            avg_deal_size: if count > 0 {
                (total / Decimal::from(count)).round_dp(2)
            } else {
                Decimal::ZERO
            },
            conversion_rate: tally.conversion_rate(stage),
            avg_cycle_days: tally.avg_cycle_days(stage),
            customers: cards_by_stage.remove(stage.as_str()).unwrap_or_default(),
        });
    }
    totals.total_value = totals.total_value.round_dp(2);
    totals.weighted_value = totals.weighted_value.round_dp(2);
    Funnel { stages, totals }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(stage: Stage, furthest: Stage, customers: i64, value: i64) -> StageGroup {
        let mut stay_micros = vec![0; 6];
        let mut stay_counts = vec![0; 6];
        // Every customer of the group stayed one day in each stage before its own.
        for passed in Stage::ALL.into_iter().take_while(|passed| *passed != stage) {
            stay_micros[stay_index(passed)] = customers * DAY_MICROS;
            stay_counts[stay_index(passed)] = customers;
        }
        StageGroup {
            stage: stage.as_str().to_owned(),
            furthest_rank: rank(furthest).unwrap_or(-1),
            customers,
            total_value: Decimal::from(customers * value),
            weighted_value: Decimal::from(customers * value) / Decimal::from(2),
            stay_micros,
            stay_counts,
        }
    }

    fn card(stage: Stage, name: &str) -> CustomerCard {
        CustomerCard {
            id: Uuid::nil(),
            name: name.to_owned(),
            company: None,
            deal_value: Decimal::ZERO,
            probability: Decimal::ZERO,
            owner_id: "rep".to_owned(),
            owner_name: None,
            last_activity_at: None,
            tags: Vec::new(),
            stage: stage.as_str().to_owned(),
        }
    }

    fn stage(funnel: &Funnel, id: Stage) -> &FunnelStage {
        funnel
            .stages
            .iter()
            .find(|stage| stage.id == id)
            .expect("every stage is listed")
    }

    #[test]
    fn ratios_and_means_round_and_are_absent_without_a_denominator() {
        assert_eq!(ratio(1, 3), Some(0.3333));
        assert_eq!(ratio(2, 3), Some(0.6667));
        assert_eq!(ratio(0, 0), None);
        assert_eq!(mean_days(3 * DAY_MICROS, 2), Some(1.5));
        assert_eq!(mean_days(DAY_MICROS, 3), Some(0.33));
        assert_eq!(mean_days(0, 0), None);
    }

    #[test]
    fn an_empty_funnel_lists_every_stage_with_zeros() {
        let funnel = funnel(Vec::new(), Vec::new());
        let ids: Vec<Stage> = funnel.stages.iter().map(|stage| stage.id).collect();
        assert_eq!(ids, Stage::ALL);
        for stage in &funnel.stages {
            assert_eq!(stage.count, 0);
            assert_eq!(stage.avg_deal_size, Decimal::ZERO);
            assert_eq!(stage.conversion_rate, None);
            assert_eq!(stage.avg_cycle_days, None);
            assert!(stage.customers.is_empty());
        }
        assert_eq!(funnel.totals.count, 0);
    }

    #[test]
    fn conversion_counts_customers_that_reached_the_next_open_stage_or_further() {
        let funnel = funnel(
            vec![
                // Two leads that went no further, one lead back from proposal.
                group(Stage::Lead, Stage::Lead, 2, 100),
                group(Stage::Lead, Stage::Proposal, 1, 100),
                group(Stage::Qualified, Stage::Qualified, 1, 300),
                group(Stage::ClosedWon, Stage::ClosedWon, 1, 1_000),
                // Lost straight from lead.
                group(Stage::ClosedLost, Stage::Lead, 1, 50),
            ],
            Vec::new(),
        );
        // Reached lead or further: 6; qualified: 3; proposal: 2;
        // negotiation: 1; closed_won: 1.
        assert_eq!(stage(&funnel, Stage::Lead).conversion_rate, Some(0.5));
        assert_eq!(
            stage(&funnel, Stage::Qualified).conversion_rate,
            Some(0.6667)
        );
        assert_eq!(stage(&funnel, Stage::Proposal).conversion_rate, Some(0.5));
        assert_eq!(
            stage(&funnel, Stage::Negotiation).conversion_rate,
            Some(1.0)
        );
        assert_eq!(stage(&funnel, Stage::ClosedWon).conversion_rate, None);
        assert_eq!(stage(&funnel, Stage::ClosedLost).conversion_rate, None);
        assert_eq!(stage(&funnel, Stage::Lead).count, 3);
        assert_eq!(funnel.totals.count, 6);
    }

    #[test]
    fn values_add_up_per_stage_and_in_total_rounded_to_cents() {
        let funnel = funnel(
            vec![
                group(Stage::Lead, Stage::Lead, 2, 100),
                group(Stage::Lead, Stage::Qualified, 1, 101),
                group(Stage::Negotiation, Stage::Negotiation, 3, 7),
            ],
            Vec::new(),
        );
        let lead = stage(&funnel, Stage::Lead);
        assert_eq!(lead.total_value, Decimal::from(301));
        assert_eq!(lead.weighted_value, Decimal::new(15050, 2));
        assert_eq!(lead.avg_deal_size, Decimal::new(10033, 2));
        assert_eq!(funnel.totals.total_value, Decimal::from(322));
        assert_eq!(funnel.totals.weighted_value, Decimal::from(161));
    }

    #[test]
    fn cycle_days_are_the_mean_of_completed_stays() {
        let funnel = funnel(
            vec![
                group(Stage::Qualified, Stage::Qualified, 2, 1),
                group(Stage::Proposal, Stage::Proposal, 1, 1),
            ],
            Vec::new(),
        );
        // Three stays of a day in lead, one in qualified, none in proposal.
        assert_eq!(stage(&funnel, Stage::Lead).avg_cycle_days, Some(1.0));
        assert_eq!(stage(&funnel, Stage::Qualified).avg_cycle_days, Some(1.0));
        assert_eq!(stage(&funnel, Stage::Proposal).avg_cycle_days, None);
    }

    #[test]
    fn cards_go_to_their_stage_in_their_order() {
        let funnel = funnel(
            Vec::new(),
            vec![
                card(Stage::Proposal, "甲"),
                card(Stage::Lead, "乙"),
                card(Stage::Proposal, "丙"),
            ],
        );
        let names = |id| -> Vec<&str> {
            stage(&funnel, id)
                .customers
                .iter()
                .map(|card| card.name.as_str())
                .collect()
        };
        assert_eq!(names(Stage::Proposal), ["甲", "丙"]);
        assert_eq!(names(Stage::Lead), ["乙"]);
        assert!(names(Stage::ClosedWon).is_empty());
    }
}

//! The shape of one customer's history before any value is drawn: which
//! steps (stage moves, purchases, follow-ups) in which order, and when.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::Rng;

use events::values::Stage;

use crate::vocabulary::{pick, LOST_REASONS, REOPEN_LOST_REASONS, REOPEN_WON_REASONS};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// How far back histories reach: about two years.
const HISTORY_DAYS: i64 = 730;

/// One event after the registration, as planned; the values (which tag,
/// what amount) are drawn when it is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Move {
        to: Stage,
        reason: Option<&'static str>,
    },
    Purchase,
    Activity,
    Tag,
    Untag,
    UpdateProfile,
    Assign,
}

/// One customer's history: when it registered, then each step and its instant.
pub(super) struct Plan {
    pub(super) registered_at: DateTime<Utc>,
    pub(super) steps: Vec<(Step, DateTime<Utc>)>,
}

/// Plans a history of up to `max_extra` steps after the registration (drawn
/// uniformly): the funnel (stage moves and the purchases that follow a win)
/// interleaved at random with follow-ups (activities, tags, profile updates,
/// reassignments), laid out over time before `now`.
pub(super) fn plan(rng: &mut StdRng, max_extra: usize, now: DateTime<Utc>) -> Plan {
    let extra = rng.gen_range(0..=max_extra);
    let mut funnel = plan_funnel(rng);
    funnel.truncate(extra);
    let steps = interleave(rng, &funnel, extra - funnel.len());
    let times = plan_times(rng, now, steps.len() + 1);
    Plan {
        registered_at: times[0],
        steps: steps.into_iter().zip(times[1..].iter().copied()).collect(),
    }
}

/// The funnel of one customer, in order: 40% still open (somewhere from lead
/// to negotiation), 40% won (then 1–10 purchases; a few reopened for a new
/// project), 20% lost (some reopened with a reason, a few of those won after
/// all). One stage in four is skipped on the way up.
fn plan_funnel(rng: &mut StdRng) -> Vec<Step> {
    const OPEN: [Stage; 4] = [
        Stage::Lead,
        Stage::Qualified,
        Stage::Proposal,
        Stage::Negotiation,
    ];
    let mut steps = Vec::new();
    let roll = rng.gen_range(0..100);
    let (furthest, close) = match roll {
        0..=39 => (OPEN[rng.gen_range(0..OPEN.len())], None),
        40..=79 => (Stage::Negotiation, Some(Stage::ClosedWon)),
        _ => (OPEN[rng.gen_range(0..OPEN.len())], Some(Stage::ClosedLost)),
    };
    for stage in [Stage::Qualified, Stage::Proposal, Stage::Negotiation] {
        if stage > furthest {
            break;
        }
        // The stage an open or lost deal stopped at was reached for sure.
        let stopped_here = stage == furthest && close != Some(Stage::ClosedWon);
        if stopped_here || rng.gen_bool(0.75) {
            steps.push(Step::Move {
                to: stage,
                reason: None,
            });
        }
    }
    // One-off buyers are common, regulars fewer: 25% buy once, 40% two to
    // four times, the rest five to ten times (at most `most`).
    let purchases = |rng: &mut StdRng, steps: &mut Vec<Step>, most: usize| {
        let count = match rng.gen_range(0..100) {
            0..=24 => 1,
            25..=64 => rng.gen_range(2..=4),
            _ => rng.gen_range(5..=10),
        };
        steps.extend(std::iter::repeat_n(Step::Purchase, count.min(most)));
    };
    match close {
        Some(Stage::ClosedWon) => {
            steps.push(Step::Move {
                to: Stage::ClosedWon,
                reason: None,
            });
            purchases(rng, &mut steps, 10);
            if rng.gen_bool(0.06) {
                steps.push(Step::Move {
                    to: Stage::Qualified,
                    reason: Some(pick(rng, REOPEN_WON_REASONS)),
                });
                if rng.gen_bool(0.5) {
                    steps.push(Step::Move {
                        to: Stage::Proposal,
                        reason: None,
                    });
                }
            }
        }
        Some(_) => {
            steps.push(Step::Move {
                to: Stage::ClosedLost,
                reason: rng.gen_bool(0.8).then(|| pick(rng, LOST_REASONS)),
            });
            if rng.gen_bool(0.15) {
                let reopened = if rng.gen_bool(0.3) {
                    Stage::Lead
                } else {
                    Stage::Qualified
                };
                steps.push(Step::Move {
                    to: reopened,
                    reason: Some(pick(rng, REOPEN_LOST_REASONS)),
                });
                if rng.gen_bool(0.5) {
                    steps.push(Step::Move {
                        to: Stage::Proposal,
                        reason: None,
                    });
                    if rng.gen_bool(0.5) {
                        steps.push(Step::Move {
                            to: Stage::ClosedWon,
                            reason: None,
                        });
                        purchases(rng, &mut steps, 3);
                    }
                }
            }
        }
        None => {}
    }
    steps
}

/// Merges the funnel with `others` follow-ups, uniformly at random, keeping
/// the funnel's order.
fn interleave(rng: &mut StdRng, funnel: &[Step], others: usize) -> Vec<Step> {
    let mut steps = Vec::with_capacity(funnel.len() + others);
    let mut next = funnel.iter().copied();
    let (mut funnel_left, mut others_left) = (funnel.len(), others);
    while funnel_left + others_left > 0 {
        if rng.gen_range(0..funnel_left + others_left) < funnel_left {
            funnel_left -= 1;
            steps.extend(next.next());
        } else {
            others_left -= 1;
            steps.push(match rng.gen_range(0..100) {
                0..=77 => Step::Activity,
                78..=85 => Step::Tag,
                86..=87 => Step::Untag,
                88..=94 => Step::UpdateProfile,
                _ => Step::Assign,
            });
        }
    }
    steps
}

/// `count` increasing instants in the past, the first being the registration.
///
/// Each customer goes quiet some time before now (the gap) after being
/// followed for a while (the span), so recency varies the way RFM lifecycles
/// need: recent buyers (new, active, loyal), buyers gone quiet for months
/// (at risk) or longer (lost), prospects with and without recent contact.
/// Instants fall in Beijing office hours (09:00–19:00, UTC+8).
fn plan_times(rng: &mut StdRng, now: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
    let gap_days = match rng.gen_range(0..100) {
        0..=44 => 0..30,
        45..=64 => 30..120,
        65..=79 => 120..200,
        _ => 200..600,
    };
    // At least two hours: office_hours() moves an instant up to an hour later,
    // and each later event may be nudged a second further (at most
    // 2 × MAX_EVENTS_PER_CUSTOMER of them).
    let gap = 2 * MICROS_PER_HOUR
        + rng.gen_range(gap_days) * MICROS_PER_DAY
        + rng.gen_range(0..MICROS_PER_DAY);
    // Followed at a customer-specific pace (an event every 2 to 45 days),
    // within the two years.
    let span = if count > 1 {
        let longest = (HISTORY_DAYS * MICROS_PER_DAY - gap).max(MICROS_PER_DAY);
        let pace = rng.gen_range(2 * MICROS_PER_DAY..=45 * MICROS_PER_DAY);
        (pace * (count as i64 - 1)).clamp(MICROS_PER_DAY, longest)
    } else {
        0
    };
    let now_micros = now.timestamp_micros();
    let first = now_micros - gap - span;
    // The last event closes the span: the gap is the customer's real silence.
    let mut offsets: Vec<i64> = (2..count).map(|_| rng.gen_range(1..span)).collect();
    offsets.sort_unstable();
    if count > 1 {
        offsets.push(span);
    }
    let mut previous = i64::MIN;
    std::iter::once(0)
        .chain(offsets)
        .map(|offset| {
            // Strictly increasing, never later than now.
            let at = office_hours(first + offset)
                .max(previous.saturating_add(MICROS_PER_SECOND))
                .min(now_micros);
            previous = at;
            DateTime::from_timestamp_micros(at).unwrap_or(now)
        })
        .collect()
}

/// Squeezes a day's 24 hours into 09:00–19:00 Beijing time (01:00–11:00 UTC).
/// Monotonic, so sorted instants stay sorted; moves an instant at most an hour later.
fn office_hours(micros: i64) -> i64 {
    let day = micros.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
    let into_day = micros.rem_euclid(MICROS_PER_DAY);
    day + MICROS_PER_HOUR + into_day * 10 / 24
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_hours_keep_order_and_stay_within_an_hour() {
        let mut previous = i64::MIN;
        for micros in (0..3 * MICROS_PER_DAY).step_by(7_654_321) {
            let mapped = office_hours(micros);
            assert!(mapped >= previous);
            assert!(mapped - micros <= MICROS_PER_HOUR);
            let hour = mapped.rem_euclid(MICROS_PER_DAY) / MICROS_PER_HOUR;
            assert!((1..11).contains(&hour), "{hour} UTC");
            previous = mapped;
        }
    }
}

//! The demo's year of history: what happened to each customer, and when,
//! before any value (name, amount, subject) is drawn.
//!
//! Twelve kinds of story, each told three times (once per rep), planned
//! backwards from the story's last stage move (its anchor, some days ago),
//! so every customer is registered within the last year, moves stage days to
//! weeks apart (each stage with its own typical stay), is contacted and buys
//! only after its registration, and ends up in a known lifecycle as of the
//! moment the demo is created: fresh and open deals (prospects), a first
//! purchase (new), regular buyers (active, loyal), buyers gone quiet for
//! months (at risk, lost), deals lost with a reason, and a lost and a won
//! deal reopened (so every stage has completed stays).

use std::ops::RangeInclusive;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use rand::rngs::StdRng;
use rand::Rng;

use events::values::Stage;

use crate::vocabulary::{
    pick, DEMO_WON_REASONS, LOST_REASONS, REOPEN_LOST_REASONS, REOPEN_WON_REASONS,
};

/// The kinds of story, in the order the customers are given them.
pub(super) const KINDS: usize = 12;

/// How many days a deal typically stays in a stage before it moves on.
fn stay_days(stage: Stage) -> RangeInclusive<i64> {
    match stage {
        Stage::Lead => 3..=10,
        Stage::Qualified => 7..=21,
        Stage::Proposal => 10..=28,
        Stage::Negotiation => 5..=15,
        // Reopened deals: a lost deal comes back after one to two and a
        // half months, a won customer with a new project months later.
        Stage::ClosedLost => 30..=75,
        Stage::ClosedWon => 150..=220,
    }
}

/// One thing that happens to a customer after its registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Move {
        to: Stage,
        reason: Option<&'static str>,
    },
    Activity,
    Purchase,
}

/// A customer's story: when it was registered, then its steps in the order
/// they happened.
#[derive(Debug, Clone)]
pub(super) struct Story {
    pub(super) registered_at: DateTime<Utc>,
    pub(super) steps: Vec<(DateTime<Utc>, Step)>,
}

/// Days before now, as planned (a whole day; the hour is drawn at the end).
type DaysAgo = i64;

/// The plan of one story in days before now.
struct Plan {
    registered: DaysAgo,
    steps: Vec<(DaysAgo, Step)>,
}

/// How a kind of story goes.
struct Kind {
    /// The stage moves after the registration.
    path: &'static [Stage],
    /// Days before now of the last move (of the registration for none).
    anchor: RangeInclusive<i64>,
    /// Purchases after the win: how many, and how recent the last one is
    /// (days before now), or how long after the win it came.
    purchases: Purchases,
    /// Whether the customer is still being followed (a contact in the last
    /// two weeks), or went quiet after its last recorded fact.
    followed: bool,
}

enum Purchases {
    None,
    /// `count` purchases from a week after the win to `last` days ago.
    UntilRecently {
        count: usize,
        last: RangeInclusive<i64>,
    },
    /// `count` purchases right after the win, about a month apart.
    AfterWin {
        count: usize,
    },
}

use Stage::{ClosedLost as L, ClosedWon as W, Negotiation as N, Proposal as P, Qualified as Q};

const WON: &[Stage] = &[Q, P, N, W];

fn kind(index: usize) -> Kind {
    let (path, anchor, purchases, followed): (&'static [Stage], _, _, _) = match index % KINDS {
        // A lead met in the last three weeks.
        0 => (&[], 2..=20, Purchases::None, true),
        1 => (&[Q], 3..=25, Purchases::None, true),
        2 => (&[Q, P], 5..=30, Purchases::None, true),
        3 => (&[Q, P, N], 3..=20, Purchases::None, true),
        // Won a month ago, a first order soon after (new).
        4 => (WON, 20..=45, Purchases::AfterWin { count: 1 }, true),
        // Won long ago, orders every few weeks, now expanding (loyal): the
        // won deal is reopened for the new project.
        5 => (
            &[Q, P, N, W, Q],
            15..=45,
            Purchases::UntilRecently {
                count: 7,
                last: 3..=20,
            },
            true,
        ),
        // Won half a year ago, four orders since (active).
        6 => (
            WON,
            150..=190,
            Purchases::UntilRecently {
                count: 4,
                last: 8..=40,
            },
            true,
        ),
        // Three orders after the win, then only a call months ago (at risk).
        7 => (WON, 190..=215, Purchases::AfterWin { count: 3 }, false),
        // Two orders after a win most of a year ago, then silence (lost).
        8 => (WON, 265..=285, Purchases::AfterWin { count: 2 }, false),
        // Lost at the proposal, with a reason.
        9 => (&[Q, P, L], 30..=120, Purchases::None, false),
        // A lead that went cold more than half a year ago (lost).
        10 => (&[Q], 200..=300, Purchases::None, false),
        // Lost in negotiation, reopened with a reason, a new proposal.
        _ => (&[Q, P, N, L, Q, P], 4..=25, Purchases::None, true),
    };
    Kind {
        path,
        anchor,
        purchases,
        followed,
    }
}

/// The oldest registration the demo plans: within the last year.
const OLDEST: DaysAgo = 360;

/// The story of the `index`th customer, as of `now`.
pub(super) fn story(rng: &mut StdRng, index: usize, now: DateTime<Utc>) -> Story {
    let plan = plan(rng, &kind(index));
    dated(rng, plan, now)
}

fn plan(rng: &mut StdRng, kind: &Kind) -> Plan {
    // Backwards from the anchor: each move comes a stay after the one
    // before; the move to `path[i]` leaves `left(i)`.
    let left = |i: usize| {
        i.checked_sub(1)
            .and_then(|before| kind.path.get(before).copied())
            .unwrap_or(Stage::Lead)
    };
    let anchor = rng.gen_range(kind.anchor.clone());
    let mut moved: Vec<DaysAgo> = vec![0; kind.path.len()];
    let mut day = anchor;
    for i in (0..kind.path.len()).rev() {
        moved[i] = day;
        day += rng.gen_range(stay_days(left(i)));
    }
    // With no move, the anchor is the registration itself.
    let registered = if kind.path.is_empty() { anchor } else { day };
    // Keep the story within the year (the stays are long for some kinds).
    let shift = (registered - OLDEST).max(0);
    let registered = registered - shift;
    let moved: Vec<DaysAgo> = moved.iter().map(|day| day - shift).collect();

    let mut steps = Vec::new();
    let mut entered = registered;
    let mut won_at = None;
    for (i, (to, day)) in kind.path.iter().zip(&moved).enumerate() {
        // One contact during each stay: a call, a visit, a meeting.
        steps.push((between(rng, entered, *day), Step::Activity));
        let reason = match (left(i), *to) {
            (L, _) => Some(pick(rng, REOPEN_LOST_REASONS)),
            (W, _) => Some(pick(rng, REOPEN_WON_REASONS)),
            (_, L) => Some(pick(rng, LOST_REASONS)),
            (_, W) => Some(pick(rng, DEMO_WON_REASONS)),
            _ => None,
        };
        if *to == W {
            won_at = Some(*day);
        }
        steps.push((*day, Step::Move { to: *to, reason }));
        entered = *day;
    }
    if let Some(won) = won_at {
        match kind.purchases {
            Purchases::None => {}
            Purchases::UntilRecently { count, ref last } => {
                let first = won - 7;
                let last = rng.gen_range(last.clone()).min(first);
                spread(rng, &mut steps, first, last, count, Step::Purchase);
            }
            Purchases::AfterWin { count } => {
                for order in 0..count {
                    let day = won - 4 - 28 * order as i64 - rng.gen_range(0..=6);
                    steps.push((day.max(1), Step::Purchase));
                }
            }
        }
    }
    if kind.followed {
        // The rep keeps in touch: a contact in the current stay, the last
        // within two weeks.
        let recent = rng.gen_range(1..=14).min(entered - 1).max(1);
        if entered > 1 {
            steps.push((recent, Step::Activity));
        }
    } else if matches!(kind.purchases, Purchases::AfterWin { count: 3 }) {
        // The at-risk buyer: one call, three to four months ago.
        steps.push((rng.gen_range(100..=130), Step::Activity));
    }
    steps.sort_by_key(|(day, _)| std::cmp::Reverse(*day));
    Plan { registered, steps }
}

/// A day strictly between two planned days (`from` is the older one), or
/// the day after `from` when they are adjacent.
fn between(rng: &mut StdRng, from: DaysAgo, to: DaysAgo) -> DaysAgo {
    if from - to >= 2 {
        rng.gen_range(to + 1..from)
    } else {
        from
    }
}

/// `count` days from `first` to `last` (days ago, `first` the older), about
/// evenly apart.
fn spread(
    rng: &mut StdRng,
    steps: &mut Vec<(DaysAgo, Step)>,
    first: DaysAgo,
    last: DaysAgo,
    count: usize,
    step: Step,
) {
    let span = first - last;
    let gaps = (count.max(2) - 1) as i64;
    for order in 0..count as i64 {
        let jitter = if span / gaps > 6 {
            rng.gen_range(-2..=2)
        } else {
            0
        };
        let day = first - span * order / gaps + jitter;
        steps.push((day.clamp(last, first).max(1), step));
    }
}

/// Instants for the planned days: each in Beijing office hours (09:00–18:00,
/// 01:00–10:00 UTC), strictly increasing, the registration first, none later
/// than now.
fn dated(rng: &mut StdRng, plan: Plan, now: DateTime<Utc>) -> Story {
    let mut at = |day: DaysAgo| {
        let date = (now - Duration::days(day)).date_naive();
        let minutes = rng.gen_range(0..9 * 60);
        let opening = NaiveTime::from_hms_opt(1, 0, 0).unwrap_or_default();
        date.and_time(opening).and_utc() + Duration::minutes(minutes)
    };
    let registered_at = at(plan.registered);
    let mut previous = registered_at;
    let mut steps = Vec::with_capacity(plan.steps.len());
    for (day, step) in plan.steps {
        let instant = at(day)
            .max(previous + Duration::minutes(30))
            .min(now - Duration::minutes(5));
        previous = instant;
        steps.push((instant, step));
    }
    Story {
        registered_at,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn every_story_happens_in_order_within_the_last_year() {
        let now = DateTime::from_timestamp(1_780_000_000, 0).expect("instant");
        let mut rng = StdRng::seed_from_u64(3);
        for index in 0..KINDS * 20 {
            let story = story(&mut rng, index, now);
            assert!(story.registered_at >= now - Duration::days(OLDEST + 1));
            let mut previous = story.registered_at;
            for (at, _) in &story.steps {
                assert!(*at > previous, "kind {}: {:?}", index % KINDS, story);
                assert!(*at <= now);
                previous = *at;
            }
            let moves = story
                .steps
                .iter()
                .filter(|(_, step)| matches!(step, Step::Move { .. }))
                .count();
            assert_eq!(moves, kind(index).path.len());
        }
    }
}

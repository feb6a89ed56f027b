//! One client of `loadgen run`: its loop over the customers it owns (one
//! request in flight at a time) and what it measured.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{micros, truncate, CommandKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use crate::target::{Outcome, Target};

/// Two open stages the customers alternate between (a fresh customer is a lead).
const STAGE_A: &str = "qualified";
const STAGE_B: &str = "proposal";

/// What one client measured.
#[derive(Default)]
pub struct ClientStats {
    /// Latency in microseconds of every measured request, by command.
    pub latencies: BTreeMap<CommandKind, Vec<u64>>,
    /// Measured answers by (command, status).
    pub statuses: BTreeMap<(CommandKind, u16), u64>,
    /// Measured requests that got no answer.
    pub failures: BTreeMap<CommandKind, u64>,
    /// Requests, answered or not, completing outside the measured window (warmup, tail).
    pub unmeasured_requests: u64,
    /// A few examples of what went wrong (any phase).
    pub samples: Vec<String>,
}

const SAMPLES_PER_CLIENT: usize = 3;

/// One client: one request in flight at a time, until the window closes.
pub async fn drive(
    target: Arc<Target>,
    mut owned: Vec<(Uuid, &'static str)>,
    seed: u64,
    answered: Arc<AtomicU64>,
    (measure_from, measure_until): (Instant, Instant),
) -> ClientStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = ClientStats::default();
    for kind in [CommandKind::MoveStage, CommandKind::LogActivity] {
        stats.latencies.insert(kind, Vec::with_capacity(4096));
    }
    let mut activity = 0u64;
    while Instant::now() < measure_until {
        let slot = rng.gen_range(0..owned.len());
        let (id, stage) = owned[slot];
        let kind = if rng.gen_bool(0.5) {
            CommandKind::MoveStage
        } else {
            CommandKind::LogActivity
        };
        let (method, path, body, next_stage) = match kind {
            CommandKind::MoveStage => {
                let to = if stage == STAGE_A { STAGE_B } else { STAGE_A };
                (
                    reqwest::Method::PUT,
                    format!("/v1/customers/{id}/stage"),
                    json!({ "stage": to }),
                    Some(to),
                )
            }
            CommandKind::LogActivity => {
                activity += 1;
                (
                    reqwest::Method::POST,
                    format!("/v1/customers/{id}/activities"),
                    json!({
                        "type": "call",
                        "subject": "Follow-up call",
                        "notes": format!("benchmark activity {activity}"),
                    }),
                    None,
                )
            }
        };
        let sent = Instant::now();
        let (outcome, answer) = target.send(method, &path, &body).await;
        let done = Instant::now();
        if let (Outcome::Status(200..=299), Some(to)) = (&outcome, next_stage) {
            owned[slot].1 = to;
        }
        let measured = done >= measure_from && done <= measure_until;
        if !measured {
            stats.unmeasured_requests += 1;
        }
        match outcome {
            Outcome::Status(status) => {
                answered.fetch_add(1, Ordering::Relaxed);
                if measured {
                    stats
                        .latencies
                        .entry(kind)
                        .or_default()
                        .push(micros(done.duration_since(sent)));
                    *stats.statuses.entry((kind, status)).or_default() += 1;
                }
                if !(200..300).contains(&status) && stats.samples.len() < SAMPLES_PER_CLIENT {
                    stats.samples.push(format!(
                        "{} {id}: HTTP {status}: {}",
                        kind.name(),
                        truncate(&answer, 300)
                    ));
                }
            }
            Outcome::Failed(error) => {
                if measured {
                    *stats.failures.entry(kind).or_default() += 1;
                }
                if stats.samples.len() < SAMPLES_PER_CLIENT {
                    stats.samples.push(format!("{} {id}: {error}", kind.name()));
                }
                // Do not spin on a dead server.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    stats
}

//! One client of the load: its loop (one request in flight at a time) and
//! what it measured, added up over the clients.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{micros, truncate};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::target::{Outcome, Served, Target};

#[derive(Default)]
pub struct ClientStats {
    /// Latency (µs) of every measured request that got an answer.
    pub latencies: Vec<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub failures: u64,
    pub unmeasured: u64,
    pub body_bytes: u64,
    pub cache_hits: u64,
    pub record_hits: u64,
    pub samples: Vec<String>,
}

impl ClientStats {
    pub fn merge(&mut self, other: ClientStats) {
        let ClientStats {
            mut latencies,
            statuses,
            failures,
            unmeasured,
            body_bytes,
            cache_hits,
            record_hits,
            samples,
        } = other;
        self.latencies.append(&mut latencies);
        for (status, count) in statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.failures += failures;
        self.unmeasured += unmeasured;
        self.body_bytes += body_bytes;
        self.cache_hits += cache_hits;
        self.record_hits += record_hits;
        if self.samples.len() < 10 {
            self.samples.extend(samples);
        }
    }
}

const SAMPLES_PER_CLIENT: usize = 3;

pub async fn drive(
    target: Arc<Target>,
    seed: u64,
    answered: Arc<AtomicU64>,
    (measure_from, measure_until): (Instant, Instant),
) -> ClientStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = ClientStats {
        latencies: Vec::with_capacity(16_384),
        ..ClientStats::default()
    };
    while Instant::now() < measure_until {
        let sent = Instant::now();
        let (outcome, body) = target.send(&mut rng).await;
        let done = Instant::now();
        let measured = done >= measure_from && done <= measure_until;
        if !measured {
            stats.unmeasured += 1;
        }
        match outcome {
            Outcome::Status(status, bytes, cached) => {
                answered.fetch_add(1, Ordering::Relaxed);
                if measured {
                    stats.latencies.push(micros(done.duration_since(sent)));
                    *stats.statuses.entry(status).or_default() += 1;
                    stats.body_bytes += bytes as u64;
                    stats.cache_hits += u64::from(cached == Served::KeptAnswer);
                    stats.record_hits += u64::from(cached == Served::KeptRecord);
                }
                if !(200..300).contains(&status) && stats.samples.len() < SAMPLES_PER_CLIENT {
                    stats
                        .samples
                        .push(format!("HTTP {status}: {}", truncate(&body, 300)));
                }
            }
            Outcome::Failed(error) => {
                if measured {
                    stats.failures += 1;
                }
                if stats.samples.len() < SAMPLES_PER_CLIENT {
                    stats.samples.push(error);
                }
                // Do not spin on a dead server.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    stats
}

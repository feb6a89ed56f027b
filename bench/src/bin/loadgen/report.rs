//! The result of `loadgen run`: throughput, statuses and latencies by
//! command, printed for people and as one JSON line.

use std::collections::BTreeMap;

use bench::Latency;
use serde::Serialize;

use crate::cli::Cli;
use crate::client::ClientStats;

#[derive(Serialize)]
pub struct Report {
    clients: usize,
    customers: usize,
    warmup_s: f64,
    duration_s: f64,
    /// Measured requests answered 2xx, per second of the measured window.
    commands_per_s: f64,
    /// Measured requests (any answer or none).
    requests: u64,
    ok: u64,
    non_2xx: u64,
    /// Requests that got no HTTP answer.
    failed: u64,
    unmeasured_requests: u64,
    /// Latency of every measured request that got an answer.
    latency: Latency,
    by_command: BTreeMap<&'static str, Latency>,
    /// Measured answers by "command status".
    statuses: BTreeMap<String, u64>,
    errors_sample: Vec<String>,
}

impl Report {
    pub fn new(cli: &Cli, total: &mut ClientStats) -> Report {
        let mut all = Vec::new();
        let mut by_command = BTreeMap::new();
        for (kind, latencies) in total.latencies.iter_mut() {
            // `Latency::of` sorts them in place.
            by_command.insert(kind.name(), Latency::of(latencies));
            all.extend_from_slice(latencies);
        }
        let ok: u64 = total
            .statuses
            .iter()
            .filter(|((_, status), _)| (200..300).contains(status))
            .map(|(_, count)| count)
            .sum();
        let answered: u64 = total.statuses.values().sum();
        let failed: u64 = total.failures.values().sum();
        let duration_s = cli.duration.as_secs_f64();
        Report {
            clients: cli.clients,
            customers: cli.customers,
            warmup_s: cli.warmup.as_secs_f64(),
            duration_s,
            commands_per_s: if duration_s > 0.0 {
                ok as f64 / duration_s
            } else {
                0.0
            },
            requests: answered + failed,
            ok,
            non_2xx: answered - ok,
            failed,
            unmeasured_requests: total.unmeasured_requests,
            latency: Latency::of(&mut all),
            by_command,
            statuses: total
                .statuses
                .iter()
                .map(|((kind, status), count)| (format!("{} {status}", kind.name()), *count))
                .collect(),
            errors_sample: total.samples.clone(),
        }
    }

    pub fn print_human(&self) {
        println!(
            "run: {} clients over {} customers, {:.0} s warmup + {:.0} s measured",
            self.clients, self.customers, self.warmup_s, self.duration_s
        );
        println!(
            "  commands/s (2xx): {:.1}   requests: {}   2xx: {}   non-2xx: {}   no answer: {}",
            self.commands_per_s, self.requests, self.ok, self.non_2xx, self.failed
        );
        let line = |name: &str, l: &Latency| {
            println!(
                "  {name:<13} n={:<7} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  mean {:>8.2} ms",
                l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.mean_ms
            );
        };
        line("all", &self.latency);
        for (name, latency) in &self.by_command {
            line(name, latency);
        }
        let statuses = self
            .statuses
            .iter()
            .map(|(key, count)| format!("{key}: {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!("  statuses: {statuses}");
        for sample in &self.errors_sample {
            println!("  error: {sample}");
        }
    }
}

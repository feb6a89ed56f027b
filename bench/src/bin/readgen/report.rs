//! The result of a `readgen` run: throughput, statuses, latency, how much
//! the read cache served, and the sampled process, printed for people and as
//! one JSON line.

use std::collections::BTreeMap;

use bench::{Latency, ProcSummary};
use serde::Serialize;

use crate::cli::{Cli, Route};
use crate::client::ClientStats;

#[derive(Serialize)]
pub struct Report {
    label: String,
    route: &'static str,
    path: String,
    clients: usize,
    warmup_s: f64,
    duration_s: f64,
    /// Measured 2xx answers per second of the measured window.
    requests_per_s: f64,
    /// Measured requests (any answer or none).
    requests: u64,
    ok: u64,
    non_2xx: u64,
    /// Requests that got no HTTP answer.
    failed: u64,
    unmeasured_requests: u64,
    mean_body_bytes: f64,
    /// Share of answers the service served from its read cache (`X-Cache: hit`).
    cache_hit_ratio: f64,
    /// Share of answers computed from a kept customer record (`X-Cache: record`).
    record_hit_ratio: f64,
    latency: Latency,
    statuses: BTreeMap<String, u64>,
    first_answer: String,
    /// The sampled process (the service) during the measured window.
    process: Option<ProcSummary>,
    errors_sample: Vec<String>,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole > 0 {
        part as f64 / whole as f64
    } else {
        0.0
    }
}

impl Report {
    pub fn new(
        cli: &Cli,
        mut total: ClientStats,
        process: Option<ProcSummary>,
        first_answer: String,
    ) -> Report {
        let ok: u64 = total
            .statuses
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, count)| count)
            .sum();
        let answered: u64 = total.statuses.values().sum();
        let duration_s = cli.duration.as_secs_f64();
        let path = match cli.route {
            Route::List => "/v1/customers?limit=20".to_owned(),
            Route::Search => format!("/v1/customers?q={}", cli.q.as_deref().unwrap_or("")),
            Route::Detail => "/v1/customers/{id}".to_owned(),
            Route::Funnel => "/v1/funnel".to_owned(),
        };
        Report {
            label: cli
                .label
                .clone()
                .unwrap_or_else(|| cli.route.name().to_owned()),
            route: cli.route.name(),
            path,
            clients: cli.clients,
            warmup_s: cli.warmup.as_secs_f64(),
            duration_s,
            requests_per_s: if duration_s > 0.0 {
                ok as f64 / duration_s
            } else {
                0.0
            },
            requests: answered + total.failures,
            ok,
            non_2xx: answered - ok,
            failed: total.failures,
            unmeasured_requests: total.unmeasured,
            mean_body_bytes: if answered > 0 {
                total.body_bytes as f64 / answered as f64
            } else {
                0.0
            },
            cache_hit_ratio: share(total.cache_hits, answered),
            record_hit_ratio: share(total.record_hits, answered),
            latency: Latency::of(&mut total.latencies),
            statuses: total
                .statuses
                .iter()
                .map(|(status, count)| (status.to_string(), *count))
                .collect(),
            first_answer,
            process,
            errors_sample: total.samples,
        }
    }

    pub fn print_human(&self) {
        println!(
            "{}: {} with {} clients, {:.0} s warmup + {:.0} s measured",
            self.label, self.path, self.clients, self.warmup_s, self.duration_s
        );
        println!(
            "  requests/s (2xx): {:.1}   requests: {}   2xx: {}   non-2xx: {}   no answer: {}",
            self.requests_per_s, self.requests, self.ok, self.non_2xx, self.failed
        );
        println!("  latency {}", self.latency.line());
        println!(
            "  served from the read cache: {:.1} % kept answers, {:.1} % from kept records",
            self.cache_hit_ratio * 100.0,
            self.record_hit_ratio * 100.0
        );
        println!("  first answer: {}", self.first_answer);
        if let Some(process) = &self.process {
            println!("  {}", process.line());
        }
        for sample in &self.errors_sample {
            println!("  error: {sample}");
        }
    }
}

//! `readgen`: the read-route load generator behind `scripts/bench-read` and
//! BENCHMARKS.md "Read side".
//!
//! `--clients` concurrent clients, each with one request in flight, send GET
//! requests to one route for `--warmup` (not measured) and then `--duration`
//! (measured: the requests that *complete* inside that window):
//!
//! - `list`:   `GET /v1/customers?limit=20`
//! - `search`: `GET /v1/customers?q=<--q>` (the service's default page, 20)
//! - `detail`: `GET /v1/customers/{id}`, `id` drawn uniformly from `--ids`
//! - `funnel`: `GET /v1/funnel`
//!
//! It prints a human report and then one JSON line (also written to
//! `--json-out`). With `--pid` it samples that process's VmRSS every 250 ms
//! during the measured window and reports its peak and its CPU time.
//!
//! Network failures and non-2xx answers are counted, never fatal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bench::{
    describe, http_client, micros, parse_duration, print_json_line, report_progress, truncate,
    Latency, ProcSampler, ProcSummary,
};
use clap::{Parser, ValueEnum};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::task::JoinSet;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Route {
    List,
    Search,
    Detail,
    Funnel,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::List => "list",
            Route::Search => "search",
            Route::Detail => "detail",
            Route::Funnel => "funnel",
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "readgen",
    about = "HTTP load generator for the CRM read routes"
)]
struct Cli {
    /// Base URL of the service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Bearer token (a manager sees the whole tenant).
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The route to load.
    #[arg(long, value_enum)]
    route: Route,
    /// Search text for `search` (sent URL-encoded as `q`).
    #[arg(long)]
    q: Option<String>,
    /// Customer ids for `detail`, one per line.
    #[arg(long)]
    ids: Option<PathBuf>,
    /// Name of the run in the report (default: the route's name).
    #[arg(long)]
    label: Option<String>,
    /// Concurrent clients (each has one request in flight at a time).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Unmeasured time at the start (e.g. 5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    warmup: Duration,
    /// Measured time after the warmup.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Seed of the id choice (each client adds its number).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Process to sample (VmRSS, VmHWM, CPU time) during the measured window.
    #[arg(long)]
    pid: Option<u32>,
    /// Also write the JSON result line to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Print answers per second to stderr every so often (0s: never).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    progress: Duration,
}

struct Target {
    http: reqwest::Client,
    base: String,
    auth: String,
    route: Route,
    q: String,
    ids: Vec<Uuid>,
}

enum Outcome {
    /// Status, body bytes, and where the service's answer came from.
    Status(u16, usize, Served),
    Failed(String),
}

/// `X-Cache`: a kept answer (`hit`), an answer computed from a kept customer
/// record (`record`), or the database (`miss` or no header).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Served {
    Database,
    KeptAnswer,
    KeptRecord,
}

impl Target {
    /// The route, its inputs and the HTTP client, as the command line asks.
    fn new(cli: &Cli) -> anyhow::Result<Target> {
        let token = cli
            .token
            .clone()
            .context("--token (or BENCH_TOKEN) is required")?;
        let ids = match (cli.route, &cli.ids) {
            (Route::Detail, Some(path)) => {
                let ids = read_ids(path)?;
                if ids.is_empty() {
                    bail!("{} holds no ids", path.display());
                }
                ids
            }
            (Route::Detail, None) => bail!("--route detail needs --ids"),
            _ => Vec::new(),
        };
        let q = match (cli.route, &cli.q) {
            (Route::Search, Some(q)) if !q.trim().is_empty() => q.clone(),
            (Route::Search, _) => bail!("--route search needs --q"),
            _ => String::new(),
        };
        Ok(Target {
            http: http_client(cli.timeout, cli.clients)?,
            base: cli.url.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {token}"),
            route: cli.route,
            q,
            ids,
        })
    }

    fn request(&self, rng: &mut StdRng) -> reqwest::RequestBuilder {
        let builder = match self.route {
            Route::List => self
                .http
                .get(format!("{}/v1/customers", self.base))
                .query(&[("limit", "20")]),
            Route::Search => self
                .http
                .get(format!("{}/v1/customers", self.base))
                .query(&[("q", self.q.as_str())]),
            Route::Detail => {
                let id = self.ids[rng.gen_range(0..self.ids.len())];
                self.http.get(format!("{}/v1/customers/{id}", self.base))
            }
            Route::Funnel => self.http.get(format!("{}/v1/funnel", self.base)),
        };
        builder.header(reqwest::header::AUTHORIZATION, &self.auth)
    }

    async fn send(&self, rng: &mut StdRng) -> (Outcome, String) {
        match self.request(rng).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let cached = match response.headers().get("x-cache").map(|v| v.as_bytes()) {
                    Some(b"hit") => Served::KeptAnswer,
                    Some(b"record") => Served::KeptRecord,
                    _ => Served::Database,
                };
                match response.text().await {
                    Ok(text) => (Outcome::Status(status, text.len(), cached), text),
                    Err(error) => (
                        Outcome::Failed(format!("reading the body: {error}")),
                        String::new(),
                    ),
                }
            }
            Err(error) => (Outcome::Failed(describe(&error)), String::new()),
        }
    }
}

fn read_ids(path: &Path) -> anyhow::Result<Vec<Uuid>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the ids from {}", path.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| Uuid::parse_str(line).with_context(|| format!("bad id `{line}`")))
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let target = Arc::new(Target::new(&cli)?);
    let first_answer = first_answer(&cli, &target).await?;
    eprintln!("readgen: first answer: {first_answer}");
    let (total, process) = load(&cli, target).await?;
    let report = Report::new(&cli, total, process, first_answer);
    report.print_human();
    print_json_line(&report, cli.json_out.as_deref())
}

/// One request first: fail fast (and say why) when the route does not work.
async fn first_answer(cli: &Cli, target: &Target) -> anyhow::Result<String> {
    let mut probe_rng = StdRng::seed_from_u64(cli.seed);
    let (outcome, body) = target.send(&mut probe_rng).await;
    match outcome {
        Outcome::Status(200, _, _) => Ok(describe_answer(cli.route, &body)),
        Outcome::Status(status, _, _) => {
            bail!(
                "the first request answered HTTP {status}: {}",
                truncate(&body, 400)
            )
        }
        Outcome::Failed(error) => bail!("the first request failed: {error}"),
    }
}

/// The clients over the warmup and the measured window, and what the sampled
/// process (`--pid`) did in that window.
async fn load(
    cli: &Cli,
    target: Arc<Target>,
) -> anyhow::Result<(ClientStats, Option<ProcSummary>)> {
    let start = Instant::now();
    let window = (start + cli.warmup, start + cli.warmup + cli.duration);
    let answered = Arc::new(AtomicU64::new(0));
    let reporter = (!cli.progress.is_zero()).then(|| {
        tokio::spawn(report_progress(
            Arc::clone(&answered),
            start,
            cli.progress,
            window,
        ))
    });
    let mut sampler = cli
        .pid
        .map(|pid| ProcSampler::start_at(pid, window.0, Duration::from_millis(250)));
    let mut tasks = JoinSet::new();
    for client in 0..cli.clients {
        tasks.spawn(drive(
            Arc::clone(&target),
            cli.seed.wrapping_add(1 + client as u64),
            Arc::clone(&answered),
            window,
        ));
    }
    let mut total = ClientStats::default();
    let mut process: Option<ProcSummary> = None;
    while let Some(joined) = tasks.join_next().await {
        let stats = joined.context("a client panicked")?;
        // The first client to finish ends the window for the sampler.
        if let Some(pending) = sampler.take() {
            process = pending.finish().await;
        }
        total.merge(stats);
    }
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    Ok((total, process))
}

/// A short description of a 200 answer, so a report shows what was measured
/// (e.g. that a search found customers).
fn describe_answer(route: Route, body: &str) -> String {
    let value: serde_json::Value = match serde_json::from_str(body) {
        Ok(value) => value,
        Err(_) => return format!("{} bytes, not JSON", body.len()),
    };
    match route {
        Route::List | Route::Search => {
            let items = value["items"].as_array().map_or(0, Vec::len);
            let more = value["next_cursor"].is_string();
            format!(
                "{} bytes, {items} items{}",
                body.len(),
                if more { ", more pages" } else { "" }
            )
        }
        Route::Detail => format!(
            "{} bytes, customer {} ({} purchases)",
            body.len(),
            value["id"].as_str().unwrap_or("?"),
            value["purchase_count"]
        ),
        Route::Funnel => {
            let counts: Vec<String> = value["stages"]
                .as_array()
                .map(|stages| {
                    stages
                        .iter()
                        .map(|stage| {
                            format!("{}={}", stage["id"].as_str().unwrap_or("?"), stage["count"])
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!("{} bytes, stages {}", body.len(), counts.join(" "))
        }
    }
}

#[derive(Default)]
struct ClientStats {
    /// Latency (µs) of every measured request that got an answer.
    latencies: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    failures: u64,
    unmeasured: u64,
    body_bytes: u64,
    cache_hits: u64,
    record_hits: u64,
    samples: Vec<String>,
}

impl ClientStats {
    fn merge(&mut self, other: ClientStats) {
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

async fn drive(
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

#[derive(Serialize)]
struct Report {
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
    fn new(
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

    fn print_human(&self) {
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

//! `loadgen`: the HTTP load generator behind `scripts/bench-write` and
//! `BENCHMARKS.md`.
//!
//! - `loadgen setup --ids FILE` registers `--customers` customers
//!   (`POST /v1/customers`, `--clients` at a time) and writes their ids to
//!   FILE, one per line, in a fixed order (line `n` is customer number `n`).
//! - `loadgen run --ids FILE` drives MoveStage (`PUT /v1/customers/{id}/stage`)
//!   and LogActivity (`POST /v1/customers/{id}/activities`) 50/50 with
//!   `--clients` concurrent clients, each waiting for its answer before the
//!   next request. Client `c` owns exactly the customers `n` with
//!   `n % clients == c`, so no two clients ever write the same stream (no 409s);
//!   the pgbench script of `scripts/bench-write` uses the same partitioning.
//!   Requests completing in the first `--warmup` are not measured; the next
//!   `--duration` is. It prints a human report and then one JSON line.
//!
//! Network failures and non-2xx answers are counted, never fatal during `run`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bench::{
    describe, http_client, micros, parse_duration, print_json_line, report_progress, truncate,
    CommandKind, Latency,
};
use clap::{Parser, Subcommand};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinSet;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "HTTP load generator for the CRM command API"
)]
struct Cli {
    /// Base URL of the service.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Bearer token (manager or admin of one tenant).
    #[arg(long, global = true, env = "BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Number of customers (setup registers them; run uses the first ones of the ids file).
    #[arg(long, global = true, default_value_t = 10_000)]
    customers: usize,
    /// Concurrent clients (each has one request in flight at a time).
    #[arg(long, global = true, default_value_t = 64)]
    clients: usize,
    /// Unmeasured time at the start of `run` (e.g. 5s, 500ms, 1m).
    #[arg(long, global = true, default_value = "5s", value_parser = parse_duration)]
    warmup: Duration,
    /// Measured time of `run` after the warmup.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Per-request timeout.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    #[command(subcommand)]
    phase: Phase,
}

#[derive(Debug, Subcommand)]
enum Phase {
    /// Register the customers and write their ids to a file.
    Setup {
        /// Where to write the ids, one per line.
        #[arg(long, default_value = "bench-customers.txt")]
        ids: PathBuf,
    },
    /// Drive MoveStage and LogActivity 50/50 against the customers of the ids file.
    Run {
        /// The file written by `setup`.
        #[arg(long, default_value = "bench-customers.txt")]
        ids: PathBuf,
        /// Also write the JSON result line to this file.
        #[arg(long)]
        json_out: Option<PathBuf>,
        /// Seed of the customer and command choice (each client adds its number).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print answered requests per second to stderr every so often (0s: never).
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        progress: Duration,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.clients == 0 || cli.customers == 0 {
        bail!("--clients and --customers must be at least 1");
    }
    if cli.customers < cli.clients {
        bail!(
            "--customers ({}) must be at least --clients ({}) so every client owns a customer",
            cli.customers,
            cli.clients
        );
    }
    let token = cli
        .token
        .clone()
        .context("--token (or BENCH_TOKEN) is required")?;
    let http = http_client(cli.timeout, cli.clients)?;
    let target = Target {
        http,
        base: cli.url.trim_end_matches('/').to_owned(),
        auth: format!("Bearer {token}"),
    };
    match &cli.phase {
        Phase::Setup { ids } => setup(&cli, Arc::new(target), ids).await,
        Phase::Run {
            ids,
            json_out,
            seed,
            progress,
        } => {
            let options = RunOptions {
                json_out: json_out.as_deref(),
                seed: *seed,
                progress: *progress,
            };
            run(&cli, Arc::new(target), ids, options).await
        }
    }
}

struct Target {
    http: reqwest::Client,
    base: String,
    auth: String,
}

/// What one request came to.
enum Outcome {
    Status(u16),
    /// Connection refused, reset, timed out, unreadable body...
    Failed(String),
}

impl Target {
    /// Sends one command and reads the whole answer.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> (Outcome, String) {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .json(body);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(text) => (Outcome::Status(status), text),
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

// ------------------------------------------------------------------ setup

async fn setup(cli: &Cli, target: Arc<Target>, ids_path: &Path) -> anyhow::Result<()> {
    const ATTEMPTS: usize = 3;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for client in 0..cli.clients {
        let target = Arc::clone(&target);
        let (customers, clients) = (cli.customers, cli.clients);
        tasks.spawn(async move {
            let mut registered = Vec::new();
            let mut failures = Vec::new();
            for n in (client..customers).step_by(clients) {
                let body = json!({
                    "name": format!("压测客户 {n:05}"),
                    "company": format!("Bench Co. {}", n % 500),
                    "industry": "manufacturing",
                    "source": "benchmark",
                    "tags": ["bench"],
                    "deal_value": "50000.00",
                });
                let mut last_error = String::new();
                let mut id = None;
                for _ in 0..ATTEMPTS {
                    match target
                        .send(reqwest::Method::POST, "/v1/customers", &body)
                        .await
                    {
                        (Outcome::Status(201), answer) => {
                            match serde_json::from_str::<serde_json::Value>(&answer)
                                .ok()
                                .and_then(|value| value["id"].as_str().map(str::to_owned))
                                .and_then(|text| Uuid::parse_str(&text).ok())
                            {
                                Some(parsed) => {
                                    id = Some(parsed);
                                    break;
                                }
                                None => {
                                    last_error =
                                        format!("201 without an id: {}", truncate(&answer, 300))
                                }
                            }
                        }
                        (Outcome::Status(status), answer) => {
                            last_error = format!("HTTP {status}: {}", truncate(&answer, 300));
                        }
                        (Outcome::Failed(error), _) => last_error = error,
                    }
                    failures.push(last_error.clone());
                }
                match id {
                    Some(id) => registered.push((n, id)),
                    None => {
                        return Err(anyhow::anyhow!(
                            "registering customer {n} failed {ATTEMPTS} times; last: {last_error}"
                        ))
                    }
                }
            }
            Ok::<_, anyhow::Error>((registered, failures))
        });
    }
    let mut ids = vec![None; cli.customers];
    let mut retried = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (registered, failures) = joined.context("a setup client panicked")??;
        for (n, id) in registered {
            ids[n] = Some(id);
        }
        retried.extend(failures);
    }
    let mut text = String::with_capacity(cli.customers * 37);
    for (n, id) in ids.iter().enumerate() {
        let id = id.with_context(|| format!("customer {n} has no id"))?;
        text.push_str(&id.to_string());
        text.push('\n');
    }
    std::fs::write(ids_path, text)
        .with_context(|| format!("writing the ids to {}", ids_path.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "setup: registered {} customers in {elapsed:.1} s ({:.0}/s) with {} clients; ids in {}",
        cli.customers,
        cli.customers as f64 / elapsed,
        cli.clients,
        ids_path.display()
    );
    if !retried.is_empty() {
        println!(
            "setup: {} attempts were retried; first: {}",
            retried.len(),
            retried[0]
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ run

/// Two open stages the customers alternate between (a fresh customer is a lead).
const STAGE_A: &str = "qualified";
const STAGE_B: &str = "proposal";

/// What one client measured.
#[derive(Default)]
struct ClientStats {
    /// Latency in microseconds of every measured request, by command.
    latencies: BTreeMap<CommandKind, Vec<u64>>,
    /// Measured answers by (command, status).
    statuses: BTreeMap<(CommandKind, u16), u64>,
    /// Measured requests that got no answer.
    failures: BTreeMap<CommandKind, u64>,
    /// Requests, answered or not, completing outside the measured window (warmup, tail).
    unmeasured_requests: u64,
    /// A few examples of what went wrong (any phase).
    samples: Vec<String>,
}

const SAMPLES_PER_CLIENT: usize = 3;

struct RunOptions<'a> {
    json_out: Option<&'a Path>,
    seed: u64,
    progress: Duration,
}

async fn run(
    cli: &Cli,
    target: Arc<Target>,
    ids_path: &Path,
    options: RunOptions<'_>,
) -> anyhow::Result<()> {
    let RunOptions {
        json_out,
        seed,
        progress,
    } = options;
    let text = std::fs::read_to_string(ids_path)
        .with_context(|| format!("reading the ids from {}", ids_path.display()))?;
    let ids = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| Uuid::parse_str(line.trim()).with_context(|| format!("bad id `{line}`")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if ids.len() < cli.customers {
        bail!(
            "{} holds {} ids, fewer than --customers {}",
            ids_path.display(),
            ids.len(),
            cli.customers
        );
    }
    let ids = &ids[..cli.customers];

    let start = Instant::now();
    let measure_from = start + cli.warmup;
    let measure_until = measure_from + cli.duration;
    let answered = Arc::new(AtomicU64::new(0));
    let reporter = (!progress.is_zero()).then(|| {
        tokio::spawn(report_progress(
            Arc::clone(&answered),
            start,
            progress,
            (measure_from, measure_until),
        ))
    });
    let mut tasks = JoinSet::new();
    for client in 0..cli.clients {
        // Customer n belongs to client n % clients; the client knows its stage.
        let owned: Vec<(Uuid, &'static str)> = ids
            .iter()
            .enumerate()
            .filter(|(n, _)| n % cli.clients == client)
            .map(|(_, id)| (*id, "lead"))
            .collect();
        let target = Arc::clone(&target);
        let client_seed = seed.wrapping_add(client as u64);
        tasks.spawn(drive(
            target,
            owned,
            client_seed,
            Arc::clone(&answered),
            (measure_from, measure_until),
        ));
    }
    let mut total = ClientStats::default();
    while let Some(joined) = tasks.join_next().await {
        let stats = joined.context("a client panicked")?;
        for (kind, mut latencies) in stats.latencies {
            total
                .latencies
                .entry(kind)
                .or_default()
                .append(&mut latencies);
        }
        for (key, count) in stats.statuses {
            *total.statuses.entry(key).or_default() += count;
        }
        for (kind, count) in stats.failures {
            *total.failures.entry(kind).or_default() += count;
        }
        total.unmeasured_requests += stats.unmeasured_requests;
        if total.samples.len() < 10 {
            total.samples.extend(stats.samples);
        }
    }
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    let report = Report::new(cli, &mut total);
    report.print_human();
    print_json_line(&report, json_out)
}

/// One client: one request in flight at a time, until the window closes.
async fn drive(
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

// ------------------------------------------------------------------ report

#[derive(Serialize)]
struct Report {
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
    fn new(cli: &Cli, total: &mut ClientStats) -> Report {
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

    fn print_human(&self) {
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

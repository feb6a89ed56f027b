//! `lagprobe`: projection lag under a steady command load, for
//! `scripts/bench-read` and BENCHMARKS.md "Read side".
//!
//! It sends commands open-loop at `--rate` per second (the n-th is due at
//! start + n / rate, whatever the previous ones are doing; at most
//! `--max-in-flight` at once) to a running `crm serve`: MoveStage
//! (`PUT /v1/customers/{id}/stage`, between `qualified` and `proposal`) for a
//! customer in an open stage half of the time, LogActivity
//! (`POST /v1/customers/{id}/activities`) otherwise. Customers are the
//! tenant's, in a shuffled order, each used once per pass (so two commands are
//! never in flight for one customer and there are no 409s).
//!
//! For every command it records `t0`, the instant its answer arrived, and the
//! `position` of the reply. Meanwhile a poller reads
//! `SELECT name, tx::text, position FROM projection_checkpoints` every
//! `--poll` on its own connection, stamping each result with the instant it
//! arrived. After the run it looks up each event's commit transaction
//! (`SELECT global_position, tx::text FROM events WHERE global_position = ANY($1)`)
//! and takes as the moment the event became visible the first poll, arriving
//! at or after `t0`, whose checkpoint is at or past the event's
//! `(tx, global_position)` (compared as a pair, as the projector does). The lag
//! is that instant minus `t0`: an upper bound, at most one poll interval plus
//! one poll round trip above the true value. It does not use
//! `?min_position=` (which waits inside the service).
//!
//! With `--kafka-brokers` it also times each event's arrival on the Kafka
//! topic (command answered → first copy consumed; 0 when it arrived before
//! the answer), and with `--kafka-group` the moment a Kafka-fed projector's
//! stored offsets (`kafka_offsets`) first cover it, polled like the
//! checkpoints (the PostgreSQL-fed figures are then not waited for).
//!
//! Only commands answered inside the measured window (after `--warmup`, for
//! `--duration`) are reported. It prints a human report and one JSON line.

mod kafka;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bench::{micros, parse_duration, truncate, Latency, ProcSampler, ProcSummary};
use clap::Parser;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "lagprobe",
    about = "Projection lag of the CRM read model under a steady command rate"
)]
struct Cli {
    /// Base URL of the service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Bearer token of a manager of `--tenant`.
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The service's database (read only: customers, checkpoints, event tx).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Tenant whose customers receive the commands.
    #[arg(long)]
    tenant: Uuid,
    /// Commands per second.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Unmeasured time at the start.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    warmup: Duration,
    /// Measured time after the warmup.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Interval between checkpoint polls.
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    poll: Duration,
    /// Most commands in flight at once (a send waits for a free slot beyond it).
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// How long to wait after the last answer for the projections to catch up.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    settle: Duration,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Seed of the customer order and command choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Process to sample (VmRSS, VmHWM, CPU time) during the measured window.
    #[arg(long)]
    pid: Option<u32>,
    /// Also write the JSON result line to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Also time each event's arrival on the Kafka topic at these brokers.
    #[arg(long)]
    kafka_brokers: Option<String>,
    #[arg(long, default_value = "crm.events.v1")]
    kafka_topic: String,
    /// Time visibility through this Kafka-fed projectors' consumer group
    /// (needs --kafka-brokers) instead of waiting for PostgreSQL-fed checkpoints.
    #[arg(long, requires = "kafka_brokers")]
    kafka_group: Option<String>,
}

/// Funnel stages by index, as the service spells them.
const STAGES: [&str; 6] = [
    "lead",
    "qualified",
    "proposal",
    "negotiation",
    "closed_won",
    "closed_lost",
];
const QUALIFIED: u8 = 1;
const PROPOSAL: u8 = 2;

fn is_open(stage: u8) -> bool {
    stage <= 3
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    MoveStage,
    LogActivity,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::MoveStage => "move_stage",
            Kind::LogActivity => "log_activity",
        }
    }
}

/// A customer of the tenant and what the probe knows of it.
struct Slot {
    id: Uuid,
    stage: AtomicU8,
    busy: AtomicBool,
}

/// One command as sent and answered.
struct Sent {
    kind: Kind,
    scheduled: Instant,
    sent: Instant,
    answered: Instant,
    status: Option<u16>,
    position: Option<i64>,
    error: Option<String>,
}

/// A checkpoint pair `(tx, global_position)`.
type Point = (u64, i64);

/// One poll of `projection_checkpoints`.
#[derive(Clone, Copy)]
struct Observation {
    sent: Instant,
    at: Instant,
    customers: Point,
    timeline: Point,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !(cli.rate > 0.0 && cli.rate.is_finite()) {
        bail!("--rate must be positive");
    }
    if cli.max_in_flight == 0 {
        bail!("--max-in-flight must be at least 1");
    }
    let token = cli
        .token
        .clone()
        .context("--token (or BENCH_TOKEN) is required")?;
    let options: PgConnectOptions = cli
        .database_url
        .parse()
        .context("--database-url is not a PostgreSQL URL")?;
    let options = options.application_name("lagprobe");

    // ------------------------------------------------------------ customers
    let mut setup = PgConnection::connect_with(&options)
        .await
        .context("connecting to the database")?;
    let mut customers: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, stage FROM rm_customers WHERE tenant_id = $1 AND NOT archived ORDER BY id",
    )
    .bind(cli.tenant)
    .fetch_all(&mut setup)
    .await
    .context("reading the tenant's customers")?;
    if customers.is_empty() {
        bail!("tenant {} has no customers in rm_customers", cli.tenant);
    }
    let mut rng = StdRng::seed_from_u64(cli.seed);
    customers.shuffle(&mut rng);
    let slots: Arc<Vec<Slot>> = Arc::new(
        customers
            .iter()
            .map(|(id, stage)| Slot {
                id: *id,
                stage: AtomicU8::new(
                    STAGES
                        .iter()
                        .position(|known| known == stage)
                        .and_then(|index| u8::try_from(index).ok())
                        .unwrap_or(u8::MAX),
                ),
                busy: AtomicBool::new(false),
            })
            .collect(),
    );
    let needed = ((cli.warmup + cli.duration).as_secs_f64() * cli.rate).ceil() as usize;
    eprintln!(
        "lagprobe: {} customers of tenant {}; about {needed} commands at {}/s (each customer used {} time(s))",
        slots.len(),
        cli.tenant,
        cli.rate,
        needed.div_ceil(slots.len())
    );

    let http = reqwest::Client::builder()
        .timeout(cli.timeout)
        .pool_max_idle_per_host(cli.max_in_flight)
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")?;
    let target = Arc::new(Target {
        http,
        base: cli.url.trim_end_matches('/').to_owned(),
        auth: format!("Bearer {token}"),
    });

    // ------------------------------------------------------------ poller
    let poll_connection = PgConnection::connect_with(&options)
        .await
        .context("connecting the checkpoint poller")?;
    let (stop_polling, polling) = watch::channel(false);
    let (latest_tx, latest) = watch::channel::<Option<Observation>>(None);
    let poller = tokio::spawn(poll_checkpoints(
        poll_connection,
        cli.poll,
        polling,
        latest_tx,
    ));

    // ------------------------------------------------------------ Kafka
    let stop_consuming = Arc::new(AtomicBool::new(false));
    let topic_watch = match &cli.kafka_brokers {
        Some(brokers) => Some(kafka::watch_topic(
            brokers,
            &cli.kafka_topic,
            Arc::clone(&stop_consuming),
        )?),
        None => None,
    };
    let (latest_offsets_tx, latest_offsets) =
        watch::channel::<Option<kafka::OffsetObservation>>(None);
    let offsets_poller = match &cli.kafka_group {
        Some(group) => Some(tokio::spawn(kafka::poll_offsets(
            PgConnection::connect_with(&options)
                .await
                .context("connecting the offsets poller")?,
            group.clone(),
            cli.kafka_topic.clone(),
            cli.poll,
            stop_polling.subscribe(),
            latest_offsets_tx,
        ))),
        None => None,
    };

    // ------------------------------------------------------------ commands
    let start = Instant::now();
    let measure_from = start + cli.warmup;
    let measure_until = measure_from + cli.duration;
    let sampler = cli.pid.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(measure_from)).await;
            ProcSampler::start(pid, Duration::from_millis(250))
        })
    });
    let period = Duration::from_secs_f64(1.0 / cli.rate);
    let permits = Arc::new(Semaphore::new(cli.max_in_flight));
    let mut tasks = JoinSet::new();
    let mut next_slot = 0usize;
    let mut scheduled_count: u64 = 0;
    let mut skipped_busy: u64 = 0;
    loop {
        let due = start + period.mul_f64(scheduled_count as f64);
        if due >= measure_until {
            break;
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .context("the in-flight semaphore closed")?;
        // The next customer with nothing in flight.
        let mut chosen = None;
        for _ in 0..slots.len() {
            let index = next_slot % slots.len();
            next_slot += 1;
            if !slots[index].busy.swap(true, Ordering::AcqRel) {
                chosen = Some(index);
                break;
            }
            skipped_busy += 1;
        }
        let Some(index) = chosen else {
            bail!("every customer has a command in flight; raise the tenant size or lower --rate");
        };
        let move_stage = rng.gen_bool(0.5) && is_open(slots[index].stage.load(Ordering::Acquire));
        let kind = if move_stage {
            Kind::MoveStage
        } else {
            Kind::LogActivity
        };
        let target = Arc::clone(&target);
        let slots = Arc::clone(&slots);
        let n = scheduled_count;
        tasks.spawn(async move {
            let sent = target.send(&slots[index], kind, n, due).await;
            slots[index].busy.store(false, Ordering::Release);
            drop(permit);
            sent
        });
        scheduled_count += 1;
    }
    let mut commands = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        commands.push(joined.context("a command task panicked")?);
    }
    let last_answer = commands
        .iter()
        .map(|command| command.answered)
        .max()
        .unwrap_or(measure_until);
    let process = match sampler {
        Some(pending) => match pending.await {
            Ok(started) => started.finish().await,
            Err(_) => None,
        },
        None => None,
    };

    // ------------------------------------------------------------ event tx
    let positions: Vec<i64> = commands.iter().filter_map(|c| c.position).collect();
    let mut tx_of: HashMap<i64, u64> = HashMap::with_capacity(positions.len());
    for chunk in positions.chunks(10_000) {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT global_position, tx::text FROM events WHERE global_position = ANY($1)",
        )
        .bind(chunk)
        .fetch_all(&mut setup)
        .await
        .context("reading the events' transactions")?;
        for (position, tx) in rows {
            let tx: u64 = tx
                .parse()
                .with_context(|| format!("event {position} has tx {tx:?}"))?;
            tx_of.insert(position, tx);
        }
    }
    let furthest = positions
        .iter()
        .filter_map(|position| tx_of.get(position).map(|tx| (*tx, *position)))
        .max();

    // ------------------------------------------------------------ settle
    let settle_deadline = Instant::now() + cli.settle;
    let mut settled = furthest.is_none();
    if let Some(furthest) = furthest {
        let mut latest = latest;
        loop {
            let checkpoints = cli.kafka_group.is_some()
                || latest
                    .borrow()
                    .is_some_and(|seen| seen.customers >= furthest && seen.timeline >= furthest);
            let arrived = topic_watch.as_ref().is_none_or(|(arrivals, _)| {
                arrivals
                    .lock()
                    .is_ok_and(|arrivals| positions.iter().all(|p| arrivals.contains_key(p)))
            });
            let applied = cli.kafka_group.is_none()
                || topic_watch.as_ref().is_some_and(|(arrivals, _)| {
                    let observation = latest_offsets.borrow();
                    arrivals.lock().is_ok_and(|arrivals| {
                        observation.as_ref().is_some_and(|observation| {
                            positions.iter().all(|p| {
                                arrivals
                                    .get(p)
                                    .is_some_and(|arrival| observation.covers(arrival))
                            })
                        })
                    })
                });
            if checkpoints && arrived && applied {
                settled = true;
                break;
            }
            if Instant::now() >= settle_deadline {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), latest.changed()).await;
        }
    }
    let _ = stop_polling.send(true);
    let observations = poller
        .await
        .context("the checkpoint poller panicked")?
        .context("polling the checkpoints")?;
    let offset_observations = match offsets_poller {
        Some(poller) => Some(
            poller
                .await
                .context("the offsets poller panicked")?
                .context("polling kafka_offsets")?,
        ),
        None => None,
    };
    stop_consuming.store(true, Ordering::Release);
    let arrivals = match topic_watch {
        Some((arrivals, thread)) => {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("the Kafka consumer thread panicked"))??;
            let arrivals = arrivals
                .lock()
                .map_err(|_| anyhow::anyhow!("the arrivals lock is poisoned"))?
                .clone();
            Some(arrivals)
        }
        None => None,
    };

    let report = Report::new(
        &cli,
        ReportInput {
            commands: &commands,
            tx_of: &tx_of,
            observations: &observations,
            window: (measure_from, measure_until),
            scheduled: scheduled_count,
            skipped_busy,
            settled,
            settle_s: Instant::now()
                .saturating_duration_since(last_answer)
                .as_secs_f64(),
            process,
            customers: slots.len(),
            arrivals: arrivals.as_ref(),
            offsets: offset_observations.as_deref(),
        },
    );
    report.print_human();
    let line = serde_json::to_string(&report).context("encoding the JSON result")?;
    println!("{line}");
    if let Some(path) = &cli.json_out {
        std::fs::write(path, format!("{line}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

struct Target {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Target {
    async fn send(&self, slot: &Slot, kind: Kind, n: u64, scheduled: Instant) -> Sent {
        let id = slot.id;
        let (request, next_stage) = match kind {
            Kind::MoveStage => {
                let to = if slot.stage.load(Ordering::Acquire) == QUALIFIED {
                    PROPOSAL
                } else {
                    QUALIFIED
                };
                (
                    self.http
                        .put(format!("{}/v1/customers/{id}/stage", self.base))
                        .json(&json!({ "stage": STAGES[usize::from(to)] })),
                    Some(to),
                )
            }
            Kind::LogActivity => (
                self.http
                    .post(format!("{}/v1/customers/{id}/activities", self.base))
                    .json(&json!({
                        "type": "call",
                        "subject": "Lag probe call",
                        "notes": format!("lag probe command {n}"),
                    })),
                None,
            ),
        };
        let sent = Instant::now();
        let outcome = request
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .send()
            .await;
        let mut record = Sent {
            kind,
            scheduled,
            sent,
            answered: sent,
            status: None,
            position: None,
            error: None,
        };
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await;
                record.answered = Instant::now();
                record.status = Some(status);
                match body {
                    Ok(body) if (200..300).contains(&status) => {
                        record.position = serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|value| value["position"].as_i64());
                        if record.position.is_none() {
                            record.error =
                                Some(format!("2xx without a position: {}", truncate(&body, 200)));
                        }
                        if let Some(to) = next_stage {
                            slot.stage.store(to, Ordering::Release);
                        }
                    }
                    Ok(body) => {
                        record.error = Some(format!(
                            "{} {id}: HTTP {status}: {}",
                            kind.name(),
                            truncate(&body, 300)
                        ));
                    }
                    Err(error) => record.error = Some(format!("reading the body: {error}")),
                }
            }
            Err(error) => {
                record.answered = Instant::now();
                record.error = Some(format!("{} {id}: {error}", kind.name()));
            }
        }
        record
    }
}

/// Polls the checkpoints until told to stop; returns every observation.
async fn poll_checkpoints(
    mut connection: PgConnection,
    every: Duration,
    mut stop: watch::Receiver<bool>,
    latest: watch::Sender<Option<Observation>>,
) -> anyhow::Result<Vec<Observation>> {
    let mut observations = Vec::with_capacity(16_384);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        let sent = Instant::now();
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT name, tx::text, position FROM projection_checkpoints")
                .fetch_all(&mut connection)
                .await
                .context("reading projection_checkpoints")?;
        let at = Instant::now();
        let mut points: HashMap<String, Point> = HashMap::new();
        for (name, tx, position) in rows {
            let tx: u64 = tx
                .parse()
                .with_context(|| format!("checkpoint {name} has tx {tx:?}"))?;
            points.insert(name, (tx, position));
        }
        let (Some(customers), Some(timeline)) = (
            points.get("customers").copied(),
            points.get("timeline").copied(),
        ) else {
            bail!("projection_checkpoints lacks the customers or timeline row");
        };
        let observation = Observation {
            sent,
            at,
            customers,
            timeline,
        };
        observations.push(observation);
        let _ = latest.send(Some(observation));
    }
    Ok(observations)
}

/// When `point` first shows in `pick(observation)` among the observations
/// arriving at or after `t0`: the arrival instant of that poll.
fn visible_at(
    observations: &[Observation],
    t0: Instant,
    point: Point,
    pick: impl Fn(&Observation) -> Point,
) -> Option<Instant> {
    let from = observations.partition_point(|observation| observation.at < t0);
    let later = &observations[from..];
    // Checkpoints only move forward, so the covered polls form a suffix.
    let first = later.partition_point(|observation| pick(observation) < point);
    later.get(first).map(|observation| observation.at)
}

#[derive(Serialize)]
struct LagSummary {
    /// Measured commands whose event became visible before the probe stopped.
    visible: usize,
    /// Measured commands whose event never showed (before the settle timeout).
    not_visible: usize,
    lag: Latency,
}

#[derive(Serialize)]
struct Report {
    tenant: Uuid,
    customers: usize,
    rate_target: f64,
    warmup_s: f64,
    duration_s: f64,
    poll_interval_ms: f64,
    /// Commands the schedule released (warmup and measured).
    scheduled: u64,
    /// Commands answered inside the measured window.
    measured: usize,
    ok: usize,
    non_2xx: usize,
    /// No HTTP answer.
    failed: usize,
    /// 2xx answers inside the measured window per second.
    achieved_rate: f64,
    /// Measured commands by kind.
    kinds: BTreeMap<&'static str, usize>,
    statuses: BTreeMap<String, usize>,
    /// Send time minus scheduled time (the generator or the in-flight cap falling behind).
    send_delay: Latency,
    /// Command round trip (sent to answer).
    command_latency: Latency,
    most_in_flight: usize,
    /// Customers passed over because a command was still in flight for them.
    skipped_busy: u64,
    /// Lag until the `customers` projection (list, search, detail, funnel) includes the event.
    lag_customers: LagSummary,
    /// Lag until the `timeline` projection includes it.
    lag_timeline: LagSummary,
    /// Lag until both include it.
    lag_both: LagSummary,
    /// From the answer to the event's arrival on the Kafka topic.
    lag_kafka: Option<LagSummary>,
    /// From the answer to a Kafka-fed projector having applied it.
    lag_kafka_projector: Option<LagSummary>,
    polls: usize,
    /// Mean time between polls, ms.
    poll_mean_interval_ms: f64,
    /// Poll round trip (query sent to rows received).
    poll_round_trip: Latency,
    settled: bool,
    /// From the last answer to the end of polling.
    settle_s: f64,
    process: Option<ProcSummary>,
    errors_sample: Vec<String>,
}

struct ReportInput<'a> {
    commands: &'a [Sent],
    tx_of: &'a HashMap<i64, u64>,
    observations: &'a [Observation],
    window: (Instant, Instant),
    scheduled: u64,
    skipped_busy: u64,
    settled: bool,
    settle_s: f64,
    process: Option<ProcSummary>,
    customers: usize,
    arrivals: Option<&'a HashMap<i64, kafka::Arrival>>,
    offsets: Option<&'a [kafka::OffsetObservation]>,
}

impl Report {
    fn new(cli: &Cli, input: ReportInput<'_>) -> Report {
        let (from, until) = input.window;
        let measured: Vec<&Sent> = input
            .commands
            .iter()
            .filter(|command| command.answered >= from && command.answered <= until)
            .collect();
        let ok = measured
            .iter()
            .filter(|c| c.status.is_some_and(|s| (200..300).contains(&s)))
            .count();
        let failed = measured.iter().filter(|c| c.status.is_none()).count();
        let mut kinds = BTreeMap::new();
        let mut statuses = BTreeMap::new();
        for command in &measured {
            *kinds.entry(command.kind.name()).or_default() += 1;
            let status = command
                .status
                .map_or_else(|| "none".to_owned(), |s| s.to_string());
            *statuses
                .entry(format!("{} {status}", command.kind.name()))
                .or_default() += 1;
        }
        let mut send_delay: Vec<u64> = measured
            .iter()
            .map(|c| micros(c.sent.saturating_duration_since(c.scheduled)))
            .collect();
        let mut round_trip: Vec<u64> = measured
            .iter()
            .map(|c| micros(c.answered.duration_since(c.sent)))
            .collect();

        // Most commands in flight at once, from the send/answer instants.
        let mut edges: Vec<(Instant, i32)> = input
            .commands
            .iter()
            .flat_map(|c| [(c.sent, 1), (c.answered, -1)])
            .collect();
        edges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut in_flight = 0i32;
        let mut most_in_flight = 0i32;
        for (_, step) in edges {
            in_flight += step;
            most_in_flight = most_in_flight.max(in_flight);
        }

        let lag = |pick: &dyn Fn(&Observation) -> Point, both: bool| -> LagSummary {
            let mut lags = Vec::new();
            let mut not_visible = 0;
            for command in &measured {
                let Some(position) = command.position else {
                    continue;
                };
                let Some(tx) = input.tx_of.get(&position) else {
                    not_visible += 1;
                    continue;
                };
                let point = (*tx, position);
                let seen = if both {
                    let customers =
                        visible_at(input.observations, command.answered, point, |o| o.customers);
                    let timeline =
                        visible_at(input.observations, command.answered, point, |o| o.timeline);
                    customers.zip(timeline).map(|(a, b)| a.max(b))
                } else {
                    visible_at(input.observations, command.answered, point, pick)
                };
                match seen {
                    Some(at) => lags.push(micros(at.duration_since(command.answered))),
                    None => not_visible += 1,
                }
            }
            LagSummary {
                visible: lags.len(),
                not_visible,
                lag: Latency::of(&mut lags),
            }
        };
        let lag_customers = lag(&|o| o.customers, false);
        let lag_timeline = lag(&|o| o.timeline, false);
        let lag_both = lag(&|o| o.customers, true);
        let through_kafka = |applied: Option<&[kafka::OffsetObservation]>| {
            let arrivals = input.arrivals?;
            let mut lags = Vec::new();
            let mut not_visible = 0;
            for command in &measured {
                let Some(position) = command.position else {
                    continue;
                };
                let seen = arrivals.get(&position).and_then(|arrival| match applied {
                    None => Some(arrival.at.max(command.answered)),
                    Some(observations) => {
                        kafka::applied_at(observations, command.answered, arrival)
                    }
                });
                match seen {
                    Some(at) => lags.push(micros(at.duration_since(command.answered))),
                    None => not_visible += 1,
                }
            }
            Some(LagSummary {
                visible: lags.len(),
                not_visible,
                lag: Latency::of(&mut lags),
            })
        };
        let lag_kafka = through_kafka(None);
        let lag_kafka_projector = input
            .offsets
            .and_then(|offsets| through_kafka(Some(offsets)));

        let polls = input.observations.len();
        let poll_mean_interval_ms = match (input.observations.first(), input.observations.last()) {
            (Some(first), Some(last)) if polls > 1 => {
                last.at.duration_since(first.at).as_secs_f64() * 1000.0 / (polls - 1) as f64
            }
            _ => 0.0,
        };
        let mut poll_rtt: Vec<u64> = input
            .observations
            .iter()
            .map(|o| micros(o.at.duration_since(o.sent)))
            .collect();
        let errors_sample = input
            .commands
            .iter()
            .filter_map(|c| c.error.clone())
            .take(10)
            .collect();
        Report {
            tenant: cli.tenant,
            customers: input.customers,
            rate_target: cli.rate,
            warmup_s: cli.warmup.as_secs_f64(),
            duration_s: cli.duration.as_secs_f64(),
            poll_interval_ms: cli.poll.as_secs_f64() * 1000.0,
            scheduled: input.scheduled,
            measured: measured.len(),
            ok,
            non_2xx: measured.len() - ok - failed,
            failed,
            achieved_rate: ok as f64 / cli.duration.as_secs_f64().max(1e-9),
            kinds,
            statuses,
            send_delay: Latency::of(&mut send_delay),
            command_latency: Latency::of(&mut round_trip),
            most_in_flight: usize::try_from(most_in_flight).unwrap_or(0),
            skipped_busy: input.skipped_busy,
            lag_customers,
            lag_timeline,
            lag_both,
            lag_kafka,
            lag_kafka_projector,
            polls,
            poll_mean_interval_ms,
            poll_round_trip: Latency::of(&mut poll_rtt),
            settled: input.settled,
            settle_s: input.settle_s,
            process: input.process,
            errors_sample,
        }
    }

    fn print_human(&self) {
        println!(
            "lag probe: tenant {} ({} customers), target {}/s, {:.0} s warmup + {:.0} s measured, poll every {:.1} ms",
            self.tenant, self.customers, self.rate_target, self.warmup_s, self.duration_s, self.poll_interval_ms
        );
        println!(
            "  commands: scheduled {}   measured {}   2xx {}   non-2xx {}   no answer {}   achieved {:.1}/s   most in flight {}",
            self.scheduled, self.measured, self.ok, self.non_2xx, self.failed, self.achieved_rate, self.most_in_flight
        );
        println!(
            "  kinds: {}",
            self.kinds
                .iter()
                .map(|(kind, n)| format!("{kind}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!("  command latency   {}", self.command_latency.line());
        println!("  send delay        {}", self.send_delay.line());
        let kafka = [
            ("kafka topic", &self.lag_kafka),
            ("kafka-fed", &self.lag_kafka_projector),
        ];
        for (name, summary) in [
            ("customers", &self.lag_customers),
            ("timeline", &self.lag_timeline),
            ("both", &self.lag_both),
        ]
        .into_iter()
        .chain(
            kafka
                .iter()
                .filter_map(|(name, summary)| summary.as_ref().map(|summary| (*name, summary))),
        ) {
            println!(
                "  lag {name:<13} {}   (not visible: {})",
                summary.lag.line(),
                summary.not_visible
            );
        }
        println!(
            "  polls: {} (every {:.2} ms on average; round trip {})",
            self.polls,
            self.poll_mean_interval_ms,
            self.poll_round_trip.line()
        );
        println!(
            "  settled: {} ({:.2} s after the last answer)",
            self.settled, self.settle_s
        );
        if let Some(process) = &self.process {
            println!(
                "  service pid {}: VmRSS max {:.1} MiB (mean {:.1}, end {:.1}), VmHWM {:.1} MiB, CPU {:.1} s",
                process.pid,
                process.rss_max_mib,
                process.rss_mean_mib,
                process.rss_end_mib,
                process.hwm_end_mib,
                process.cpu_s
            );
        }
        for sample in &self.errors_sample {
            println!("  error: {sample}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_is_the_first_covering_poll_after_the_answer() {
        let base = Instant::now();
        let at = |ms: u64| base + Duration::from_millis(ms);
        let observation = |ms: u64, position: i64| Observation {
            sent: at(ms.saturating_sub(1)),
            at: at(ms),
            customers: (10, position),
            timeline: (10, position),
        };
        let polls = [
            observation(0, 1),
            observation(5, 1),
            observation(10, 3),
            observation(15, 7),
        ];
        let pick = |o: &Observation| o.customers;
        // Answered at 4 ms, applied by the poll of 10 ms.
        assert_eq!(visible_at(&polls, at(4), (10, 3), pick), Some(at(10)));
        // Already applied when answered: the next poll.
        assert_eq!(visible_at(&polls, at(6), (10, 2), pick), Some(at(10)));
        // A later transaction with a lower position is not covered by (10, 7).
        assert_eq!(visible_at(&polls, at(0), (11, 5), pick), None);
        // An earlier transaction with a higher position is.
        assert_eq!(visible_at(&polls, at(0), (9, 100), pick), Some(at(0)));
    }
}

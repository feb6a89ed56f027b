//! The load: the tenant's customers, and commands sent to them open-loop at
//! `--rate`, each customer with at most one command in flight.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bench::{http_client, truncate, CommandKind};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;
use sqlx::PgConnection;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::cli::Cli;

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

/// A customer of the tenant and what the probe knows of it.
pub struct Slot {
    id: Uuid,
    stage: AtomicU8,
    busy: AtomicBool,
}

/// One command as sent and answered.
pub struct Sent {
    pub kind: CommandKind,
    pub scheduled: Instant,
    pub sent: Instant,
    pub answered: Instant,
    pub status: Option<u16>,
    pub position: Option<i64>,
    pub error: Option<String>,
}

/// The tenant's customers (`rm_customers`) in a shuffled order; says on
/// stderr how many commands they will receive.
pub async fn customers(
    cli: &Cli,
    connection: &mut PgConnection,
    rng: &mut StdRng,
) -> anyhow::Result<Arc<Vec<Slot>>> {
    let mut customers: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, stage FROM rm_customers WHERE tenant_id = $1 AND NOT archived ORDER BY id",
    )
    .bind(cli.tenant)
    .fetch_all(connection)
    .await
    .context("reading the tenant's customers")?;
    if customers.is_empty() {
        bail!("tenant {} has no customers in rm_customers", cli.tenant);
    }
    customers.shuffle(rng);
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
    Ok(slots)
}

/// Every command the schedule released, and how the schedule went.
pub struct Load {
    pub commands: Vec<Sent>,
    /// Commands the schedule released (warmup and measured).
    pub scheduled: u64,
    /// Customers passed over because a command was still in flight for them.
    pub skipped_busy: u64,
}

/// Sends the n-th command at `start + n / rate` (at most `--max-in-flight`
/// at once) to the next customer with nothing in flight, until the one due
/// at or after `until`; returns once every command is answered.
pub async fn run(
    cli: &Cli,
    target: Arc<Target>,
    slots: &Arc<Vec<Slot>>,
    rng: &mut StdRng,
    (start, until): (Instant, Instant),
) -> anyhow::Result<Load> {
    let period = Duration::from_secs_f64(1.0 / cli.rate);
    let permits = Arc::new(Semaphore::new(cli.max_in_flight));
    let mut tasks = JoinSet::new();
    let mut next_slot = 0usize;
    let mut scheduled_count: u64 = 0;
    let mut skipped_busy: u64 = 0;
    loop {
        let due = start + period.mul_f64(scheduled_count as f64);
        if due >= until {
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
            CommandKind::MoveStage
        } else {
            CommandKind::LogActivity
        };
        let target = Arc::clone(&target);
        let slots = Arc::clone(slots);
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
    Ok(Load {
        commands,
        scheduled: scheduled_count,
        skipped_busy,
    })
}

/// The service's command API.
pub struct Target {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Target {
    pub fn new(cli: &Cli, token: &str) -> anyhow::Result<Target> {
        Ok(Target {
            http: http_client(cli.timeout, cli.max_in_flight)?,
            base: cli.url.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {token}"),
        })
    }

    async fn send(&self, slot: &Slot, kind: CommandKind, n: u64, scheduled: Instant) -> Sent {
        let id = slot.id;
        let (request, next_stage) = match kind {
            CommandKind::MoveStage => {
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
            CommandKind::LogActivity => (
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

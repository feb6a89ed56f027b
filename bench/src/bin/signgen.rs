//! `signgen`: the sign-in load of BENCHMARKS.md. `setup` invites users
//! through the API and writes their one-time passwords; `run` signs them in
//! from many clients, one request in flight each, and reports sign-ins per
//! second and latency.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bench::{http_client, micros, parse_duration, print_json_line, Latency};
use clap::{Parser, Subcommand};
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(name = "signgen", about = "Sign-in load for the CRM service")]
struct Cli {
    /// Base URL of the service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Invite `users` reps (bench-0, bench-1, ...) and write `login<TAB>password` lines.
    Setup {
        /// An admin's token.
        #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long, default_value_t = 64)]
        users: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign the users of `credentials` in, round robin, for warmup + duration.
    Run {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        credentials: PathBuf,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        warmup: Duration,
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        duration: Duration,
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Setup { token, users, out } => setup(&cli.url, &token, users, &out).await,
        Command::Run {
            tenant,
            credentials,
            clients,
            warmup,
            duration,
            json_out,
        } => {
            let text = std::fs::read_to_string(&credentials)
                .with_context(|| format!("reading {}", credentials.display()))?;
            let users: Vec<(String, String)> = text
                .lines()
                .filter_map(|line| line.split_once('\t'))
                .map(|(login, password)| (login.to_owned(), password.to_owned()))
                .collect();
            anyhow::ensure!(
                !users.is_empty(),
                "no credentials in {}",
                credentials.display()
            );
            run(
                &cli.url,
                tenant,
                Arc::new(users),
                clients,
                warmup,
                duration,
                json_out,
            )
            .await
        }
    }
}

async fn setup(url: &str, token: &str, users: usize, out: &PathBuf) -> anyhow::Result<()> {
    let client = http_client(Duration::from_secs(30), 8)?;
    let mut lines = String::new();
    for index in 0..users {
        let login = format!("bench-{index}");
        let answer: serde_json::Value = client
            .post(format!("{url}/v1/users"))
            .bearer_auth(token)
            .json(&json!({"login": login, "display_name": login, "role": "rep"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let password = answer["one_time_password"]
            .as_str()
            .context("the invitation answered no one_time_password")?;
        lines.push_str(&format!("{login}\t{password}\n"));
    }
    std::fs::write(out, lines)?;
    Ok(())
}

#[derive(Default)]
struct Measured {
    latencies: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    failures: u64,
}

async fn run(
    url: &str,
    tenant: Uuid,
    users: Arc<Vec<(String, String)>>,
    clients: usize,
    warmup: Duration,
    duration: Duration,
    json_out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let client = http_client(Duration::from_secs(60), clients)?;
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for index in 0..clients {
        let (client, users, url) = (client.clone(), users.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut measured = Measured::default();
            let mut next = index;
            while Instant::now() < end {
                let (login, password) = &users[next % users.len()];
                next += clients;
                let sent = Instant::now();
                let answer = client
                    .post(format!("{url}/v1/auth/login"))
                    .json(&json!({"tenant_id": tenant, "login": login, "password": password}))
                    .send()
                    .await;
                let done = Instant::now();
                if sent < measure_from || done > end {
                    continue;
                }
                match answer {
                    Ok(answer) => {
                        *measured
                            .statuses
                            .entry(answer.status().as_u16())
                            .or_default() += 1;
                        let _ = answer.bytes().await;
                        measured.latencies.push(micros(done - sent));
                    }
                    Err(_) => measured.failures += 1,
                }
            }
            measured
        }));
    }
    let mut total = Measured::default();
    for task in tasks {
        let measured = task.await?;
        total.latencies.extend(measured.latencies);
        total.failures += measured.failures;
        for (status, count) in measured.statuses {
            *total.statuses.entry(status).or_default() += count;
        }
    }
    let ok = total.statuses.get(&200).copied().unwrap_or(0);
    let report = json!({
        "clients": clients,
        "duration_s": duration.as_secs_f64(),
        "sign_ins_per_s": ok as f64 / duration.as_secs_f64(),
        "statuses": total.statuses,
        "failures": total.failures,
        "latency": Latency::of(&mut total.latencies),
    });
    print_json_line(&report, json_out.as_deref())
}

//! `ssegen`: the live-feed load of BENCHMARKS.md ("Reminders"). Holds one
//! `GET /v1/notifications/stream` per token of `--tokens` (one line each)
//! open against one `crm serve`, reports when all are connected, then
//! counts the notifications that arrive and how long after their instant
//! (`meant_for`) each did, until `--expect` arrived or `--timeout` passed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bench::{parse_duration, print_json_line, read_proc, Latency};
use clap::Parser;
use serde_json::{json, Value};
use tokio::sync::mpsc;

#[derive(Debug, Parser)]
#[command(
    name = "ssegen",
    about = "Live notification feeds held open against the CRM service"
)]
struct Cli {
    /// Base URL of the service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A file with one access token per line: one feed each.
    #[arg(long)]
    tokens: PathBuf,
    /// Stop once this many notifications arrived (over all feeds).
    #[arg(long)]
    expect: usize,
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    timeout: Duration,
    /// The service's pid, to read its resident memory once all feeds are open.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Created (empty) once every feed is connected.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let tokens: Vec<String> = std::fs::read_to_string(&cli.tokens)
        .with_context(|| format!("reading {}", cli.tokens.display()))?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let before = cli.server_pid.and_then(read_proc);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .context("building the HTTP client")?;
    let connected = Arc::new(AtomicUsize::new(0));
    let (lags, mut received) = mpsc::unbounded_channel::<u64>();
    for token in tokens.iter().cloned() {
        let client = client.clone();
        let url = format!("{}/v1/notifications/stream", cli.url);
        let connected = connected.clone();
        let lags = lags.clone();
        tokio::spawn(async move {
            let response = match client.get(&url).bearer_auth(token).send().await {
                Ok(response) if response.status().is_success() => response,
                Ok(response) => {
                    eprintln!("feed refused: {}", response.status());
                    return;
                }
                Err(error) => {
                    eprintln!("feed failed: {error}");
                    return;
                }
            };
            connected.fetch_add(1, Ordering::Relaxed);
            feed(response, lags).await;
        });
    }
    drop(lags);
    let deadline = tokio::time::Instant::now() + cli.timeout;
    while connected.load(Ordering::Relaxed) < tokens.len() && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each feed's first frame (its retry field) may lag its connection.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let open = cli.server_pid.and_then(read_proc);
    if let Some(ready) = &cli.ready_file {
        std::fs::write(ready, b"").context("writing the ready file")?;
    }
    eprintln!(
        "{} of {} feeds connected",
        connected.load(Ordering::Relaxed),
        tokens.len()
    );
    let mut micros = Vec::with_capacity(cli.expect);
    while micros.len() < cli.expect {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(lag)) => micros.push(lag),
            Ok(None) | Err(_) => break,
        }
    }
    let memory = match (before, open) {
        (Some(before), Some(open)) => json!({
            "rss_before_kib": before.rss_kib,
            "rss_open_kib": open.rss_kib,
            "per_feed_kib": (open.rss_kib.saturating_sub(before.rss_kib)) as f64 / tokens.len().max(1) as f64,
        }),
        _ => Value::Null,
    };
    let lag = Latency::of(&mut micros);
    eprintln!("delivery after the reminder's instant: {}", lag.line());
    print_json_line(
        &json!({
            "feeds": tokens.len(),
            "connected": connected.load(Ordering::Relaxed),
            "expected": cli.expect,
            "received": lag.count,
            "lag": lag,
            "memory": memory,
        }),
        None,
    )
}

/// Reads one feed's events; sends each notification's lag (µs after its
/// `meant_for`) to `lags`.
async fn feed(mut response: reqwest::Response, lags: mpsc::UnboundedSender<u64>) {
    let mut text = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if !block.lines().any(|line| line == "event: notification") {
                continue;
            }
            let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: ")) else {
                continue;
            };
            let meant_for = serde_json::from_str::<Value>(data)
                .ok()
                .and_then(|value| value["meant_for"].as_str().map(str::to_owned))
                .and_then(|text| chrono::DateTime::parse_from_rfc3339(&text).ok());
            if let Some(meant_for) = meant_for {
                let lag = chrono::Utc::now().signed_duration_since(meant_for);
                let micros = lag.num_microseconds().unwrap_or(0).max(0);
                let _ = lags.send(u64::try_from(micros).unwrap_or(0));
            }
        }
    }
}

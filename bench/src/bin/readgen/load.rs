//! The load: the clients over the warmup and the measured window, progress
//! on stderr, and the sampler of the service's process (`--pid`).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bench::{report_progress, ProcSampler, ProcSummary};
use tokio::task::JoinSet;

use crate::cli::Cli;
use crate::client::{drive, ClientStats};
use crate::target::Target;

/// The clients over the warmup and the measured window, and what the sampled
/// process (`--pid`) did in that window.
pub async fn load(
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

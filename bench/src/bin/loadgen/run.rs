//! `loadgen run`: the customers of the ids file shared out among the
//! clients, the measured window, and the clients' figures added up into the
//! report.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bench::{print_json_line, read_ids, report_progress};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::cli::Cli;
use crate::client::{drive, ClientStats};
use crate::report::Report;
use crate::target::Target;

pub struct RunOptions<'a> {
    pub json_out: Option<&'a Path>,
    pub seed: u64,
    pub progress: Duration,
}

pub async fn run(
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
    let ids = read_ids(ids_path)?;
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

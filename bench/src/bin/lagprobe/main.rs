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

mod cli;
mod kafka;
mod load;
mod poller;
mod report;
mod watchers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bench::{print_json_line, ProcSampler};
use clap::Parser;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sqlx::{Connection, PgConnection};

use crate::cli::Cli;
use crate::load::Target;
use crate::report::{Report, ReportInput};
use crate::watchers::Watchers;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let token = cli.checked_token()?;
    let options = cli.connect_options()?;
    let mut setup = PgConnection::connect_with(&options)
        .await
        .context("connecting to the database")?;
    let mut rng = StdRng::seed_from_u64(cli.seed);
    let slots = load::customers(&cli, &mut setup, &mut rng).await?;
    let target = Arc::new(Target::new(&cli, &token)?);
    let mut watchers = Watchers::start(&cli, &options).await?;

    let start = Instant::now();
    let measure_from = start + cli.warmup;
    let measure_until = measure_from + cli.duration;
    let sampler = cli
        .pid
        .map(|pid| ProcSampler::start_at(pid, measure_from, Duration::from_millis(250)));
    let load = load::run(&cli, target, &slots, &mut rng, (start, measure_until)).await?;
    let last_answer = load
        .commands
        .iter()
        .map(|command| command.answered)
        .max()
        .unwrap_or(measure_until);
    let process = match sampler {
        Some(sampler) => sampler.finish().await,
        None => None,
    };

    let positions: Vec<i64> = load.commands.iter().filter_map(|c| c.position).collect();
    let tx_of = poller::event_transactions(&mut setup, &positions).await?;
    let settled = watchers.settle(&cli, &positions, &tx_of).await;
    let seen = watchers.finish().await?;

    let report = Report::new(
        &cli,
        ReportInput {
            commands: &load.commands,
            tx_of: &tx_of,
            observations: &seen.observations,
            window: (measure_from, measure_until),
            scheduled: load.scheduled,
            skipped_busy: load.skipped_busy,
            settled,
            settle_s: Instant::now()
                .saturating_duration_since(last_answer)
                .as_secs_f64(),
            process,
            customers: slots.len(),
            arrivals: seen.arrivals.as_ref(),
            offsets: seen.offsets.as_deref(),
        },
    );
    report.print_human();
    print_json_line(&report, cli.json_out.as_deref())
}

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

mod cli;
mod client;
mod report;
mod run;
mod setup;
mod target;

use std::sync::Arc;

use anyhow::{bail, Context};
use bench::http_client;
use clap::Parser;

use crate::cli::{Cli, Phase};
use crate::run::{run, RunOptions};
use crate::setup::setup;
use crate::target::Target;

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

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

mod cli;
mod client;
mod first_answer;
mod load;
mod report;
mod target;

use std::sync::Arc;

use anyhow::bail;
use bench::print_json_line;
use clap::Parser;

use crate::cli::Cli;
use crate::first_answer::first_answer;
use crate::load::load;
use crate::report::Report;
use crate::target::Target;

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

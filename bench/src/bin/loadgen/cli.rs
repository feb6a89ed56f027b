//! The command line of `loadgen`: options shared by both phases, and the
//! phases themselves (`setup`, `run`).

use std::path::PathBuf;
use std::time::Duration;

use bench::parse_duration;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "HTTP load generator for the CRM command API"
)]
pub struct Cli {
    /// Base URL of the service.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Bearer token (manager or admin of one tenant).
    #[arg(long, global = true, env = "BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Number of customers (setup registers them; run uses the first ones of the ids file).
    #[arg(long, global = true, default_value_t = 10_000)]
    pub customers: usize,
    /// Concurrent clients (each has one request in flight at a time).
    #[arg(long, global = true, default_value_t = 64)]
    pub clients: usize,
    /// Unmeasured time at the start of `run` (e.g. 5s, 500ms, 1m).
    #[arg(long, global = true, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Measured time of `run` after the warmup.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Per-request timeout.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(subcommand)]
    pub phase: Phase,
}

#[derive(Debug, Subcommand)]
pub enum Phase {
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

//! The command line of `readgen`: the route to load and how hard, and the
//! routes it knows.

use std::path::PathBuf;
use std::time::Duration;

use bench::parse_duration;
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Route {
    List,
    Search,
    Detail,
    Funnel,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::List => "list",
            Route::Search => "search",
            Route::Detail => "detail",
            Route::Funnel => "funnel",
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "readgen",
    about = "HTTP load generator for the CRM read routes"
)]
pub struct Cli {
    /// Base URL of the service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Bearer token (a manager sees the whole tenant).
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The route to load.
    #[arg(long, value_enum)]
    pub route: Route,
    /// Search text for `search` (sent URL-encoded as `q`).
    #[arg(long)]
    pub q: Option<String>,
    /// Customer ids for `detail`, one per line.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// Name of the run in the report (default: the route's name).
    #[arg(long)]
    pub label: Option<String>,
    /// Concurrent clients (each has one request in flight at a time).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Unmeasured time at the start (e.g. 5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Measured time after the warmup.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Seed of the id choice (each client adds its number).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Process to sample (VmRSS, VmHWM, CPU time) during the measured window.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Also write the JSON result line to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Print answers per second to stderr every so often (0s: never).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub progress: Duration,
}

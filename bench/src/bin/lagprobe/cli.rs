//! The command line of `lagprobe`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use bench::parse_duration;
use clap::Parser;
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "lagprobe",
    about = "Projection lag of the CRM read model under a steady command rate"
)]
pub struct Cli {
    /// Base URL of the service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Bearer token of a manager of `--tenant`.
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The service's database (read only: customers, checkpoints, event tx).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Tenant whose customers receive the commands.
    #[arg(long)]
    pub tenant: Uuid,
    /// Commands per second.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Unmeasured time at the start.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Measured time after the warmup.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Interval between checkpoint polls.
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    pub poll: Duration,
    /// Most commands in flight at once (a send waits for a free slot beyond it).
    #[arg(long, default_value_t = 512)]
    pub max_in_flight: usize,
    /// How long to wait after the last answer for the projections to catch up.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub settle: Duration,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Seed of the customer order and command choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Process to sample (VmRSS, VmHWM, CPU time) during the measured window.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Also write the JSON result line to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Also time each event's arrival on the Kafka topic at these brokers.
    #[arg(long)]
    pub kafka_brokers: Option<String>,
    #[arg(long, default_value = "crm.events.v1")]
    pub kafka_topic: String,
    /// Time visibility through this Kafka-fed projectors' consumer group
    /// (needs --kafka-brokers) instead of waiting for PostgreSQL-fed checkpoints.
    #[arg(long, requires = "kafka_brokers")]
    pub kafka_group: Option<String>,
}

impl Cli {
    /// Checks the numbers and returns the bearer token.
    pub fn checked_token(&self) -> anyhow::Result<String> {
        if !(self.rate > 0.0 && self.rate.is_finite()) {
            bail!("--rate must be positive");
        }
        if self.max_in_flight == 0 {
            bail!("--max-in-flight must be at least 1");
        }
        self.token
            .clone()
            .context("--token (or BENCH_TOKEN) is required")
    }

    /// How to connect to the service's database.
    pub fn connect_options(&self) -> anyhow::Result<PgConnectOptions> {
        let options: PgConnectOptions = self
            .database_url
            .parse()
            .context("--database-url is not a PostgreSQL URL")?;
        Ok(options.application_name("lagprobe"))
    }
}

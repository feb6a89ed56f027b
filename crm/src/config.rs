//! Typed configuration: every setting is a flag with an environment variable,
//! validated before anything starts. This file is the one place they are
//! documented (README's Configuration table mirrors it).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;
use web::Role;

mod oidc;
mod wechat;

pub use oidc::OidcArgs;
pub use wechat::WeChatArgs;

#[derive(Debug, Parser)]
#[command(
    name = "crm",
    version,
    about = "Event-sourced CRM service for small and medium enterprises"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (applies pending migrations first).
    Serve(ServeArgs),
    /// Apply pending migrations to DATABASE_URL and exit.
    Migrate(MigrateArgs),
    /// Print a signed JWT for calling the API.
    Token(TokenArgs),
    /// Run, inspect or rebuild the read-model projections.
    Projector {
        #[command(subcommand)]
        action: ProjectorCommand,
    },
    /// Append realistic, hash-chained history in bulk (demos, benchmarks).
    Seed(SeedArgs),
    /// Print a tenant's event stream as NDJSON (CloudEvents), as analysts get it without Kafka.
    Stream(StreamArgs),
    /// Export or verify the history auditors rely on.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Create a tenant and its first admin.
    Tenant {
        #[command(subcommand)]
        action: TenantCommand,
    },
    /// Relay the event store to the Kafka topic until Ctrl-C/SIGTERM
    /// (what `serve` does when KAFKA_BROKERS is set).
    Relay(RelayArgs),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and its first admin; prints the tenant id and the
    /// admin's one-time password (shown once: the admin changes it after
    /// signing in).
    Create(TenantCreateArgs),
}

#[derive(Debug, Args)]
pub struct TenantCreateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant's name (the company), 1–100 characters.
    #[arg(long)]
    pub name: String,
    /// The first admin's login: 1–64 characters, one line, never changed.
    #[arg(long)]
    pub admin_login: String,
    /// The first admin's display name (default: the login).
    #[arg(long)]
    pub admin_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Relay what is committed now, print how many events and how fast, exit.
    #[arg(long)]
    pub until_caught_up: bool,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// Where the Kafka topic is. Without brokers the stream is served over HTTP
/// only; the relay catches up whenever it runs (nothing is lost).
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, `host:port[,host:port…]`.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,

    /// The topic events are relayed to (and Kafka-fed projectors read).
    #[arg(long, env = "CRM_KAFKA_TOPIC", default_value = relay::DEFAULT_TOPIC)]
    pub kafka_topic: String,

    /// Partitions of the topic when the relay creates it.
    #[arg(long, env = "CRM_KAFKA_PARTITIONS", default_value_t = relay::DEFAULT_PARTITIONS,
          value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub kafka_partitions: i32,

    /// Replication factor of the topic when the relay creates it.
    #[arg(long, env = "CRM_KAFKA_REPLICATION", default_value_t = 1,
          value_parser = clap::value_parser!(i32).range(1..=100))]
    pub kafka_replication: i32,
}

impl KafkaArgs {
    /// The relay's settings, when brokers are configured.
    pub fn relay(&self) -> Option<relay::RelayConfig> {
        self.kafka_brokers
            .as_ref()
            .map(|brokers| relay::RelayConfig {
                topic: self.kafka_topic.clone(),
                partitions: self.kafka_partitions,
                replication: self.kafka_replication,
                ..relay::RelayConfig::new(brokers.clone())
            })
    }
}

/// Where projections read events from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProjectorSource {
    /// The event store itself, in commit order.
    Postgres,
    /// The Kafka topic, as a member of a consumer group (scale out).
    Kafka,
}

#[derive(Debug, Args)]
pub struct ProjectorRunArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Read events from the event store or from the Kafka topic.
    #[arg(long, env = "CRM_PROJECTOR_SOURCE", value_enum, default_value_t = ProjectorSource::Postgres)]
    pub source: ProjectorSource,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Consumer group of Kafka-fed projectors (members share the partitions).
    #[arg(long, env = "CRM_KAFKA_GROUP", default_value = projector::kafka::DEFAULT_GROUP)]
    pub kafka_group: String,
    /// Where a Kafka-fed projector starts reading a partition it is assigned:
    /// the group's committed offset, or the partition's start every time (for
    /// brokers that cannot fetch from inside a record batch, such as tansu 0.6).
    #[arg(long, env = "CRM_KAFKA_RESUME", value_enum, default_value_t = KafkaResume::Committed)]
    pub kafka_resume: KafkaResume,
    /// Apply what is there now, print how many events and how fast, exit.
    #[arg(long)]
    pub until_caught_up: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KafkaResume {
    Committed,
    Beginning,
}

impl From<KafkaResume> for projector::kafka::Resume {
    fn from(resume: KafkaResume) -> Self {
        match resume {
            KafkaResume::Committed => projector::kafka::Resume::Committed,
            KafkaResume::Beginning => projector::kafka::Resume::Beginning,
        }
    }
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    #[arg(long)]
    pub tenant: Uuid,
    /// The `position` of the last event already received (0: from the start).
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// Keep following new events until Ctrl-C (otherwise stop at the end).
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write a tenant's events (or one customer's) to stdout as NDJSON.
    Export {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        customer: Option<Uuid>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Recompute every stream's hash chain; exit non-zero on a break.
    Verify {
        #[arg(long)]
        tenant: Uuid,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectorCommand {
    /// Keep every projection up to date until Ctrl-C/SIGTERM.
    Run(ProjectorRunArgs),
    /// Print each projection's checkpoint and lag, and the dead-lettered events.
    Status(DatabaseArgs),
    /// Apply dead-lettered events of a projection again (after a fix); each
    /// affected customer's stream is folded again from its first event.
    Retry {
        /// customers or timeline.
        name: String,
        /// Only the dead letter at this global position.
        #[arg(long)]
        position: Option<i64>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Rebuild a projection (or `all`) from the first event while the service keeps answering.
    Rebuild {
        /// customers, timeline or all.
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Number of tenants.
    #[arg(long, default_value_t = 10)]
    pub tenants: usize,
    /// Customers over all tenants.
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    /// Customers of the largest tenant (the rest are spread evenly).
    #[arg(long, default_value_t = 5_000)]
    pub largest_tenant: usize,
    /// Average events per customer, registration included.
    #[arg(long, default_value_t = 10)]
    pub events_per_customer: usize,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. Without it, `serve` runs a private PostgreSQL under CRM_DATA_DIR.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// Folder for the private PostgreSQL and the generated secrets.
    #[arg(long, env = "CRM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Master key (64 hex characters) wrapping customers' data keys. Without
    /// it, one is generated and kept in CRM_DATA_DIR/master_key. Losing it
    /// makes every customer's personal data unreadable.
    #[arg(long, env = "CRM_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<Secret>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CRM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The mini-program's H5 build, served at `/app/` when it holds one
    /// (relative to the working directory).
    #[arg(long, env = "CRM_APP_DIR", default_value = "miniprogram/dist/h5")]
    pub app_dir: std::path::PathBuf,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// HS256 secret for JWTs (at least 32 bytes). Without it, one is generated
    /// and kept in CRM_DATA_DIR/jwt_secret.
    #[arg(long, env = "CRM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Size of the PostgreSQL connection pool.
    #[arg(long, env = "CRM_DB_MAX_CONNECTIONS", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub db_max_connections: u32,

    /// How long answers of the mini-program's read routes may be served from
    /// memory, in milliseconds (0: no answers kept). A projection's change to a
    /// tenant drops that tenant's answers at once, so this bounds only what
    /// changes with time alone (lifecycles "as of now").
    #[arg(long, env = "CRM_READ_CACHE_TTL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub read_cache_ttl_ms: u64,

    /// How long `crm serve` keeps a customer's read-model record for the
    /// detail and profile routes, in milliseconds (0: not at all). A
    /// projection's change to the tenant drops its records at once and
    /// profiles are computed from the record at each request, so this bounds
    /// only changes made behind the projectors' back.
    #[arg(long, env = "CRM_READ_CACHE_RECORD_TTL_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub read_cache_record_ttl_ms: u64,

    /// Memory for cached read answers, records and managers' team scopes, in
    /// MiB (0: no cache at all).
    #[arg(long, env = "CRM_READ_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub read_cache_mb: u64,

    /// Sign-in attempts allowed per login in five minutes (then 429).
    #[arg(long, env = "CRM_SIGN_IN_ATTEMPTS_PER_LOGIN", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub sign_in_attempts_per_login: u32,

    /// Sign-in attempts allowed per client address in five minutes (then 429).
    #[arg(long, env = "CRM_SIGN_IN_ATTEMPTS_PER_ADDRESS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub sign_in_attempts_per_address: u32,

    /// Run the projectors inside the service (turn off when `crm projector run` runs elsewhere).
    #[arg(long, env = "CRM_PROJECTOR", default_value_t = true, action = clap::ArgAction::Set)]
    pub projector: bool,

    /// Create a demo tenant with realistic customers and print a manager token.
    #[arg(long)]
    pub demo: bool,

    /// The relay runs inside the service when KAFKA_BROKERS is set.
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// WeChat sign-in, when its AppID and AppSecret are set.
    #[command(flatten)]
    pub wechat: WeChatArgs,

    /// Tenant webhooks: where deliveries may go, timeouts, retries (boxed,
    /// as the OIDC settings: they would make every `Command` larger).
    #[command(flatten)]
    pub webhooks: Box<WebhookArgs>,

    /// An external identity provider whose RS256/ES256 tokens are accepted
    /// too (boxed: nine settings, on the stack of every `Command`).
    #[command(flatten)]
    pub oidc: Box<OidcArgs>,
}

impl ServeArgs {
    pub fn sign_in_limits(&self) -> command::http::sessions::AttemptLimits {
        command::http::sessions::AttemptLimits {
            per_login: self.sign_in_attempts_per_login,
            per_address: self.sign_in_attempts_per_address,
        }
    }

    pub fn read_cache(&self) -> query::CacheSettings {
        query::CacheSettings {
            time_to_live: Duration::from_millis(self.read_cache_ttl_ms),
            record_time_to_live: Duration::from_millis(self.read_cache_record_ttl_ms),
            max_bytes: usize::try_from(self.read_cache_mb << 20).unwrap_or(usize::MAX),
        }
    }
}

/// Tenant webhooks (`/v1/webhooks`): the outbox reader and sender run in
/// every `crm serve`.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Allow endpoints on loopback, private, link-local and unique-local
    /// addresses (off: such URLs are refused at registration and at send time).
    #[arg(long, env = "CRM_WEBHOOKS_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhooks_allow_private: bool,

    /// How long one delivery attempt may take, in milliseconds.
    #[arg(long, env = "CRM_WEBHOOKS_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=120_000))]
    pub webhooks_timeout_ms: u64,

    /// The waits between attempts, comma-separated with units (ms, s, m, h);
    /// after the attempt that follows the last wait, a dead letter.
    #[arg(long, env = "CRM_WEBHOOKS_RETRY_SCHEDULE", default_value = webhooks::schedule::DEFAULT_SCHEDULE,
          value_parser = parse_retry_schedule)]
    pub webhooks_retry_schedule: webhooks::RetrySchedule,

    /// Dead letters in a row after which an endpoint is disabled (0: never).
    #[arg(long, env = "CRM_WEBHOOKS_DISABLE_AFTER", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub webhooks_disable_after: u32,

    /// Deliveries in flight per `crm serve` process.
    #[arg(long, env = "CRM_WEBHOOKS_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub webhooks_concurrency: u32,
}

fn parse_retry_schedule(text: &str) -> Result<webhooks::RetrySchedule, String> {
    text.parse()
}

impl WebhookArgs {
    pub fn settings(&self) -> webhooks::WebhookSettings {
        webhooks::WebhookSettings {
            addresses: webhooks::AddressPolicy {
                allow_private: self.webhooks_allow_private,
            },
            timeout: Duration::from_millis(self.webhooks_timeout_ms),
            retries: self.webhooks_retry_schedule.clone(),
            disable_after_dead_letters: self.webhooks_disable_after,
            concurrency: usize::try_from(self.webhooks_concurrency).unwrap_or(32),
            ..webhooks::WebhookSettings::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL URL to migrate.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Tenant id (UUID).
    #[arg(long)]
    pub tenant: Uuid,
    /// User id (the `sub` claim).
    #[arg(long)]
    pub user: String,
    /// rep, manager, admin or auditor.
    #[arg(long)]
    pub role: Role,
    /// Lifetime, e.g. 30m, 12h, 7d.
    #[arg(long, default_value = "12h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// HS256 secret; defaults to the one `serve` generated in CRM_DATA_DIR.
    #[arg(long, env = "CRM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    /// Where `serve` keeps its generated secret.
    #[arg(long, env = "CRM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

/// A value that must never reach a log: Debug prints a placeholder.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// `90s`, `30m`, `12h`, `7d`.
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{raw:?} needs a unit: s, m, h or d (e.g. 12h)"))?;
    let (number, unit) = raw.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} must start with a whole number"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit {other:?}: use s, m, h or d")),
    };
    if number == 0 {
        return Err("the lifetime must be positive".to_owned());
    }
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{raw:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_accepts_units_and_refuses_nonsense() {
        assert_eq!(parse_ttl("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_ttl("12").is_err());
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("3w").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let secret: Secret = "hunter2hunter2".parse().expect("secret");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

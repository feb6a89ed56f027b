//! The running server's lifecycle: one owner for initdb, pg_ctl and the first
//! connection, so that a server we started (or adopted after a crash) is always
//! stopped again, explicitly by `crm` or by `Drop` as a safety net.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::Connection;
use tokio::process::Command;
use tracing::{debug, info, warn};

use super::binaries::find_bin_dir;
use super::command_line::{ensure_shell_safe, server_options, socket_path_fits};
use super::data_dir::{prepare_cluster_dir, prepare_data_dir, prepare_log_file};
use super::ports::{choose_port, parse_port, pid_file_port};
use super::server_user::{running_as_root, server_user, ServerUser, SERVER_USER};

/// The database the service uses.
const DATABASE: &str = "crm";
/// Passed to `pg_ctl -t`: crash recovery after an unclean stop can take a while.
const START_TIMEOUT_SECS: u32 = 60;
/// How long to keep retrying the first connection (a reused server may still be recovering).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of the end of `pg.log` to quote when the server fails to start.
const LOG_TAIL_BYTES: u64 = 4096;

/// A running private PostgreSQL server. Call [`EmbeddedPostgres::stop`] to shut it
/// down; dropping it without doing so requests a fast shutdown as a safety net.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    /// Absolute data directory; also the working directory of every child process.
    data_dir: PathBuf,
    /// Absolute cluster directory (`<data_dir>/pg`).
    cluster_dir: PathBuf,
    port: u16,
    url: String,
    /// `Some` when we are root and must drop privileges for initdb/pg_ctl.
    run_as: Option<ServerUser>,
    /// Whether `Drop` still owes the server a shutdown.
    running: bool,
}

impl EmbeddedPostgres {
    /// Initialises (first time) and starts a private server under `data_dir` (e.g. ./data),
    /// creates database `crm` if missing, and returns once it accepts connections.
    pub async fn start(data_dir: &Path) -> Result<Self> {
        let bin_dir = find_bin_dir().await?;
        let run_as = if running_as_root() {
            Some(server_user()?)
        } else {
            None
        };
        let data_dir = prepare_data_dir(data_dir, run_as)?;
        let cluster_dir = data_dir.join("pg");
        let log_file = data_dir.join("pg.log");
        let port_file = data_dir.join("pg.port");
        // pg_ctl splices -D and -l into a /bin/sh command line inside double quotes;
        // both paths share this prefix, so checking it once covers them.
        ensure_shell_safe(&data_dir)?;
        prepare_cluster_dir(&cluster_dir, run_as)?;
        prepare_log_file(&log_file, run_as)?;

        let mut pg = Self {
            bin_dir,
            data_dir,
            cluster_dir,
            port: 0,
            url: String::new(),
            run_as,
            running: false,
        };

        if !pg.cluster_dir.join("PG_VERSION").is_file() {
            pg.initdb().await?;
        }

        let stored_port = fs::read_to_string(&port_file)
            .ok()
            .and_then(|text| parse_port(&text));
        let port = if pg.is_running().await? {
            // Left over from a crash (or a kill -9 of crm): adopt it rather than
            // fail on the lock file. postmaster.pid records the port it really uses.
            let port = fs::read_to_string(pg.cluster_dir.join("postmaster.pid"))
                .ok()
                .and_then(|text| pid_file_port(&text))
                .or(stored_port)
                .context("a PostgreSQL server is already running on the cluster, but its port is unknown (no pg.port); stop it with `pg_ctl stop -D <data_dir>/pg`")?;
            info!(data_dir = %pg.data_dir.display(), port, "reusing the private PostgreSQL that is already running");
            port
        } else {
            let port = choose_port(stored_port)?;
            pg.pg_ctl_start(port, &log_file).await?;
            port
        };
        pg.port = port;
        pg.url = format!("postgres://{SERVER_USER}@127.0.0.1:{port}/{DATABASE}");
        // From here on the server is ours: if anything below fails, Drop stops it.
        pg.running = true;
        if stored_port != Some(port) {
            fs::write(&port_file, format!("{port}\n"))
                .with_context(|| format!("cannot write {}", port_file.display()))?;
        }

        pg.ensure_database().await?;
        Ok(pg)
    }

    /// postgres://postgres@127.0.0.1:<port>/crm
    pub fn database_url(&self) -> &str {
        &self.url
    }

    /// Stops the server cleanly (`pg_ctl stop -m fast -w`). A server that is
    /// already gone counts as stopped.
    pub async fn stop(mut self) -> Result<()> {
        // Whatever happens below, Drop must not try a second time.
        self.running = false;
        info!(data_dir = %self.data_dir.display(), port = self.port, "stopping the private PostgreSQL");
        let output = self
            .pg_ctl()
            .arg("stop")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-w"])
            .output()
            .await
            .context("cannot run pg_ctl stop");
        let output = match output {
            Ok(output) => output,
            Err(error) => {
                warn!(error = %format!("{error:#}"), "cannot stop the private PostgreSQL");
                return Err(error);
            }
        };
        if output.status.success() {
            info!(data_dir = %self.data_dir.display(), "the private PostgreSQL stopped");
            return Ok(());
        }
        // pg_ctl fails when there is nothing to stop; ask `status` rather than
        // parse its (translated) message.
        if let Ok(false) = self.is_running().await {
            warn!(data_dir = %self.data_dir.display(), "the private PostgreSQL was not running");
            return Ok(());
        }
        let error = anyhow!(
            "pg_ctl stop failed ({}): {}",
            output.status,
            describe(&output)
        );
        warn!(error = %error, "cannot stop the private PostgreSQL");
        Err(error)
    }

    /// A command for one of the server programs, as the server user, from a
    /// directory that user can enter (PostgreSQL's tools call getcwd() at startup
    /// and give up if the inherited working directory is unreadable, e.g. /root).
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command
            .current_dir(&self.data_dir)
            .stdin(Stdio::null())
            // Configuration meant for clients (e.g. an exported PGDATA) must not
            // redirect the tools away from our cluster.
            .env_remove("PGDATA");
        if let Some(user) = self.run_as {
            // std also clears supplementary groups when a root parent sets uid.
            command.uid(user.uid).gid(user.gid);
        }
        command
    }

    fn pg_ctl(&self) -> Command {
        self.command("pg_ctl")
    }

    async fn initdb(&self) -> Result<()> {
        info!(data_dir = %self.data_dir.display(), "initialising the private PostgreSQL cluster");
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args([
                "-U",
                SERVER_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .output()
            .await
            .context("cannot run initdb")?;
        if !output.status.success() {
            bail!(
                "initdb -D {} failed ({}): {}",
                self.cluster_dir.display(),
                output.status,
                describe(&output)
            );
        }
        Ok(())
    }

    /// `pg_ctl status`: exit 0 means running, 3 means not running; anything
    /// else (4: no accessible data directory) is an error worth reporting.
    async fn is_running(&self) -> Result<bool> {
        let output = self
            .pg_ctl()
            .arg("status")
            .arg("-D")
            .arg(&self.cluster_dir)
            .output()
            .await
            .context("cannot run pg_ctl status")?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => bail!(
                "pg_ctl status failed ({}): {}",
                output.status,
                describe(&output)
            ),
        }
    }

    async fn pg_ctl_start(&self, port: u16, log_file: &Path) -> Result<()> {
        info!(data_dir = %self.data_dir.display(), port, "starting the private PostgreSQL");
        let socket_dir = self
            .cluster_dir
            .to_str()
            .filter(|dir| socket_path_fits(dir, port));
        if socket_dir.is_none() {
            // Only the Unix socket is lost; we connect over TCP anyway.
            info!(data_dir = %self.data_dir.display(), "data directory path too long for a Unix socket; listening on TCP only");
        }
        let output = self
            .pg_ctl()
            .arg("start")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-w", "-t", &START_TIMEOUT_SECS.to_string()])
            .arg("-l")
            .arg(log_file)
            .arg("-o")
            .arg(server_options(port, socket_dir))
            // A process group of its own (inherited by the postmaster) keeps a
            // terminal Ctrl-C from killing the database under crm's graceful shutdown.
            .process_group(0)
            .output()
            .await
            .context("cannot run pg_ctl start")?;
        if !output.status.success() {
            bail!(
                "pg_ctl start failed ({}): {}\n--- end of {} ---\n{}",
                output.status,
                describe(&output),
                log_file.display(),
                log_tail(log_file)
            );
        }
        Ok(())
    }

    /// Creates the `crm` database unless it exists.
    async fn ensure_database(&self) -> Result<()> {
        // Our cluster trusts loopback and has no TLS; client settings meant for other
        // servers (~/.pgpass, PGSSLMODE=require) must not get in the way.
        let options = PgConnectOptions::new_without_pgpass()
            .ssl_mode(PgSslMode::Disable)
            .host("127.0.0.1")
            .port(self.port)
            .username(SERVER_USER)
            .database("postgres")
            .application_name("crm-embedded");
        let mut connection = connect_with_retry(&options).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut connection)
                .await
                .context("cannot query pg_database")?;
        if !exists {
            // raw_sql uses the simple protocol; CREATE DATABASE cannot be a prepared statement
            // inside an implicit transaction.
            match sqlx::raw_sql("CREATE DATABASE crm")
                .execute(&mut connection)
                .await
            {
                Ok(_) => info!(database = DATABASE, "created the database"),
                // Another process created it between our check and now: fine.
                Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42P04") => {}
                Err(error) => return Err(error).context("cannot create database crm"),
            }
        }
        if let Err(error) = connection.close().await {
            debug!(%error, "closing the setup connection failed");
        }
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    /// Safety net for early returns and panics between `start` and `stop`.
    /// Drop cannot await, so this uses a blocking std command with `-W` (do not
    /// wait): pg_ctl only signals the postmaster, which is quick.
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        warn!(data_dir = %self.data_dir.display(), "the private PostgreSQL was not stopped explicitly; requesting a fast shutdown");
        let mut command = std::process::Command::new(self.bin_dir.join("pg_ctl"));
        command
            .arg("stop")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-W"])
            .current_dir(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(user) = self.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        match command.status() {
            Ok(status) if status.success() => {}
            Ok(status) => warn!(%status, "pg_ctl stop failed"),
            Err(error) => warn!(%error, "cannot run pg_ctl stop"),
        }
    }
}

/// Retries until the server accepts connections: a server we adopted may still
/// be in crash recovery even though pg_ctl reports it as running.
async fn connect_with_retry(options: &PgConnectOptions) -> Result<PgConnection> {
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        match PgConnection::connect_with(options).await {
            Ok(connection) => return Ok(connection),
            Err(error) if tokio::time::Instant::now() < deadline => {
                debug!(%error, "the private PostgreSQL is not accepting connections yet");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => {
                return Err(error).context("the private PostgreSQL does not accept connections")
            }
        }
    }
}

/// stderr (or stdout if stderr is empty) of a finished tool, for error messages.
fn describe(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = if stderr.trim().is_empty() {
        String::from_utf8_lossy(&output.stdout)
    } else {
        stderr
    };
    text.trim().to_owned()
}

/// The last few KiB of the server log: that is where PostgreSQL explains why it
/// did not start (version mismatch, port in use, permissions...).
fn log_tail(path: &Path) -> String {
    let read = || -> io::Result<String> {
        let mut file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_else(|error| format!("(cannot read the log: {error})"))
}

//! A private PostgreSQL server, run from the machine's installed server binaries.
//!
//! `crm serve` without `DATABASE_URL` should work out of the box, so instead of
//! asking operators to provision a database we initialise a cluster under the
//! data directory and run it on a loopback port:
//!
//! ```text
//! <data_dir>/pg/       the cluster (initdb output); also holds the Unix socket
//! <data_dir>/pg.log    the server log
//! <data_dir>/pg.port   the port, reused on later starts while it is free
//! ```
//!
//! The cluster uses `trust` authentication and listens on 127.0.0.1 only: it is
//! a convenience for single-machine setups, not a hardened deployment. Anyone
//! who can open a TCP connection to the loopback interface can connect as the
//! `postgres` superuser, so shared hosts should point `DATABASE_URL` at a
//! properly configured server instead.
//!
//! Unix-only: it relies on Unix ownership, permission bits and `pg_ctl`.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::Connection;
use tokio::process::Command;
use tracing::{debug, info, warn};

/// Overrides binary discovery with an explicit directory.
const PG_BIN_ENV: &str = "CRM_PG_BIN";
/// The three programs we run; a directory is only usable if it has all of them.
const REQUIRED_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// Where Debian/Ubuntu install one `bin/` per major version.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";
/// Both the OS account the server runs as when we are root and the database superuser.
const SERVER_USER: &str = "postgres";
/// The database the service uses.
const DATABASE: &str = "crm";
/// Passed to `pg_ctl -t`: crash recovery after an unclean stop can take a while.
const START_TIMEOUT_SECS: u32 = 60;
/// How long to keep retrying the first connection (a reused server may still be recovering).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of the end of `pg.log` to quote when the server fails to start.
const LOG_TAIL_BYTES: u64 = 4096;
/// `sun_path` capacity minus the terminating NUL; PostgreSQL refuses longer socket paths.
#[cfg(target_os = "linux")]
const MAX_SOCKET_PATH: usize = 107;
#[cfg(not(target_os = "linux"))]
const MAX_SOCKET_PATH: usize = 103;

const NOT_FOUND: &str = "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. \
Install them (Debian/Ubuntu: `apt-get install postgresql`; Fedora/RHEL: `dnf install postgresql-server`; \
macOS: `brew install postgresql@16`), or set CRM_PG_BIN to the directory that contains them, \
or set DATABASE_URL to use an existing server.";

/// An unprivileged account to run the server as (PostgreSQL refuses to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ServerUser {
    uid: u32,
    gid: u32,
}

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

// ---------------------------------------------------------------------------
// Binary discovery
// ---------------------------------------------------------------------------

/// `CRM_PG_BIN`, then `pg_config --bindir`, then the newest
/// /usr/lib/postgresql/*/bin, then wherever `initdb` on PATH lives.
async fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).filter(|dir| !dir.is_empty()) {
        // An explicit choice that does not work is an error, not a hint to guess.
        let dir = PathBuf::from(dir);
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        bail!(
            "{PG_BIN_ENV}={} does not contain initdb, pg_ctl and postgres",
            dir.display()
        );
    }
    let versions = fs::read_dir(DEBIAN_PG_ROOT)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let candidates = candidate_bin_dirs(
        pg_config_bindir().await,
        Path::new(DEBIAN_PG_ROOT),
        versions,
        initdb_dirs_on_path(),
    );
    let found = candidates.into_iter().find(|dir| has_server_binaries(dir));
    if let Some(dir) = &found {
        debug!(bin_dir = %dir.display(), "found PostgreSQL server binaries");
    }
    found.ok_or_else(|| anyhow!(NOT_FOUND))
}

/// Orders the discovered candidates by preference (pure, so it can be tested).
fn candidate_bin_dirs(
    pg_config: Option<PathBuf>,
    versioned_root: &Path,
    mut versions: Vec<String>,
    on_path: Vec<PathBuf>,
) -> Vec<PathBuf> {
    // Highest version first; names that are not versions (e.g. "common") are skipped.
    versions.retain(|name| version_key(name).is_some());
    versions.sort_by_key(|name| std::cmp::Reverse(version_key(name)));
    pg_config
        .into_iter()
        .chain(
            versions
                .iter()
                .map(|version| versioned_root.join(version).join("bin")),
        )
        .chain(on_path)
        .collect()
}

/// "9.6" -> [9, 6], "16" -> [16]; compares numerically so 16 > 9.6.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// `pg_config --bindir`, if pg_config exists and answers.
async fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (output.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Directories of every `initdb` on PATH: the directory as found, then the one
/// its symlink resolves to (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin).
fn initdb_dirs_on_path() -> Vec<PathBuf> {
    let Some(path) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    let mut dirs = Vec::new();
    for dir in std::env::split_paths(&path) {
        let initdb = dir.join("initdb");
        if !is_executable(&initdb) {
            continue;
        }
        dirs.push(dir);
        if let Some(real_dir) = fs::canonicalize(&initdb)
            .ok()
            .and_then(|real| real.parent().map(Path::to_path_buf))
        {
            if !dirs.contains(&real_dir) {
                dirs.push(real_dir);
            }
        }
    }
    dirs
}

fn has_server_binaries(dir: &Path) -> bool {
    REQUIRED_BINARIES
        .iter()
        .all(|program| is_executable(&dir.join(program)))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

// ---------------------------------------------------------------------------
// Users and permissions
// ---------------------------------------------------------------------------

/// /proc/self is owned by the effective uid; where it cannot be read (e.g.
/// macOS) assume not root and let PostgreSQL complain if that is wrong.
fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

fn server_user() -> Result<ServerUser> {
    let no_user = || {
        anyhow!(
            "running as root, and PostgreSQL refuses to run as root, but there is no `{SERVER_USER}` \
             system user to run it as. Create an unprivileged `{SERVER_USER}` user (installing the \
             postgresql package usually does), run crm as a non-root user, or set DATABASE_URL to \
             use an existing server"
        )
    };
    let passwd = fs::read_to_string("/etc/passwd").map_err(|_| no_user())?;
    parse_passwd_user(&passwd, SERVER_USER).ok_or_else(no_user)
}

/// Finds `name` in /etc/passwd contents (`name:password:uid:gid:gecos:home:shell`).
fn parse_passwd_user(passwd: &str, name: &str) -> Option<ServerUser> {
    passwd
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let mut fields = line.split(':');
            if fields.next()? != name {
                return None;
            }
            let _password = fields.next()?;
            let uid = fields.next()?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some(ServerUser { uid, gid })
        })
}

/// Whether `user` may search (traverse) a directory with these owner and mode
/// bits. Only the primary group counts: privileges are dropped without
/// supplementary groups.
fn can_traverse(mode: u32, owner: u32, group: u32, user: ServerUser) -> bool {
    let bit = if owner == user.uid {
        0o100
    } else if group == user.gid {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

/// Creates the data directory and returns its absolute path. When we are root,
/// makes sure the server user can reach it: the data directory itself gets
/// search permission if it lacks it (search only, not listing), but its parents
/// are left alone; an unreachable parent is reported instead.
fn prepare_data_dir(data_dir: &Path, run_as: Option<ServerUser>) -> Result<PathBuf> {
    fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let data_dir = fs::canonicalize(data_dir)
        .with_context(|| format!("cannot resolve the data directory {}", data_dir.display()))?;
    let Some(user) = run_as else {
        return Ok(data_dir);
    };
    let meta = fs::metadata(&data_dir)
        .with_context(|| format!("cannot inspect {}", data_dir.display()))?;
    if !can_traverse(meta.mode(), meta.uid(), meta.gid(), user) {
        let mode = meta.permissions().mode() | 0o111;
        fs::set_permissions(&data_dir, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot make {} searchable", data_dir.display()))?;
    }
    for dir in data_dir.ancestors().skip(1) {
        let meta =
            fs::metadata(dir).with_context(|| format!("cannot inspect {}", dir.display()))?;
        if !can_traverse(meta.mode(), meta.uid(), meta.gid(), user) {
            bail!(
                "the data directory {} is inside {}, which the `{SERVER_USER}` user (uid {}) cannot enter \
                 (mode {:o}); PostgreSQL runs as that user. Set CRM_DATA_DIR to a directory outside it \
                 (e.g. /var/lib/crm), or set DATABASE_URL to use an existing server",
                data_dir.display(),
                dir.display(),
                user.uid,
                meta.mode() & 0o7777
            );
        }
    }
    Ok(data_dir)
}

/// Creates `pg/` with the 0700 mode PostgreSQL insists on, owned by the server user.
fn prepare_cluster_dir(cluster_dir: &Path, run_as: Option<ServerUser>) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(cluster_dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot create {}", cluster_dir.display()))
        }
    }
    if let Some(user) = run_as {
        let meta = fs::symlink_metadata(cluster_dir)
            .with_context(|| format!("cannot inspect {}", cluster_dir.display()))?;
        if meta.uid() != user.uid || meta.gid() != user.gid {
            // A cluster created by someone else (e.g. an earlier non-root run)
            // must be handed over entirely, or the server cannot open its files.
            chown_tree(cluster_dir, user)?;
        }
    }
    Ok(())
}

/// Pre-creates the log so the server user can append to it even though it
/// cannot write to the (root-owned) data directory.
fn prepare_log_file(log_file: &Path, run_as: Option<ServerUser>) -> Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log_file)
        .with_context(|| format!("cannot create {}", log_file.display()))?;
    if let Some(user) = run_as {
        std::os::unix::fs::chown(log_file, Some(user.uid), Some(user.gid)).with_context(|| {
            format!(
                "cannot hand {} to the {SERVER_USER} user",
                log_file.display()
            )
        })?;
    }
    Ok(())
}

/// Recursive chown that never follows symlinks (tablespace links point elsewhere).
fn chown_tree(root: &Path, user: ServerUser) -> Result<()> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        std::os::unix::fs::lchown(&path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("cannot hand {} to the {SERVER_USER} user", path.display()))?;
        let meta = fs::symlink_metadata(&path)
            .with_context(|| format!("cannot inspect {}", path.display()))?;
        if meta.is_dir() {
            for entry in
                fs::read_dir(&path).with_context(|| format!("cannot list {}", path.display()))?
            {
                pending.push(
                    entry
                        .with_context(|| format!("cannot list {}", path.display()))?
                        .path(),
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Ports, command lines and files
// ---------------------------------------------------------------------------

/// The stored port if nothing listens on it, else a fresh one from the kernel.
/// There is a small window before the server binds it; pg_ctl then fails and
/// the next start picks another port.
fn choose_port(stored: Option<u16>) -> Result<u16> {
    if let Some(port) = stored {
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
        info!(
            port,
            "the stored PostgreSQL port is taken; choosing another"
        );
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free TCP port on 127.0.0.1")?;
    Ok(listener
        .local_addr()
        .context("cannot read the chosen port")?
        .port())
}

fn parse_port(text: &str) -> Option<u16> {
    text.trim().parse().ok().filter(|&port| port != 0)
}

/// postmaster.pid line 4 is the port (PID, data dir, start time, port, ...).
fn pid_file_port(text: &str) -> Option<u16> {
    text.lines().nth(3).and_then(parse_port)
}

/// The `pg_ctl -o` string. pg_ctl passes it through /bin/sh, hence the quoting;
/// `-k ''` disables the Unix socket when the path would be too long.
fn server_options(port: u16, socket_dir: Option<&str>) -> String {
    let socket_dir = socket_dir.map_or_else(|| "''".to_owned(), shell_quote);
    format!("-p {port} -c listen_addresses=127.0.0.1 -k {socket_dir}")
}

fn socket_path_fits(dir: &str, port: u16) -> bool {
    format!("{dir}/.s.PGSQL.{port}").len() <= MAX_SOCKET_PATH
}

/// Single-quotes for /bin/sh: `'` becomes `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// pg_ctl puts -D and -l inside double quotes in a shell command, where these
/// characters would be interpreted; refuse them up front with a clear message.
fn ensure_shell_safe(path: &Path) -> Result<()> {
    let text = path
        .to_str()
        .with_context(|| format!("the data directory {} is not valid UTF-8", path.display()))?;
    if let Some(bad) = text
        .chars()
        .find(|c| matches!(c, '"' | '$' | '`' | '\\' | '\n'))
    {
        bail!(
            "the data directory {text:?} contains {bad:?}, which pg_ctl cannot handle; set CRM_DATA_DIR to a plainer path"
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
postgresql:x:998:998::/nonexistent:/usr/sbin/nologin

postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash
";

    #[test]
    fn passwd_lookup_matches_the_whole_name() {
        assert_eq!(
            parse_passwd_user(PASSWD, "postgres"),
            Some(ServerUser { uid: 101, gid: 104 })
        );
        assert_eq!(
            parse_passwd_user(PASSWD, "root"),
            Some(ServerUser { uid: 0, gid: 0 })
        );
        assert_eq!(parse_passwd_user(PASSWD, "postgre"), None);
        assert_eq!(parse_passwd_user(PASSWD, "nobody"), None);
    }

    #[test]
    fn passwd_lookup_skips_malformed_lines() {
        assert_eq!(
            parse_passwd_user("postgres:x:abc:1::/:/bin/sh", "postgres"),
            None
        );
        assert_eq!(parse_passwd_user("postgres:x", "postgres"), None);
    }

    #[test]
    fn candidates_are_ordered_by_preference() {
        let root = Path::new("/usr/lib/postgresql");
        let candidates = candidate_bin_dirs(
            Some(PathBuf::from("/opt/pg/bin")),
            root,
            vec!["9.6".into(), "16".into(), "common".into(), "15".into()],
            vec![PathBuf::from("/usr/local/bin")],
        );
        assert_eq!(
            candidates,
            vec![
                PathBuf::from("/opt/pg/bin"),
                PathBuf::from("/usr/lib/postgresql/16/bin"),
                PathBuf::from("/usr/lib/postgresql/15/bin"),
                PathBuf::from("/usr/lib/postgresql/9.6/bin"),
                PathBuf::from("/usr/local/bin"),
            ]
        );
    }

    #[test]
    fn candidates_without_pg_config() {
        let candidates = candidate_bin_dirs(None, Path::new("/x"), vec![], vec![]);
        assert!(candidates.is_empty());
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("16") > version_key("9.6"));
        assert!(version_key("10") > version_key("9"));
        assert_eq!(version_key("common"), None);
        assert_eq!(version_key(""), None);
    }

    #[test]
    fn traversal_uses_the_matching_permission_class() {
        let user = ServerUser { uid: 101, gid: 104 };
        assert!(!can_traverse(0o700, 0, 0, user)); // /root
        assert!(can_traverse(0o711, 0, 0, user));
        assert!(can_traverse(0o750, 0, 104, user)); // group member
        assert!(!can_traverse(0o705, 0, 104, user)); // group bits win over other
        assert!(can_traverse(0o700, 101, 0, user)); // owner
    }

    #[test]
    fn ports_are_parsed_strictly() {
        assert_eq!(parse_port("5433\n"), Some(5433));
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("70000"), None);
        assert_eq!(parse_port(""), None);
        let pid_file =
            "4242\n/data/pg\n1700000000\n5433\n/data/pg\n127.0.0.1\n  1234  5\nready   \n";
        assert_eq!(pid_file_port(pid_file), Some(5433));
        assert_eq!(pid_file_port("4242\n"), None);
    }

    #[test]
    fn server_options_quote_the_socket_dir() {
        assert_eq!(
            server_options(5433, Some("/tmp/it's data/pg")),
            r"-p 5433 -c listen_addresses=127.0.0.1 -k '/tmp/it'\''s data/pg'"
        );
        assert_eq!(
            server_options(5433, None),
            "-p 5433 -c listen_addresses=127.0.0.1 -k ''"
        );
    }

    #[test]
    fn long_socket_paths_are_detected() {
        assert!(socket_path_fits("/srv/crm/data/pg", 65535));
        assert!(!socket_path_fits(&format!("/{}", "d".repeat(100)), 5432));
    }

    #[test]
    fn shell_hostile_paths_are_refused() {
        assert!(ensure_shell_safe(Path::new("/srv/my data/crm")).is_ok());
        assert!(ensure_shell_safe(Path::new("/srv/$HOME")).is_err());
        assert!(ensure_shell_safe(Path::new("/srv/\"x\"")).is_err());
    }

    /// Needs the PostgreSQL server binaries; run with
    /// `cargo test -p crm embedded -- --ignored`.
    #[tokio::test]
    #[ignore = "starts a real PostgreSQL server"]
    async fn starts_stops_and_restarts_a_real_server() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("crm-embedded-{}", uuid::Uuid::new_v4()));
        let select_one = |url: String| async move {
            let mut connection = PgConnection::connect(&url).await?;
            let one: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&mut connection)
                .await?;
            connection.close().await?;
            anyhow::Ok(one)
        };

        let first = EmbeddedPostgres::start(&dir).await?;
        let url = first.database_url().to_owned();
        assert!(url.starts_with("postgres://postgres@127.0.0.1:") && url.ends_with("/crm"));
        assert_eq!(select_one(url.clone()).await?, 1);
        first.stop().await?;

        let second = EmbeddedPostgres::start(&dir).await?;
        assert_eq!(second.database_url(), url, "the stored port is reused");
        assert_eq!(select_one(url).await?, 1);
        second.stop().await?;

        fs::remove_dir_all(&dir)?;
        Ok(())
    }
}

//! What each subcommand does.

use std::path::Path;

use anyhow::Context;
use rand::RngCore;
use tokio::net::TcpListener;

use crate::app::{self, AppState};
use events::personal::MasterKey;
use indicatif::{ProgressBar, ProgressStyle};
use projector::Projection;
use sqlx::PgPool;
use store::keys::KeyStore;
use tokio::sync::watch;

use crate::config::{
    AuditCommand, Cli, Command, DatabaseArgs, MigrateArgs, ProjectorCommand, ProjectorRunArgs,
    ProjectorSource, RelayArgs, Secret, SeedArgs, ServeArgs, StreamArgs, TokenArgs,
};
use crate::embedded::EmbeddedPostgres;
use crate::{db, demo};
use web::JwtKeys;

const SECRET_FILE: &str = "jwt_secret";
const MASTER_KEY_FILE: &str = "master_key";

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Token(args) => token(args),
        Command::Projector { action } => projector_command(action).await,
        Command::Seed(args) => seed(args).await,
        Command::Audit { action } => audit(action).await,
        Command::Stream(args) => stream(args).await,
        Command::Relay(args) => relay_command(args).await,
    }
}

async fn relay_command(args: RelayArgs) -> anyhow::Result<()> {
    let config = args
        .kafka
        .relay()
        .context("KAFKA_BROKERS (or --kafka-brokers) is required for `crm relay`")?;
    if args.until_caught_up {
        return with_pool(&args.database, |pool, _data_keys| async move {
            let started = std::time::Instant::now();
            let relayed = relay::catch_up(pool, config).await?;
            report_rate("relayed", relayed as u64, started, None);
            Ok(())
        })
        .await;
    }
    with_pool(&args.database, |pool, _data_keys| async move {
        let (stop, stopped) = watch::channel(false);
        let relay = tokio::spawn(relay::run(
            pool,
            config,
            relay::RelayHealth::default(),
            stopped,
        ));
        shutdown_signal().await;
        let _ = stop.send(true);
        relay.await.context("the relay task failed")?;
        Ok(())
    })
    .await
}

async fn stream(args: StreamArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let StreamArgs {
        tenant,
        after,
        follow,
        database,
    } = args;
    with_pool(&database, |pool, data_keys| async move {
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
        listener.listen("crm_events").await?;
        let mut after = after;
        let mut out = std::io::BufWriter::new(std::io::stdout());
        let interrupted = shutdown_signal();
        tokio::pin!(interrupted);
        loop {
            let events = query::stream::read(&pool, &data_keys, tenant, after, 1_000).await?;
            for event in &events {
                serde_json::to_writer(&mut out, event)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            match events.last() {
                Some(last) => after = last.position,
                None if !follow => return Ok(()),
                None => {
                    tokio::select! {
                        () = &mut interrupted => return Ok(()),
                        _ = listener.recv() => {}
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    })
    .await
}

async fn audit(action: AuditCommand) -> anyhow::Result<()> {
    match action {
        AuditCommand::Export { tenant, customer, database } => {
            with_pool(&database, |pool, data_keys| async move {
                let mut out = std::io::BufWriter::new(std::io::stdout());
                let written = query::audit::export(&pool, &data_keys, tenant, customer, &mut out)
                    .await
                    .map_err(|error| anyhow::anyhow!("export failed: {error}"))?;
                eprintln!("exported {written} events");
                Ok(())
            })
            .await
        }
        AuditCommand::Verify { tenant, database } => {
            with_pool(&database, |pool, _data_keys| async move {
                let started = std::time::Instant::now();
                let report = query::audit::verify_tenant(&pool, tenant).await?;
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "tenant {tenant}: {} events in {} streams verified in {seconds:.2} s ({:.0} events/s)",
                    report.events,
                    report.streams,
                    report.events as f64 / seconds.max(1e-9)
                );
                for (customer, broken) in &report.breaks {
                    println!("BROKEN customer {customer} at sequence {}: {}", broken.sequence, broken.reason);
                }
                if report.breaks.is_empty() {
                    println!("all hash chains verify");
                    Ok(())
                } else {
                    anyhow::bail!("{} stream(s) fail verification", report.breaks.len())
                }
            })
            .await
        }
    }
}

/// Connects to DATABASE_URL, or to the private PostgreSQL under the data dir.
/// The returned server (if any) must be stopped by the caller.
async fn open_database(
    database: &DatabaseArgs,
) -> anyhow::Result<(String, Option<EmbeddedPostgres>)> {
    match &database.database_url {
        Some(url) => Ok((url.expose().to_owned(), None)),
        None => {
            let postgres = EmbeddedPostgres::start(&database.data_dir).await.context(
                "starting the private PostgreSQL (set DATABASE_URL to use your own server)",
            )?;
            Ok((postgres.database_url().to_owned(), Some(postgres)))
        }
    }
}

async fn stop_embedded(embedded: Option<EmbeddedPostgres>) {
    if let Some(postgres) = embedded {
        if let Err(error) = postgres.stop().await {
            tracing::error!(error = %format!("{error:#}"), "the private PostgreSQL did not stop cleanly");
        }
    }
}

/// Runs `work` against a migrated pool, then stops a private server if one was started.
async fn with_pool<F, Fut>(database: &DatabaseArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(PgPool, KeyStore) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let master = master_key(database)?;
    let (url, embedded) = open_database(database).await?;
    let outcome = async {
        let pool = db::connect(&url, 8).await?;
        db::migrate(&pool).await?;
        let data_keys = KeyStore::new(pool.clone(), master);
        work(pool, data_keys).await
    }
    .await;
    stop_embedded(embedded).await;
    outcome
}

async fn projector_command(action: ProjectorCommand) -> anyhow::Result<()> {
    match action {
        ProjectorCommand::Run(ProjectorRunArgs {
            database,
            source,
            kafka,
            kafka_group,
            kafka_resume,
            until_caught_up,
        }) => {
            let kafka_source = match source {
                ProjectorSource::Postgres => None,
                ProjectorSource::Kafka => Some(projector::kafka::KafkaSource {
                    group: kafka_group,
                    resume: kafka_resume.into(),
                    ..projector::kafka::KafkaSource::new(
                        kafka.kafka_brokers.context(
                            "KAFKA_BROKERS (or --kafka-brokers) is required with --source kafka",
                        )?,
                        kafka.kafka_topic,
                    )
                }),
            };
            if until_caught_up {
                return with_pool(&database, |pool, data_keys| async move {
                    let started = std::time::Instant::now();
                    let applied = match kafka_source {
                        None => {
                            projector::runner::catch_up(&pool, &data_keys, &Projection::ALL).await?
                                as u64
                        }
                        Some(kafka_source) => {
                            // Done once the topic has been quiet for a second,
                            // which the rate leaves out.
                            let (applied, last) = projector::kafka::catch_up(
                                &pool,
                                &data_keys,
                                &kafka_source,
                                &Projection::ALL,
                                std::time::Duration::from_secs(1),
                            )
                            .await?;
                            report_rate("applied", applied, started, last);
                            return Ok(());
                        }
                    };
                    report_rate("applied", applied, started, None);
                    Ok(())
                })
                .await;
            }
            with_pool(&database, |pool, data_keys| async move {
                let (stop, stopped) = watch::channel(false);
                let runner = match kafka_source {
                    None => tokio::spawn(projector::runner::run(
                        pool,
                        data_keys,
                        Projection::ALL.to_vec(),
                        stopped,
                    )),
                    Some(kafka_source) => tokio::spawn(projector::kafka::run(
                        pool,
                        data_keys,
                        kafka_source,
                        Projection::ALL.to_vec(),
                        stopped,
                    )),
                };
                shutdown_signal().await;
                let _ = stop.send(true);
                runner.await.context("the projector task failed")?;
                Ok(())
            })
            .await
        }
        ProjectorCommand::Status(database) => {
            with_pool(&database, |pool, _data_keys| async move {
                println!(
                    "{:<12} {:>14} {:>12} {:>12} {:>10}  updated",
                    "projection", "position", "applied", "lag events", "lag s"
                );
                for status in projector::runner::status(&pool).await? {
                    println!(
                        "{:<12} {:>14} {:>12} {:>12} {:>10.3}  {}",
                        status.name,
                        status.checkpoint.position,
                        status.events_applied,
                        status.lag_events,
                        status.lag_seconds,
                        status.updated_at.to_rfc3339()
                    );
                }
                let letters = store::dead_letters::list(&pool, None).await?;
                if letters.is_empty() {
                    println!("\nno dead-lettered events");
                } else {
                    println!(
                        "\ndead-lettered events (passed; `crm projector retry <projection>` applies them again):"
                    );
                    println!(
                        "{:<24} {:>14} {:<8} {:<36} {:<36} {:>8}  {:<25}  error",
                        "consumer", "position", "source", "event", "tenant", "attempts", "last seen"
                    );
                    for letter in letters {
                        let id = |id: Option<uuid::Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
                        println!(
                            "{:<24} {:>14} {:<8} {:<36} {:<36} {:>8}  {:<25}  {}",
                            letter.consumer,
                            letter.position,
                            letter.source,
                            id(letter.event_id),
                            id(letter.tenant_id),
                            letter.attempts,
                            letter.last_seen.to_rfc3339(),
                            letter.error
                        );
                    }
                }
                Ok(())
            })
            .await
        }
        ProjectorCommand::Retry {
            name,
            position,
            database,
        } => {
            let projection = Projection::parse(&name).with_context(|| {
                format!("unknown projection {name:?}: use customers or timeline")
            })?;
            with_pool(&database, |pool, data_keys| async move {
                let retried =
                    projector::runner::retry(&pool, &data_keys, projection, position).await?;
                for position in &retried.applied {
                    println!("{}: position {position} applied", projection.name());
                }
                for (position, error) in &retried.failing {
                    println!("{}: position {position} still fails: {error}", projection.name());
                }
                if retried.applied.is_empty() && retried.failing.is_empty() {
                    println!("{}: no dead-lettered events to retry", projection.name());
                }
                anyhow::ensure!(
                    retried.failing.is_empty(),
                    "{} event(s) still fail",
                    retried.failing.len()
                );
                Ok(())
            })
            .await
        }
        ProjectorCommand::Rebuild { name, database } => {
            let projections = if name == "all" {
                Projection::ALL.to_vec()
            } else {
                vec![Projection::parse(&name).with_context(|| {
                    format!("unknown projection {name:?}: use customers, timeline or all")
                })?]
            };
            with_pool(&database, |pool, data_keys| async move {
                let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} [{bar:40}] {pos}/{len} events {per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(names.join("+"));
                let started = std::time::Instant::now();
                let applied =
                    projector::runner::rebuild(&pool, &data_keys, &projections, |done, total| {
                        bar.set_length(total);
                        bar.set_position(done);
                    })
                    .await?;
                bar.finish();
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "{}: rebuilt from {applied} events in {seconds:.1} s ({:.0} events/s)",
                    names.join(", "),
                    applied as f64 / seconds.max(1e-9)
                );
                Ok(())
            })
            .await
        }
    }
}

/// Prints a count and its rate from `started` to `finished` (default: now).
fn report_rate(
    what: &str,
    events: u64,
    started: std::time::Instant,
    finished: Option<std::time::Instant>,
) {
    let seconds = finished
        .unwrap_or_else(std::time::Instant::now)
        .saturating_duration_since(started)
        .as_secs_f64();
    println!(
        "{what} {events} events in {seconds:.2} s ({:.0} events/s)",
        events as f64 / seconds.max(1e-9)
    );
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let master = master_key(&args.database)?;
    with_pool(&args.database, |pool, _data_keys| async move {
        let options = crate::seed::SeedOptions {
            tenants: args.tenants,
            customers: args.customers,
            largest_tenant: args.largest_tenant,
            events_per_customer: args.events_per_customer,
            seed: args.seed,
        };
        let bar = ProgressBar::new(u64::try_from(args.customers).unwrap_or(0));
        bar.set_style(
            ProgressStyle::with_template("seeding [{bar:40}] {pos}/{len} customers {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let report = crate::seed::run(&pool, &options, &master, &bar).await?;
        bar.finish();
        let seconds = report.elapsed.as_secs_f64();
        println!(
            "seeded {} customers, {} events in {seconds:.1} s ({:.0} events/s) across {} tenants; largest tenant {}",
            report.customers,
            report.events,
            report.events as f64 / seconds.max(1e-9),
            report.tenants.len(),
            report.tenants.first().map(ToString::to_string).unwrap_or_default()
        );
        Ok(())
    })
    .await
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = &args.database.data_dir;
    let keys = jwt_keys(args.jwt_secret.as_ref(), data_dir, true)?;
    let (database_url, embedded) = match &args.database.database_url {
        Some(url) => (url.expose().to_owned(), None),
        None => {
            let postgres = EmbeddedPostgres::start(data_dir).await.context(
                "starting the private PostgreSQL (set DATABASE_URL to use your own server)",
            )?;
            (postgres.database_url().to_owned(), Some(postgres))
        }
    };
    let outcome = serve_with(&args, &database_url, keys).await;
    if let Some(postgres) = embedded {
        if let Err(error) = postgres.stop().await {
            tracing::error!(error = %format!("{error:#}"), "the private PostgreSQL did not stop cleanly");
        }
    }
    outcome
}

async fn serve_with(args: &ServeArgs, database_url: &str, keys: JwtKeys) -> anyhow::Result<()> {
    let master = master_key(&args.database)?;
    let pool = db::connect(database_url, args.db_max_connections).await?;
    db::migrate(&pool).await?;
    let data_keys = KeyStore::new(pool.clone(), master);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (CRM_LISTEN)", args.listen))?;
    let address = listener.local_addr()?;
    if args.demo {
        let tenant = demo::seed(&pool, &data_keys)
            .await
            .context("creating the demo tenant")?;
        let token = keys.issue(
            tenant,
            "demo-manager",
            web::Role::Manager,
            std::time::Duration::from_secs(12 * 3600),
        );
        println!("Demo tenant {tenant} is ready.");
        println!("  API:   http://{address}/v1/customers");
        println!("  Docs:  http://{address}/openapi.json");
        println!("  Token (manager, 12h):\n{token}");
        println!("  Try:   curl -H \"Authorization: Bearer $TOKEN\" -H \"Content-Type: application/json\" -d '{{\"name\":\"张三\"}}' http://{address}/v1/customers");
    }
    tracing::info!(%address, "listening");
    let (stop, stopped) = watch::channel(false);
    let projector = args.projector.then(|| {
        tokio::spawn(projector::runner::run(
            pool.clone(),
            data_keys.clone(),
            Projection::ALL.to_vec(),
            stopped,
        ))
    });
    let relay_config = args.kafka.relay();
    let relay_health = relay::RelayHealth::default();
    let relay = relay_config.clone().map(|config| {
        tokio::spawn(relay::run(
            pool.clone(),
            config,
            relay_health.clone(),
            stop.subscribe(),
        ))
    });
    let mut state = AppState::new(pool.clone(), keys, data_keys);
    state.cache = query::ReadCache::new(args.read_cache());
    let cache_listener = tokio::spawn(state.cache.clone().listen(pool.clone(), stop.subscribe()));
    state.relay = relay_config.map(|config| crate::ops::RelayMonitor {
        topic: config.topic,
        health: relay_health,
    });
    let router = app::router(state);
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed");
    let _ = stop.send(true);
    if let Some(projector) = projector {
        if let Err(error) = projector.await {
            tracing::error!(%error, "the projector task failed");
        }
    }
    if let Some(relay) = relay {
        if let Err(error) = relay.await {
            tracing::error!(%error, "the relay task failed");
        }
    }
    if let Err(error) = cache_listener.await {
        tracing::error!(%error, "the read cache's listener failed");
    }
    served?;
    tracing::info!("in-flight requests finished; closing the database pool");
    pool.close().await;
    Ok(())
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let pool = db::connect(args.database_url.expose(), 2).await?;
    db::migrate(&pool).await?;
    let version: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await?;
    println!("database is at migration {}", version.unwrap_or(0));
    Ok(())
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let keys = jwt_keys(args.jwt_secret.as_ref(), &args.data_dir, false)?;
    println!(
        "{}",
        keys.issue(args.tenant, &args.user, args.role, args.ttl)
    );
    Ok(())
}

/// The configured secret, else the one kept in the data folder (generated on
/// first `serve`, readable only by its owner).
fn jwt_keys(
    configured: Option<&Secret>,
    data_dir: &Path,
    generate: bool,
) -> anyhow::Result<JwtKeys> {
    if let Some(secret) = configured {
        return JwtKeys::from_secret(secret.expose().as_bytes()).context("CRM_JWT_SECRET");
    }
    let path = data_dir.join(SECRET_FILE);
    let secret = kept_secret(data_dir, &path, generate, "CRM_JWT_SECRET")?;
    JwtKeys::from_secret(secret.as_bytes()).with_context(|| format!("secret in {}", path.display()))
}

/// The master key from configuration, else the one kept in the data folder.
fn master_key(database: &DatabaseArgs) -> anyhow::Result<MasterKey> {
    let text = match &database.master_key {
        Some(configured) => configured.expose().to_owned(),
        None => kept_secret(
            &database.data_dir,
            &database.data_dir.join(MASTER_KEY_FILE),
            true,
            "CRM_MASTER_KEY",
        )?,
    };
    MasterKey::from_hex(&text).map_err(|error| anyhow::anyhow!("CRM_MASTER_KEY: {error}"))
}

/// A secret kept in a 0600 file of the data folder, generated (32 random
/// bytes, hex) the first time when `generate` is set.
fn kept_secret(
    data_dir: &Path,
    path: &Path,
    generate: bool,
    variable: &str,
) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(secret) => Ok(secret.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && generate => {
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            let secret = hex::encode(bytes);
            write_private(data_dir, path, &secret)?;
            tracing::info!(path = %path.display(), "generated a secret ({variable})");
            Ok(secret)
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "no secret: set {variable}, or run `crm serve` once so it generates {}",
                path.display()
            )
        }),
    }
}

fn write_private(dir: &Path, path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

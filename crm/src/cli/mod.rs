//! What each subcommand does.
//!
//! This file dispatches and holds the subcommands that fit in a few lines; the
//! others have a file each, named after the subcommand (`projector_command` and
//! `relay_command` so as not to shadow the `projector` and `relay` crates they
//! drive). What several subcommands share has its own file: `database` (the
//! migrated pool, on DATABASE_URL or the private server), `secrets` (the JWT
//! secret and the master key), `shutdown` (Ctrl-C and SIGTERM) and
//! `throughput` (the events/s line of catch-up runs).

mod audit;
mod database;
mod projector_command;
mod relay_command;
mod secrets;
mod seed;
mod serve;
mod shutdown;
mod stream;
mod tenant;
mod throughput;

use crate::config::{Cli, Command, MigrateArgs, TokenArgs};
use crate::db;

use audit::audit;
use projector_command::projector_command;
use relay_command::relay_command;
use secrets::jwt_keys;
use seed::seed;
use serve::serve;
use stream::stream;
use tenant::tenant;

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
        Command::Tenant { action } => tenant(action).await,
    }
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
    let jwt = jwt_keys(args.jwt_secret.as_ref(), &args.data_dir, false)?;
    println!(
        "{}",
        jwt.issue(args.tenant, &args.user, args.role, args.ttl)
    );
    Ok(())
}

//! `crm tenant create`: a tenant and its first admin.

use anyhow::Context;
use uuid::Uuid;

use command::credentials::{Password, PasswordHash};
use command::directory::{DirectoryService, NewTenant};
use events::values::{DisplayName, UserId};

use super::database::with_pool;
use crate::config::{TenantCommand, TenantCreateArgs};

pub(super) async fn tenant(action: TenantCommand) -> anyhow::Result<()> {
    match action {
        TenantCommand::Create(args) => create(args).await,
    }
}

async fn create(args: TenantCreateArgs) -> anyhow::Result<()> {
    let name = args.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        anyhow::bail!("--name must be 1-100 characters");
    }
    let admin_login = UserId::parse(&args.admin_login).context("--admin-login")?;
    let admin_name = DisplayName::parse(args.admin_name.as_deref().unwrap_or(&args.admin_login))
        .context("--admin-name")?;
    let password = Password::one_time();
    let hash = PasswordHash::of(&password).await?;
    with_pool(&args.database, |pool, data_keys| async move {
        let created = DirectoryService::new(pool, data_keys)
            .create_tenant(NewTenant {
                tenant_id: Uuid::now_v7(),
                name: name.clone(),
                admin_login: admin_login.clone(),
                admin_name,
                admin_password: hash,
            })
            .await?;
        println!("tenant {} ({name}) created", created.tenant_id);
        println!("admin login: {admin_login}");
        println!(
            "one-time password: {} (shown once; change it after signing in)",
            password.reveal()
        );
        Ok(())
    })
    .await
}

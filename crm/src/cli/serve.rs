//! `crm serve`: the service itself. Wires the HTTP API to the database and,
//! as configured, runs the projector, the Kafka relay and the read cache's
//! listener beside it, always the reminder scheduler, the notification
//! listener, the follow-up completion sweep, the automation engine and the
//! webhook outbox reader and sender, and shuts them all down in order.

use anyhow::Context;
use projector::Projection;
use store::data_keys::DataKeys;
use tokio::net::TcpListener;
use tokio::sync::watch;
use web::JwtKeys;

use super::secrets::{identity_provider, jwt_keys, master_key};
use super::shutdown::shutdown_signal;
use crate::app::{self, AppState};
use crate::config::ServeArgs;
use crate::embedded::EmbeddedPostgres;
use crate::{db, demo};

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = &args.database.data_dir;
    let external = identity_provider(&args.oidc)?;
    let wechat = wechat_client(&args)?;
    let mut jwt = jwt_keys(args.jwt_secret.as_ref(), data_dir, true)?;
    if let Some(idp) = external {
        jwt = jwt.with_external(idp);
    }
    let (database_url, embedded) = match &args.database.database_url {
        Some(url) => (url.expose().to_owned(), None),
        None => {
            let postgres = EmbeddedPostgres::start(data_dir).await.context(
                "starting the private PostgreSQL (set DATABASE_URL to use your own server)",
            )?;
            (postgres.database_url().to_owned(), Some(postgres))
        }
    };
    let outcome = serve_with(&args, &database_url, jwt, wechat).await;
    if let Some(postgres) = embedded {
        if let Err(error) = postgres.stop().await {
            tracing::error!(error = %format!("{error:#}"), "the private PostgreSQL did not stop cleanly");
        }
    }
    outcome
}

/// WeChat sign-in's client, checked before anything starts.
fn wechat_client(args: &ServeArgs) -> anyhow::Result<Option<command::wechat::WeChatClient>> {
    let Some(config) = args.wechat.config().map_err(anyhow::Error::msg)? else {
        tracing::info!(
            "WeChat sign-in is not configured (CRM_WECHAT_APP_ID, CRM_WECHAT_APP_SECRET)"
        );
        return Ok(None);
    };
    tracing::info!(app_id = config.app_id(), endpoint = %config.endpoint(), "WeChat sign-in is on");
    command::wechat::WeChatClient::new(config)
        .map(Some)
        .context("creating the WeChat client")
}

async fn serve_with(
    args: &ServeArgs,
    database_url: &str,
    jwt: JwtKeys,
    wechat: Option<command::wechat::WeChatClient>,
) -> anyhow::Result<()> {
    let master = master_key(&args.database)?;
    let pool = db::connect(database_url, args.db_max_connections).await?;
    db::migrate(&pool).await?;
    let data_keys = DataKeys::new(pool.clone(), master);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (CRM_LISTEN)", args.listen))?;
    let address = listener.local_addr()?;
    if args.demo {
        let tenant = demo::seed(&pool, &data_keys)
            .await
            .context("creating the demo tenant")?;
        let directory = command::directory::DirectoryService::new(pool.clone(), data_keys.clone());
        let people = demo::people::create(&directory, tenant)
            .await
            .context("creating the demo tenant's people")?;
        let token = jwt.issue(
            tenant,
            "demo-manager",
            web::Role::Manager,
            std::time::Duration::from_secs(12 * 3600),
        );
        println!("Demo tenant {tenant} is ready.");
        if crate::app_files::built(&args.app_dir).is_some() {
            println!("  App:   http://{address}/app/");
        }
        println!("  API:   http://{address}/v1/customers");
        println!("  Docs:  http://{address}/openapi.json");
        println!("  Sign-ins (one-time passwords, shown once):");
        for person in &people {
            println!(
                "    {:<14} {:<8} {}",
                person.login,
                person.role.as_str(),
                person.password.reveal()
            );
        }
        println!("  Token (demo-manager, 12h):\n{token}");
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
    let webhook_settings = args.webhooks.settings();
    let webhooks = tokio::spawn(webhooks::run(
        pool.clone(),
        data_keys.clone(),
        webhook_settings.clone(),
        std::sync::Arc::new(notify::InboxAlerts),
        stop.subscribe(),
    ));
    let mut state = AppState::new(pool.clone(), jwt, data_keys);
    state.webhooks = std::sync::Arc::new(webhook_settings);
    state.cache = query::ReadCache::new(args.read_cache());
    state.sign_in_limits = args.sign_in_limits();
    state.wechat = wechat;
    state.app_dir = crate::app_files::built(&args.app_dir);
    match &state.app_dir {
        Some(dir) => tracing::info!(dir = %dir.display(), "serving the app at /app/"),
        None => tracing::info!(
            dir = %args.app_dir.display(),
            "no app build there (./scripts/demo builds it); /app/ is not served"
        ),
    }
    let cache_listener = tokio::spawn(state.cache.clone().listen(pool.clone(), stop.subscribe()));
    state.relay = relay_config.map(|config| crate::ops::RelayMonitor {
        topic: config.topic,
        health: relay_health,
    });
    let revocations = tokio::spawn(command::http::sessions::keep_revocations(
        pool.clone(),
        state.jwt.revocations().clone(),
        stop.subscribe(),
    ));
    let identity_provider_keys = state
        .jwt
        .external()
        .cloned()
        .map(|idp| tokio::spawn(idp.keep_keys_current(stop.subscribe())));
    let reminders = tokio::spawn(notify::scheduler::run(pool.clone(), stop.subscribe()));
    let arrivals = tokio::spawn(
        state
            .arrivals
            .clone()
            .listen(pool.clone(), stop.subscribe()),
    );
    let follow_ups = command::follow_up::FollowUpService::new(std::sync::Arc::new(
        command::CommandService::new(pool.clone(), state.data_keys.clone()),
    ));
    let completions = tokio::spawn(command::follow_up::policy::sweep(
        follow_ups.clone(),
        stop.subscribe(),
    ));
    let rules = tokio::spawn(automation::run(follow_ups, stop.subscribe()));
    let feeds_shutdown = state.feeds_shutdown.clone();
    let router = app::router(state);
    // The client's address reaches the sign-in route's attempt limits.
    let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Live feeds would otherwise hold the graceful shutdown open.
            let _ = feeds_shutdown.send(true);
        })
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
    if let Err(error) = revocations.await {
        tracing::error!(%error, "the revocation refresher failed");
    }
    if let Some(refresher) = identity_provider_keys {
        if let Err(error) = refresher.await {
            tracing::error!(%error, "the identity provider's key refresher failed");
        }
    }
    for (task, name) in [
        (reminders, "the reminder scheduler"),
        (arrivals, "the notification listener"),
        (completions, "the follow-up completion sweep"),
        (rules, "the automation engine"),
        (webhooks, "the webhook reader and sender"),
    ] {
        if let Err(error) = task.await {
            tracing::error!(%error, "{name} failed");
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

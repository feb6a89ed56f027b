//! `crm seed`: the command-line face of [`crate::seed`], with a progress bar
//! and a closing summary, since a large seed runs for minutes.

use indicatif::{ProgressBar, ProgressStyle};

use super::database::with_pool;
use super::secrets::master_key;
use crate::config::SeedArgs;

pub(super) async fn seed(args: SeedArgs) -> anyhow::Result<()> {
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

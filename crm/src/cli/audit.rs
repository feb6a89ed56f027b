//! `crm audit`: exporting a customer's history for an auditor, and checking
//! that a tenant's hash chains are intact.

use super::database::with_pool;
use crate::config::AuditCommand;

pub(super) async fn audit(action: AuditCommand) -> anyhow::Result<()> {
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

//! `loadgen setup`: registers the customers and writes their ids, in
//! customer order, to the file `loadgen run` (and `scripts/bench-write`) read.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bench::truncate;
use serde_json::json;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::cli::Cli;
use crate::target::{Outcome, Target};

pub async fn setup(cli: &Cli, target: Arc<Target>, ids_path: &Path) -> anyhow::Result<()> {
    const ATTEMPTS: usize = 3;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for client in 0..cli.clients {
        let target = Arc::clone(&target);
        let (customers, clients) = (cli.customers, cli.clients);
        tasks.spawn(async move {
            let mut registered = Vec::new();
            let mut failures = Vec::new();
            for n in (client..customers).step_by(clients) {
                let body = json!({
                    "name": format!("压测客户 {n:05}"),
                    "company": format!("Bench Co. {}", n % 500),
                    "industry": "manufacturing",
                    "source": "benchmark",
                    "tags": ["bench"],
                    "deal_value": "50000.00",
                });
                let mut last_error = String::new();
                let mut id = None;
                for _ in 0..ATTEMPTS {
                    match target
                        .send(reqwest::Method::POST, "/v1/customers", &body)
                        .await
                    {
                        (Outcome::Status(201), answer) => {
                            match serde_json::from_str::<serde_json::Value>(&answer)
                                .ok()
                                .and_then(|value| value["id"].as_str().map(str::to_owned))
                                .and_then(|text| Uuid::parse_str(&text).ok())
                            {
                                Some(parsed) => {
                                    id = Some(parsed);
                                    break;
                                }
                                None => {
                                    last_error =
                                        format!("201 without an id: {}", truncate(&answer, 300))
                                }
                            }
                        }
                        (Outcome::Status(status), answer) => {
                            last_error = format!("HTTP {status}: {}", truncate(&answer, 300));
                        }
                        (Outcome::Failed(error), _) => last_error = error,
                    }
                    failures.push(last_error.clone());
                }
                match id {
                    Some(id) => registered.push((n, id)),
                    None => {
                        return Err(anyhow::anyhow!(
                            "registering customer {n} failed {ATTEMPTS} times; last: {last_error}"
                        ))
                    }
                }
            }
            Ok::<_, anyhow::Error>((registered, failures))
        });
    }
    let mut ids = vec![None; cli.customers];
    let mut retried = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (registered, failures) = joined.context("a setup client panicked")??;
        for (n, id) in registered {
            ids[n] = Some(id);
        }
        retried.extend(failures);
    }
    let mut text = String::with_capacity(cli.customers * 37);
    for (n, id) in ids.iter().enumerate() {
        let id = id.with_context(|| format!("customer {n} has no id"))?;
        text.push_str(&id.to_string());
        text.push('\n');
    }
    std::fs::write(ids_path, text)
        .with_context(|| format!("writing the ids to {}", ids_path.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "setup: registered {} customers in {elapsed:.1} s ({:.0}/s) with {} clients; ids in {}",
        cli.customers,
        cli.customers as f64 / elapsed,
        cli.clients,
        ids_path.display()
    );
    if !retried.is_empty() {
        println!(
            "setup: {} attempts were retried; first: {}",
            retried.len(),
            retried[0]
        );
    }
    Ok(())
}

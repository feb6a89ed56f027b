//! The request sent before the load: it fails fast (and says why) when the
//! route does not work, and describes a good answer for the report.

use anyhow::bail;
use bench::truncate;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::cli::{Cli, Route};
use crate::target::{Outcome, Target};

/// One request first: fail fast (and say why) when the route does not work.
pub async fn first_answer(cli: &Cli, target: &Target) -> anyhow::Result<String> {
    let mut probe_rng = StdRng::seed_from_u64(cli.seed);
    let (outcome, body) = target.send(&mut probe_rng).await;
    match outcome {
        Outcome::Status(200, _, _) => Ok(describe_answer(cli.route, &body)),
        Outcome::Status(status, _, _) => {
            bail!(
                "the first request answered HTTP {status}: {}",
                truncate(&body, 400)
            )
        }
        Outcome::Failed(error) => bail!("the first request failed: {error}"),
    }
}

/// A short description of a 200 answer, so a report shows what was measured
/// (e.g. that a search found customers).
fn describe_answer(route: Route, body: &str) -> String {
    let value: serde_json::Value = match serde_json::from_str(body) {
        Ok(value) => value,
        Err(_) => return format!("{} bytes, not JSON", body.len()),
    };
    match route {
        Route::List | Route::Search => {
            let items = value["items"].as_array().map_or(0, Vec::len);
            let more = value["next_cursor"].is_string();
            format!(
                "{} bytes, {items} items{}",
                body.len(),
                if more { ", more pages" } else { "" }
            )
        }
        Route::Detail => format!(
            "{} bytes, customer {} ({} purchases)",
            body.len(),
            value["id"].as_str().unwrap_or("?"),
            value["purchase_count"]
        ),
        Route::Funnel => {
            let counts: Vec<String> = value["stages"]
                .as_array()
                .map(|stages| {
                    stages
                        .iter()
                        .map(|stage| {
                            format!("{}={}", stage["id"].as_str().unwrap_or("?"), stage["count"])
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!("{} bytes, stages {}", body.len(), counts.join(" "))
        }
    }
}

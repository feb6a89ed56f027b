//! The route under load: the request each client sends (with a random id
//! for `detail`), and what it came to, including where the service's answer
//! came from (`X-Cache`).

use anyhow::{bail, Context};
use bench::{describe, http_client, read_ids};
use rand::rngs::StdRng;
use rand::Rng;
use uuid::Uuid;

use crate::cli::{Cli, Route};

pub struct Target {
    http: reqwest::Client,
    base: String,
    auth: String,
    route: Route,
    q: String,
    ids: Vec<Uuid>,
}

pub enum Outcome {
    /// Status, body bytes, and where the service's answer came from.
    Status(u16, usize, Served),
    Failed(String),
}

/// `X-Cache`: a kept answer (`hit`), an answer computed from a kept customer
/// record (`record`), or the database (`miss` or no header).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Database,
    KeptAnswer,
    KeptRecord,
}

impl Target {
    /// The route, its inputs and the HTTP client, as the command line asks.
    pub fn new(cli: &Cli) -> anyhow::Result<Target> {
        let token = cli
            .token
            .clone()
            .context("--token (or BENCH_TOKEN) is required")?;
        let ids = match (cli.route, &cli.ids) {
            (Route::Detail, Some(path)) => {
                let ids = read_ids(path)?;
                if ids.is_empty() {
                    bail!("{} holds no ids", path.display());
                }
                ids
            }
            (Route::Detail, None) => bail!("--route detail needs --ids"),
            _ => Vec::new(),
        };
        let q = match (cli.route, &cli.q) {
            (Route::Search, Some(q)) if !q.trim().is_empty() => q.clone(),
            (Route::Search, _) => bail!("--route search needs --q"),
            _ => String::new(),
        };
        Ok(Target {
            http: http_client(cli.timeout, cli.clients)?,
            base: cli.url.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {token}"),
            route: cli.route,
            q,
            ids,
        })
    }

    fn request(&self, rng: &mut StdRng) -> reqwest::RequestBuilder {
        let builder = match self.route {
            Route::List => self
                .http
                .get(format!("{}/v1/customers", self.base))
                .query(&[("limit", "20")]),
            Route::Search => self
                .http
                .get(format!("{}/v1/customers", self.base))
                .query(&[("q", self.q.as_str())]),
            Route::Detail => {
                let id = self.ids[rng.gen_range(0..self.ids.len())];
                self.http.get(format!("{}/v1/customers/{id}", self.base))
            }
            Route::Funnel => self.http.get(format!("{}/v1/funnel", self.base)),
        };
        builder.header(reqwest::header::AUTHORIZATION, &self.auth)
    }

    pub async fn send(&self, rng: &mut StdRng) -> (Outcome, String) {
        match self.request(rng).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let cached = match response.headers().get("x-cache").map(|v| v.as_bytes()) {
                    Some(b"hit") => Served::KeptAnswer,
                    Some(b"record") => Served::KeptRecord,
                    _ => Served::Database,
                };
                match response.text().await {
                    Ok(text) => (Outcome::Status(status, text.len(), cached), text),
                    Err(error) => (
                        Outcome::Failed(format!("reading the body: {error}")),
                        String::new(),
                    ),
                }
            }
            Err(error) => (Outcome::Failed(describe(&error)), String::new()),
        }
    }
}

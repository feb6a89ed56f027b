//! `crm serve` as a real process of its own (the binary cargo built for
//! these tests), for what only several processes show: who relays, what
//! happens when one is killed. Each instance listens on a free port, logs
//! to a file (printed when the test fails), and is killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;

use super::broker::free_port;
use super::{MASTER_KEY, SECRET};

pub struct Instance {
    child: Mutex<Option<Child>>,
    pub name: String,
    pub base_url: String,
    log: PathBuf,
    http: reqwest::Client,
}

/// The URL of `pool`'s database (the one `#[sqlx::test]` created), for
/// another process.
pub fn database_url(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres"),
    )
}

impl Instance {
    /// Starts `crm serve` on `database_url` relaying to `brokers`, with the
    /// tests' JWT secret and master key; returns once it is ready.
    pub async fn serve(name: &str, database_url: &str, brokers: &str) -> Instance {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "crm-{name}-{}-{}.log",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_crm"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("CRM_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "CRM_JWT_SECRET",
                std::str::from_utf8(SECRET).expect("secret"),
            )
            .env("CRM_MASTER_KEY", MASTER_KEY)
            .env("CRM_DATA_DIR", std::env::temp_dir().join("crm-no-data"))
            .env("CRM_APP_DIR", "/nonexistent")
            .env("CRM_DB_MAX_CONNECTIONS", "8")
            .env("KAFKA_BROKERS", brokers)
            .env("CRM_LOG", "info,relay=debug,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("the crm binary starts");
        let instance = Instance {
            child: Mutex::new(Some(child)),
            name: name.to_owned(),
            base_url: format!("http://127.0.0.1:{port}"),
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("HTTP client"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while instance.readiness().await.is_none() {
            assert!(
                Instant::now() < deadline,
                "{name} did not become ready:\n{}",
                instance.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        instance
    }

    /// What the process logged so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/readyz` when it answers 200.
    pub async fn readiness(&self) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/readyz", self.base_url))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .expect("/metrics")
            .text()
            .await
            .expect("/metrics text")
    }

    /// Sends a command as `token`'s caller; returns the status and body.
    pub async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (reqwest::StatusCode, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{} {path}: {error}", self.name));
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// SIGKILL: no shutdown, no goodbye to the database or the broker.
    /// (Through `&self`, so a test can kill one while others write through it.)
    pub fn kill(&self) {
        let child = self
            .child
            .lock()
            .map(|mut child| child.take())
            .ok()
            .flatten();
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // The test failed: what each process saw is the first clue.
            eprintln!("--- log of instance {} ---\n{}", self.name, self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

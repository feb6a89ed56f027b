//! The service under load: where commands go, with which credentials, and
//! what each request came to (an HTTP status or no answer at all).

use bench::describe;

pub struct Target {
    pub http: reqwest::Client,
    pub base: String,
    pub auth: String,
}

/// What one request came to.
pub enum Outcome {
    Status(u16),
    /// Connection refused, reset, timed out, unreadable body...
    Failed(String),
}

impl Target {
    /// Sends one command and reads the whole answer.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> (Outcome, String) {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .json(body);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(text) => (Outcome::Status(status), text),
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

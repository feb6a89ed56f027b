//! Keeping the identity provider's keys current in the background, so that
//! verifying a token never waits on the network.

use reqwest::header::ACCEPT;
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};

use super::external::ExternalIdp;
use super::keys::KeySet;

/// A key set is a handful of keys; more than this is not one.
const MAX_JWKS_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("the provider answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the key set is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("not a JWKS document: {0}")]
    Document(#[from] serde_json::Error),
    #[error("no key of the set can check an RS256 or ES256 signature ({0})")]
    NoUsableKeys(String),
}

impl ExternalIdp {
    /// Fetches the key set once and, when it holds a usable key, replaces
    /// the held keys with it; answers how many that is. A set without one
    /// leaves the held keys as they were, as any failure does: a provider
    /// serving nothing for a moment should not lock everyone out.
    pub async fn refresh_keys(&self) -> Result<usize, FetchError> {
        let mut response = self
            .0
            .client
            .get(self.0.url.clone())
            .header(ACCEPT, "application/json, application/jwk-set+json")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let too_large = |length: usize| length > MAX_JWKS_BYTES;
        if response
            .content_length()
            .is_some_and(|length| usize::try_from(length).map_or(true, too_large))
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if too_large(body.len() + chunk.len()) {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let (keys, skipped) = KeySet::parse(&body)?;
        for reason in &skipped {
            tracing::debug!(%reason, "a key of the identity provider's set is not used");
        }
        if keys.is_empty() {
            return Err(FetchError::NoUsableKeys(skipped.join("; ")));
        }
        let count = keys.len();
        self.install(keys);
        Ok(count)
    }

    /// Fetches the keys now, then every `refresh_every`, and soon after a
    /// token names a key not held (no sooner than `refetch_spacing` after
    /// the last fetch, so that a flood of made-up key ids costs the provider
    /// one request per spacing). After a failure it tries again sooner, the
    /// spacing doubling up to `refresh_every`. Returns once `stop` turns
    /// true or its sender is gone.
    pub async fn keep_keys_current(self, mut stop: watch::Receiver<bool>) {
        let settings = self.settings().clone();
        let url = self.0.url.clone();
        let mut failures: u32 = 0;
        let mut fetched_before = false;
        loop {
            if *stop.borrow() {
                return;
            }
            let fetched_at = Instant::now();
            let wait = match self.refresh_keys().await {
                Ok(keys) => {
                    if failures > 0 || !fetched_before {
                        tracing::info!(keys, %url, "fetched the identity provider's keys");
                    } else {
                        tracing::debug!(keys, %url, "fetched the identity provider's keys");
                    }
                    fetched_before = true;
                    failures = 0;
                    settings.refresh_every
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(
                        %error,
                        %url,
                        held = self.key_count(),
                        "cannot fetch the identity provider's keys; keeping those held"
                    );
                    settings
                        .refetch_spacing
                        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
                        .min(settings.refresh_every)
                }
            };
            tokio::select! {
                () = sleep(wait) => {}
                () = self.0.wanted.notified() => {
                    tokio::select! {
                        () = sleep_until(fetched_at + settings.refetch_spacing) => {}
                        _ = stop.changed() => return,
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}

//! WeChat's code-to-session exchange (`jscode2session`): the mini-program
//! calls `wx.login`, gets a code valid once for five minutes, and the service
//! trades it, with the app's id and secret, for the user's openid.
//!
//! The app secret and the answer's `session_key` are secrets: the secret is
//! redacted from `Debug` and never logged (reqwest's errors carry the request
//! URL, whose query holds it, so they are logged without it), and the
//! `session_key` is not even decoded. The openid is a secret too: it leaves
//! this module only inside [`WeChatIdentity`], whose `Debug` hides it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use tracing::Instrument;

/// WeChat's own endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.weixin.qq.com/sns/jscode2session";
/// How long one exchange may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait before retrying when WeChat is busy or unreachable.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long to wait after WeChat's per-user rate limit (100 calls a minute).
pub const RATE_LIMIT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A real answer is a few hundred bytes; anything much longer is not one.
const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// `wx.login` codes are 32 characters; leave room, refuse nonsense.
const MAX_CODE_CHARS: usize = 128;
/// Openids are 28 characters; the table allows 128.
const MAX_ID_CHARS: usize = 128;

/// The mini-program's credentials and where to exchange codes.
#[derive(Clone)]
pub struct WeChatConfig {
    app_id: String,
    app_secret: String,
    endpoint: Url,
    timeout: Duration,
}

impl fmt::Debug for WeChatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatConfig")
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("endpoint", &self.endpoint.as_str())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WeChatConfig {
    /// Checks the settings: an AppID and a secret of visible ASCII, an
    /// http(s) endpoint without a query (the exchange's parameters are
    /// added to it), a timeout of at least 100 ms.
    pub fn new(
        app_id: &str,
        app_secret: &str,
        endpoint: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let visible = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
        if !visible(app_id) || app_id.len() > 64 {
            return Err("the WeChat AppID must be 1-64 visible ASCII characters".to_owned());
        }
        if !visible(app_secret) || app_secret.len() > 128 {
            return Err("the WeChat AppSecret must be 1-128 visible ASCII characters".to_owned());
        }
        let endpoint = Url::parse(endpoint)
            .map_err(|error| format!("the code-to-session URL is not a URL: {error}"))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.query().is_some() {
            return Err("the code-to-session URL must be http(s) and have no query".to_owned());
        }
        if timeout < Duration::from_millis(100) {
            return Err("the WeChat timeout must be at least 100 ms".to_owned());
        }
        Ok(Self {
            app_id: app_id.to_owned(),
            app_secret: app_secret.to_owned(),
            endpoint,
            timeout,
        })
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }
}

/// Who WeChat says signed in: the openid (per mini-program) and, when the
/// app belongs to an open-platform account, the unionid.
#[derive(Clone, PartialEq, Eq)]
pub struct WeChatIdentity {
    pub openid: String,
    pub unionid: Option<String>,
}

impl fmt::Debug for WeChatIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeChatIdentity(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WeChatError {
    /// The code is unknown, expired or was already used (40029, 40163):
    /// the mini-program should call `wx.login` again.
    #[error("the WeChat code is not valid or was used; call wx.login again")]
    InvalidCode,
    /// WeChat's risk control blocks this account's sign-in (40226).
    #[error("WeChat refused to sign this account in (risk control)")]
    RiskyUser,
    /// WeChat's limit of calls per user (45011).
    #[error("too many WeChat sign-ins for this account; retry in a minute")]
    RateLimited,
    /// WeChat said it is busy (-1), or answered with a server error.
    #[error("WeChat is busy; retry shortly")]
    Busy,
    /// No answer: connection refused, DNS, TLS, timeout.
    #[error("WeChat could not be reached: {0}")]
    Unreachable(String),
    /// An answer that is not code-to-session's.
    #[error("WeChat's answer was not understood: {0}")]
    BadAnswer(String),
    /// Any other error code: the app's id or secret is wrong, the API was
    /// changed. The operator's problem, not the caller's.
    #[error("WeChat refused the exchange: errcode {errcode}: {errmsg}")]
    Refused { errcode: i64, errmsg: String },
}

/// The code-to-session client; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct WeChatClient {
    http: reqwest::Client,
    config: Arc<WeChatConfig>,
}

impl fmt::Debug for WeChatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WeChatClient {
    pub fn new(config: WeChatConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect would carry the secret to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> &WeChatConfig {
        &self.config
    }

    /// Trades a `wx.login` code for the user's identity.
    pub async fn exchange(&self, code: &str) -> Result<WeChatIdentity, WeChatError> {
        let span = tracing::info_span!("wechat_code2session", app_id = %self.config.app_id);
        async {
            let outcome = self.call(code).await;
            match &outcome {
                Ok(_) => tracing::debug!("code exchanged"),
                Err(WeChatError::InvalidCode | WeChatError::RiskyUser) => {}
                Err(error @ WeChatError::Refused { .. }) => tracing::error!(%error),
                Err(error) => tracing::warn!(%error),
            }
            outcome
        }
        .instrument(span)
        .await
    }

    async fn call(&self, code: &str) -> Result<WeChatIdentity, WeChatError> {
        let config = &self.config;
        let mut response = self
            .http
            .get(config.endpoint.clone())
            .query(&[
                ("appid", config.app_id.as_str()),
                ("secret", config.app_secret.as_str()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(WeChatError::BadAnswer("the answer is too long".to_owned()));
            }
            body.extend_from_slice(&chunk);
        }
        parse_answer(status.as_u16(), &body)
    }
}

/// Whether `code` can be a `wx.login` code (checked before calling WeChat).
pub fn plausible_code(code: &str) -> Result<(), &'static str> {
    if code.is_empty() || code.len() > MAX_CODE_CHARS {
        return Err("give the code wx.login returned (1-128 characters)");
    }
    if !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("a wx.login code is visible ASCII characters only");
    }
    Ok(())
}

/// reqwest's message names the URL, and the URL holds the app secret.
fn unreachable(error: reqwest::Error) -> WeChatError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let error = error.without_url();
    let mut message = format!("{kind}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    WeChatError::Unreachable(message)
}

/// The fields of the answer the service uses; `session_key` is left out on
/// purpose, so it is never decoded.
#[derive(Deserialize)]
struct Answer {
    openid: Option<String>,
    unionid: Option<String>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// Reads code-to-session's answer: HTTP `status` and `body`. WeChat answers
/// 200 with an `errcode` on failure (absent or 0 on success), and its
/// content type is often `text/plain`, so only the body is read.
pub fn parse_answer(status: u16, body: &[u8]) -> Result<WeChatIdentity, WeChatError> {
    if (500..600).contains(&status) {
        return Err(WeChatError::Busy);
    }
    if !(200..300).contains(&status) {
        return Err(WeChatError::BadAnswer(format!("HTTP status {status}")));
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|error| WeChatError::BadAnswer(format!("not the expected JSON: {error}")))?;
    match answer.errcode {
        None | Some(0) => {}
        Some(40029 | 40163) => return Err(WeChatError::InvalidCode),
        Some(40226) => return Err(WeChatError::RiskyUser),
        Some(45011) => return Err(WeChatError::RateLimited),
        Some(-1) => return Err(WeChatError::Busy),
        Some(errcode) => {
            return Err(WeChatError::Refused {
                errcode,
                errmsg: answer.errmsg.unwrap_or_default(),
            })
        }
    }
    let openid = answer
        .openid
        .filter(|id| plausible_id(id))
        .ok_or_else(|| WeChatError::BadAnswer("no valid openid".to_owned()))?;
    let unionid = answer.unionid.filter(|id| plausible_id(id));
    Ok(WeChatIdentity { openid, unionid })
}

fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_ID_CHARS && id.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<WeChatIdentity, WeChatError> {
        parse_answer(200, body.as_bytes())
    }

    #[test]
    fn a_success_gives_the_openid_and_unionid() {
        let identity =
            parse(r#"{"openid":"oAbC-123_xyz","session_key":"c2VjcmV0","unionid":"uNiOn-1"}"#)
                .expect("identity");
        assert_eq!(identity.openid, "oAbC-123_xyz");
        assert_eq!(identity.unionid.as_deref(), Some("uNiOn-1"));
        let identity =
            parse(r#"{"openid":"o1","session_key":"k","errcode":0,"errmsg":"ok"}"#).expect("0");
        assert_eq!(identity.openid, "o1");
        assert_eq!(identity.unionid, None);
    }

    #[test]
    fn error_codes_map_to_what_the_caller_can_do() {
        let code = |errcode: i64| parse(&format!(r#"{{"errcode":{errcode},"errmsg":"x"}}"#));
        assert!(matches!(code(40029), Err(WeChatError::InvalidCode)));
        assert!(matches!(code(40163), Err(WeChatError::InvalidCode)));
        assert!(matches!(code(40226), Err(WeChatError::RiskyUser)));
        assert!(matches!(code(45011), Err(WeChatError::RateLimited)));
        assert!(matches!(code(-1), Err(WeChatError::Busy)));
        assert!(matches!(
            code(40125),
            Err(WeChatError::Refused { errcode: 40125, .. })
        ));
    }

    #[test]
    fn garbage_is_a_bad_answer_never_a_panic() {
        for body in [
            "",
            "<html>502 Bad Gateway</html>",
            "[]",
            "{}",
            r#"{"openid":""}"#,
            r#"{"openid":42}"#,
            r#"{"openid":"has space"}"#,
            r#"{"errcode":"40029"}"#,
        ] {
            assert!(
                matches!(parse(body), Err(WeChatError::BadAnswer(_))),
                "{body:?}"
            );
        }
        let long = format!(r#"{{"openid":"{}"}}"#, "o".repeat(129));
        assert!(matches!(parse(&long), Err(WeChatError::BadAnswer(_))));
    }

    #[test]
    fn http_failures_are_busy_or_bad_answers() {
        let ok = br#"{"openid":"o1"}"#;
        assert!(matches!(parse_answer(503, ok), Err(WeChatError::Busy)));
        assert!(matches!(
            parse_answer(404, ok),
            Err(WeChatError::BadAnswer(_))
        ));
        assert!(matches!(
            parse_answer(302, ok),
            Err(WeChatError::BadAnswer(_))
        ));
    }

    #[test]
    fn secrets_do_not_print() {
        let config = WeChatConfig::new(
            "wx0123456789abcdef",
            "app-secret-value",
            DEFAULT_ENDPOINT,
            DEFAULT_TIMEOUT,
        )
        .expect("config");
        let printed = format!("{config:?}");
        assert!(printed.contains("wx0123456789abcdef"));
        assert!(!printed.contains("app-secret-value"), "{printed}");
        let identity = WeChatIdentity {
            openid: "o-secret".to_owned(),
            unionid: None,
        };
        assert!(!format!("{identity:?}").contains("o-secret"));
    }

    #[test]
    fn the_configuration_is_checked() {
        let ok = |id: &str, secret: &str, url: &str| {
            WeChatConfig::new(id, secret, url, DEFAULT_TIMEOUT).is_ok()
        };
        assert!(ok("wx1", "s", "http://127.0.0.1:9/jscode2session"));
        assert!(!ok("", "s", DEFAULT_ENDPOINT));
        assert!(!ok("wx1", "", DEFAULT_ENDPOINT));
        assert!(!ok("wx 1", "s", DEFAULT_ENDPOINT));
        assert!(!ok("wx1", "s", "not a url"));
        assert!(!ok("wx1", "s", "ftp://example.com/x"));
        assert!(!ok("wx1", "s", "https://example.com/x?appid=1"));
        assert!(WeChatConfig::new("wx1", "s", DEFAULT_ENDPOINT, Duration::ZERO).is_err());
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_reported_without_the_secret() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let url = format!("http://{address}/sns/jscode2session");
        let config =
            WeChatConfig::new("wx1", "app-secret-value", &url, DEFAULT_TIMEOUT).expect("config");
        let client = WeChatClient::new(config).expect("client");
        let error = client.exchange("code-value").await.expect_err("closed");
        assert!(matches!(error, WeChatError::Unreachable(_)), "{error}");
        let printed = format!("{error} {error:?}");
        for secret in ["app-secret-value", "code-value", "js_code"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn codes_are_checked_before_calling_wechat() {
        assert!(plausible_code("081aBc2w3xYz").is_ok());
        assert!(plausible_code("").is_err());
        assert!(plausible_code("a b").is_err());
        assert!(plausible_code(&"c".repeat(129)).is_err());
    }
}

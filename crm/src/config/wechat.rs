//! Settings of WeChat sign-in for the mini-program (`jscode2session`).

use std::time::Duration;

use clap::Args;

use super::Secret;

/// WeChat sign-in for the mini-program: on when both the AppID and the
/// AppSecret are set (its routes answer 501 otherwise).
#[derive(Debug, Clone, Args)]
pub struct WeChatArgs {
    /// The mini-program's AppID (with CRM_WECHAT_APP_SECRET: WeChat sign-in).
    #[arg(long, env = "CRM_WECHAT_APP_ID")]
    pub wechat_app_id: Option<String>,

    /// The mini-program's AppSecret.
    #[arg(long, env = "CRM_WECHAT_APP_SECRET", hide_env_values = true)]
    pub wechat_app_secret: Option<Secret>,

    /// WeChat's code-to-session endpoint (a stand-in's, for tests).
    #[arg(long, env = "CRM_WECHAT_CODE2SESSION_URL", default_value = command::wechat::DEFAULT_ENDPOINT)]
    pub wechat_code2session_url: String,

    /// How long one code exchange may take, in milliseconds.
    #[arg(long, env = "CRM_WECHAT_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub wechat_timeout_ms: u64,
}

impl WeChatArgs {
    /// The checked settings; `None` when WeChat sign-in is off. One of the
    /// AppID and the AppSecret without the other is a mistake, not "off".
    pub fn config(&self) -> Result<Option<command::wechat::WeChatConfig>, String> {
        match (&self.wechat_app_id, &self.wechat_app_secret) {
            (None, None) => Ok(None),
            (Some(app_id), Some(secret)) => command::wechat::WeChatConfig::new(
                app_id,
                secret.expose(),
                &self.wechat_code2session_url,
                Duration::from_millis(self.wechat_timeout_ms),
            )
            .map(Some),
            _ => Err(
                "set both CRM_WECHAT_APP_ID and CRM_WECHAT_APP_SECRET for WeChat sign-in, or neither"
                    .to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use clap::Parser;

    #[test]
    fn wechat_needs_both_its_id_and_its_secret() {
        let serve = |args: &[&str]| {
            let mut all = vec!["crm", "serve"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all).expect("arguments").command {
                Command::Serve(serve) => serve.wechat.config().map(|c| c.is_some()),
                _ => unreachable!("serve"),
            }
        };
        assert_eq!(serve(&[]), Ok(false));
        let both = ["--wechat-app-id", "wx1", "--wechat-app-secret", "s3cret"];
        assert_eq!(serve(&both), Ok(true));
        assert!(serve(&both[..2]).is_err());
        assert!(serve(&both[2..]).is_err());
        let mut bad_url = both.to_vec();
        bad_url.extend(["--wechat-code2session-url", "not a url"]);
        assert!(serve(&bad_url).is_err());
    }
}

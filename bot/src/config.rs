//! Typed configuration, loaded like the server's: defaults that need only the secrets, then an
//! optional TOML file, then the environment (`PORTAL_BOT_` + key in upper case, `.` written `__`).

use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BotConfig {
    /// Where the portal's API is, without `/v1`.
    pub portal_url: String,
    /// The bot's own key (`hbot_…`), issued when an Owner registers it as an Official bot.
    pub api_key: Option<String>,
    /// Seconds a user waits between two login commands; the portal's codes live 10 minutes, so
    /// asking more often only loads its login endpoints.
    pub cooldown_s: u64,
    /// Seconds between two heartbeats with statistics and command reports (50-bots §8).
    pub report_interval_s: u64,
    /// Seconds a call to the portal may take before it counts as failed.
    pub portal_timeout_s: u64,
    /// Log filter (tracing EnvFilter syntax).
    pub log: String,
    pub telegram: TelegramConfig,
    pub discord: DiscordConfig,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelegramConfig {
    /// The token BotFather gave.
    pub token: Option<String>,
    /// The Bot API server: Telegram's, or a self-hosted `telegram-bot-api`.
    pub api_url: String,
    /// Seconds a `getUpdates` long poll is held open (below the HTTP client's 17 s timeout).
    pub poll_timeout_s: u32,
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DiscordConfig {
    /// The bot token from the developer portal's "Bot" page.
    pub token: Option<String>,
    /// `host:port` of an HTTP proxy in front of Discord's REST API (such as twilight's
    /// http-proxy), spoken to over plain HTTP; unset = Discord itself over HTTPS.
    pub rest_proxy: Option<String>,
    /// A gateway URL (`ws://` or `wss://`) to use instead of Discord's.
    pub gateway_url: Option<String>,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            portal_url: "http://127.0.0.1:8080".into(),
            api_key: None,
            cooldown_s: 20,
            report_interval_s: 60,
            portal_timeout_s: 10,
            log: "info".into(),
            telegram: TelegramConfig::default(),
            discord: DiscordConfig::default(),
        }
    }
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            token: None,
            api_url: "https://api.telegram.org".into(),
            poll_timeout_s: 10,
        }
    }
}

impl BotConfig {
    /// Defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<BotConfig, String> {
        let mut figment = Figment::from(Serialized::defaults(BotConfig::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment
            .merge(Env::prefixed("PORTAL_BOT_").split("__"))
            .extract::<BotConfig>()
            .map_err(|e| format!("invalid configuration: {e}"))
    }

    /// The API key, checked for the form of 50-bots §2.1 so a pasted public key or a truncated
    /// one is reported at start, not as a refusal at the first login.
    pub fn api_key(&self) -> Result<&str, String> {
        let key = self
            .api_key
            .as_deref()
            .ok_or("api_key is not set (PORTAL_BOT_API_KEY)")?;
        let well_formed =
            key.len() == 45 && key.starts_with("hbot_") && key[5..].bytes().all(|b| b.is_ascii_alphanumeric());
        if !well_formed {
            return Err("api_key must be a bot key: hbot_ and 40 letters or digits".into());
        }
        Ok(key)
    }

    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(self.cooldown_s)
    }

    pub fn report_interval(&self) -> Duration {
        Duration::from_secs(self.report_interval_s.max(1))
    }

    pub fn portal_timeout(&self) -> Duration {
        Duration::from_secs(self.portal_timeout_s.max(1))
    }
}

/// A required platform token, named for the error when it is missing.
pub fn required_token<'a>(token: &'a Option<String>, key: &str) -> Result<&'a str, String> {
    match token.as_deref().map(str::trim) {
        Some(token) if !token.is_empty() => Ok(token),
        _ => Err(format!("{key} is not set")),
    }
}

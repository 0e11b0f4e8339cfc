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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail decides the closure's error type
    fn settings_come_from_defaults_then_the_file_then_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "bot.toml",
                r#"
                    portal_url = "https://portal.example.org"
                    cooldown_s = 5
                    [telegram]
                    token = "1:from-the-file"
                "#,
            )?;
            jail.set_env("PORTAL_BOT_TELEGRAM__TOKEN", "2:from-the-environment");
            jail.set_env("PORTAL_BOT_API_KEY", format!("hbot_{}", "a1".repeat(20)));
            let config = BotConfig::load(Some(Path::new("bot.toml"))).expect("a valid configuration");
            assert_eq!(config.portal_url, "https://portal.example.org");
            assert_eq!(config.cooldown(), Duration::from_secs(5));
            assert_eq!(config.report_interval(), Duration::from_secs(60));
            assert_eq!(config.telegram.token.as_deref(), Some("2:from-the-environment"));
            assert_eq!(config.discord.token, None);
            assert!(config.api_key().is_ok());
            assert!(BotConfig::load(Some(Path::new("missing.toml"))).is_err());
            jail.set_env("PORTAL_BOT_COOLDOWN_S", "soon");
            let refused = BotConfig::load(None).err().unwrap_or_default();
            assert!(refused.to_lowercase().contains("cooldown_s"), "{refused}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_or_malformed_secret_is_named_at_start() {
        let mut config = BotConfig::default();
        assert!(config.api_key().unwrap_err().contains("PORTAL_BOT_API_KEY"));
        for wrong in [
            "pk_a_public_key".to_owned(),
            format!("hbot_{}", "a".repeat(39)),
            format!("hbot_{}é", "a".repeat(38)),
        ] {
            config.api_key = Some(wrong);
            assert!(config.api_key().is_err());
        }
        assert!(required_token(&None, "telegram.token")
            .unwrap_err()
            .contains("telegram.token"));
        assert!(required_token(&Some("  ".into()), "discord.token").is_err());
        assert_eq!(required_token(&Some(" 1:abc ".into()), "telegram.token"), Ok("1:abc"));
    }
}

//! The portal's login bot: one process per platform delivers login codes (10-auth §2.4) and
//! reports its heartbeat and command usage to the portal (50-bots §8).

pub mod backoff;
pub mod config;
pub mod discord;
pub mod login;
pub mod portal;
pub mod telegram;
pub mod texts;
pub mod usage;

use std::sync::Arc;

use config::BotConfig;
use login::Logins;
use portal::Portal;
use usage::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    Telegram,
    Discord,
}

impl Platform {
    /// The name the portal knows the platform by.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Telegram => "telegram",
            Platform::Discord => "discord",
        }
    }

    /// The name people read.
    pub fn title(self) -> &'static str {
        match self {
            Platform::Telegram => "Telegram",
            Platform::Discord => "Discord",
        }
    }
}

/// What the bot of every platform shares: the login command and the usage it reports.
pub struct Core {
    pub logins: Logins,
    pub usage: Arc<Usage>,
}

/// Runs the bot of `platform` until `stop` completes or its platform refuses it for good (a wrong
/// token): an unreachable portal or platform is waited for, never a reason to stop. A bot that is
/// stopped sends its last report first, so the commands counted since the one before are kept.
pub async fn run(
    platform: Platform,
    config: BotConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let api_key = config.api_key()?;
    // Every secret is checked before anything reaches the portal or the platform.
    let token = match platform {
        Platform::Telegram => {
            config::required_token(&config.telegram.token, "telegram.token (PORTAL_BOT_TELEGRAM__TOKEN)")?
        }
        Platform::Discord => {
            config::required_token(&config.discord.token, "discord.token (PORTAL_BOT_DISCORD__TOKEN)")?
        }
    };
    let portal = Arc::new(Portal::new(
        &config.portal_url,
        api_key,
        platform,
        config.portal_timeout(),
    )?);
    let usage = Arc::new(Usage::default());
    let core = Arc::new(Core {
        logins: Logins::new(portal.clone(), config.cooldown()),
        usage: usage.clone(),
    });
    let reporter = tokio::spawn(usage::report_forever(
        portal.clone(),
        usage.clone(),
        config.report_interval(),
    ));
    let serving = async {
        match platform {
            Platform::Telegram => telegram::run(&config.telegram, token, core).await,
            Platform::Discord => discord::run(&config.discord, token, core).await,
        }
    };
    let mut stopped = false;
    let result = tokio::select! {
        result = serving => result,
        () = stop => {
            stopped = true;
            Ok(())
        }
    };
    reporter.abort();
    if stopped {
        usage::report_last(&portal, &usage).await;
    }
    result
}

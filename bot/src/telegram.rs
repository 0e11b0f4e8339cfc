//! The Telegram bot: `/login` and the deep link `t.me/<bot>?start=login`, answered in private
//! chats only, over the Bot API's long polling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use teloxide_core::errors::{ApiError, RequestError};
use teloxide_core::payloads::{GetUpdatesSetters, SendMessageSetters};
use teloxide_core::requests::Requester;
use teloxide_core::types::{AllowedUpdate, ChatId, Message, UpdateKind, User};
use teloxide_core::Bot;

use crate::backoff::Backoff;
use crate::config::TelegramConfig;
use crate::login::Outcome;
use crate::portal::Identity;
use crate::{texts, Core, Platform};

/// The most characters of a name the portal takes (10-auth §6.3).
const NAME_LIMIT: usize = 100;

pub async fn run(config: &TelegramConfig, token: &str, core: Arc<Core>) -> Result<(), String> {
    let api_url = reqwest::Url::parse(&config.api_url).map_err(|e| format!("telegram.api_url: {e}"))?;
    // `Bot::new` panics when the HTTP client cannot be built; this says why instead.
    let client = teloxide_core::net::default_reqwest_settings()
        .build()
        .map_err(|e| format!("cannot build the HTTP client for Telegram: {e}"))?;
    let bot = Bot::with_client(token, client).set_api_url(api_url);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let username = loop {
        match bot.get_me().await {
            Ok(me) => break me.username().to_owned(),
            Err(error) => wait_after(error, &mut backoff).await?,
        }
    };
    tracing::info!(bot = %username, "serving Telegram");
    let username: Arc<str> = username.into();
    let mut offset = 0;
    loop {
        let polled = bot
            .get_updates()
            .offset(offset)
            .timeout(config.poll_timeout_s)
            .allowed_updates([AllowedUpdate::Message])
            .await;
        match polled {
            Ok(updates) => {
                backoff.reset();
                for update in updates {
                    // Acknowledged by the next poll whatever happens to it: a message that makes
                    // the handler fail must not come back forever.
                    offset = update.id.as_offset();
                    if let UpdateKind::Message(message) = update.kind {
                        tokio::spawn(handle(bot.clone(), core.clone(), username.clone(), message));
                    }
                }
            }
            Err(error) => wait_after(error, &mut backoff).await?,
        }
    }
}

/// Waits before the next call after a failed one, or gives up on a token Telegram refuses.
async fn wait_after(error: RequestError, backoff: &mut Backoff) -> Result<(), String> {
    let delay = match error {
        RequestError::Api(ApiError::InvalidToken) => return Err("Telegram refuses the bot token".into()),
        RequestError::RetryAfter(wait) => wait.duration(),
        error => {
            let delay = backoff.next_delay();
            tracing::warn!(error = %described(&error), ?delay, "cannot reach Telegram; trying again");
            delay
        }
    };
    tokio::time::sleep(delay).await;
    Ok(())
}

/// An error as the log may show it: teloxide leaves the URL, and so the token, out of network
/// errors, but an unreadable answer's text is left out here, since it may echo a code the bot sent.
fn described(error: &RequestError) -> String {
    match error {
        RequestError::InvalidJson { source, .. } => format!("unreadable answer from Telegram: {source}"),
        error => error.to_string(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Login,
    Welcome,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Login => "login",
            Command::Welcome => "start",
        }
    }
}

/// The command of a message, if it is one for this bot: `/login`, `/start login` (the deep link),
/// `/start` and `/help`, each also as `/command@this_bot` (how groups address one bot).
fn command_of(text: &str, bot_username: &str) -> Option<Command> {
    let mut words = text.split_whitespace();
    let first = words.next()?.strip_prefix('/')?;
    let (name, addressee) = first.split_once('@').unwrap_or((first, bot_username));
    if !addressee.eq_ignore_ascii_case(bot_username) {
        return None;
    }
    match (name, words.next()) {
        ("login", _) | ("start", Some("login")) => Some(Command::Login),
        ("start" | "help", _) => Some(Command::Welcome),
        _ => None,
    }
}

async fn handle(bot: Bot, core: Arc<Core>, bot_username: Arc<str>, message: Message) {
    let (Some(text), Some(user)) = (message.text(), message.from.as_ref()) else {
        return;
    };
    let Some(command) = command_of(text, &bot_username) else {
        return;
    };
    let group = (!message.chat.is_private()).then(|| message.chat.id.0.to_string());
    core.usage
        .command(command.name(), &user.id.0.to_string(), group.as_deref());
    let (reply, secret) = match command {
        Command::Welcome => (texts::welcome(), false),
        // Codes are never shown where others can read them.
        Command::Login if group.is_some() => (texts::write_privately(&bot_username), false),
        Command::Login => {
            let outcome = core.logins.login(&identity(user)).await;
            (
                texts::outcome(&outcome, Platform::Telegram),
                matches!(outcome, Outcome::Code(_)),
            )
        }
    };
    let started = Instant::now();
    // A code may not be forwarded or saved out of the chat.
    match bot.send_message(message.chat.id, reply).protect_content(secret).await {
        Ok(_) => core.usage.latency(started.elapsed()),
        Err(error) => {
            tracing::warn!(error = %described(&error), chat = chat_kind(message.chat.id), "a reply was not delivered")
        }
    }
}

fn chat_kind(chat: ChatId) -> &'static str {
    if chat.is_user() {
        "private"
    } else {
        "group"
    }
}

/// The portal's view of a Telegram user: the @username if there is one, else the name shown.
/// No avatar: Telegram's file URLs carry the bot's token.
fn identity(user: &User) -> Identity {
    let name = user.username.clone().unwrap_or_else(|| user.full_name());
    Identity {
        platform_user_id: user.id.0.to_string(),
        username: name.chars().take(NAME_LIMIT).collect(),
        avatar_url: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_for_this_bot_are_recognised() {
        let of = |text| command_of(text, "PortalBot");
        assert_eq!(of("/login"), Some(Command::Login));
        assert_eq!(of("  /login@portalbot please"), Some(Command::Login));
        assert_eq!(of("/start login"), Some(Command::Login));
        assert_eq!(of("/start"), Some(Command::Welcome));
        assert_eq!(of("/help@PortalBot"), Some(Command::Welcome));
        assert_eq!(of("/login@OtherBot"), None);
        assert_eq!(of("login"), None);
        assert_eq!(of("/"), None);
        assert_eq!(of(""), None);
        assert_eq!(of("/ban 12"), None);
    }
}

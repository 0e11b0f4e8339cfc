//! Every text the bot shows its users, in one place so a translation is this one file.

use std::time::Duration;

use crate::login::Outcome;
use crate::Platform;

/// The reply to a login command, on the chat where the code may be shown.
pub fn outcome(outcome: &Outcome, platform: Platform) -> String {
    match outcome {
        Outcome::Code(issued) => {
            let expiry = match issued.expires_at.as_deref().and_then(readable_time) {
                Some(at) => format!(" It expires at {at}."),
                None => String::new(),
            };
            format!(
                "Your Portal login code: {}\n\nType it on the website.{expiry} \
                 Never share it with anyone: whoever has it can log in as you.",
                issued.code
            )
        }
        Outcome::StartOnWebsite => format!(
            "There is no Portal login waiting for this {} account. Start on the website: \
             choose \"Log in\", pick {}, then run /login here again.",
            platform.title(),
            platform.title()
        ),
        Outcome::WebLoginRequired => "You have logged in through the bot several times in a row. For your \
             security, start once on the website: choose \"Log in\" there, then run /login here again."
            .into(),
        Outcome::Banned { until: Some(until) } => format!(
            "This Portal account is banned until {}.",
            readable_time(until).unwrap_or_else(|| until.clone())
        ),
        Outcome::Banned { until: None } => "This Portal account is banned permanently.".into(),
        Outcome::CoolingDown { wait } => cooling_down(*wait),
        Outcome::PortalUnavailable => "The portal cannot be reached right now. Please try again in a minute.".into(),
        Outcome::BotNotAuthorized => "Logins through this bot are unavailable right now; the operators have \
             been alerted. Please try again later."
            .into(),
        Outcome::Refused => "The portal could not give you a code right now. Please try again later.".into(),
    }
}

fn cooling_down(wait: Duration) -> String {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    format!("Please wait {secs} more seconds before asking for another code.")
}

/// Telegram, `/login` in a group: codes are never shown there.
pub fn write_privately(bot_username: &str) -> String {
    format!(
        "For your security I send login codes only in a private chat. \
         Write to me: https://t.me/{bot_username}?start=login"
    )
}

/// Telegram, `/start` without a payload, or `/help`.
pub fn welcome() -> String {
    "Hi! I deliver login codes for Portal. Send /login to get yours.".into()
}

/// Discord, the ephemeral answer once the code went out by direct message.
pub fn code_sent_privately() -> String {
    "I sent your login code in a direct message.".into()
}

/// Discord, the ephemeral answer when the user's direct messages are closed: the code itself.
pub fn direct_messages_closed(code_message: &str) -> String {
    format!("Your direct messages are closed, so here it is; only you can see this message.\n\n{code_message}")
}

/// Discord, the description of the `/login` command in the command picker.
pub fn login_command_description() -> String {
    "Get a code to log in to Portal".into()
}

/// "2026-04-04 10:10 UTC" for an RFC 3339 timestamp.
fn readable_time(rfc3339: &str) -> Option<String> {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    Some(at.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::IssuedCode;

    #[test]
    fn times_are_shown_in_utc_to_the_minute() {
        assert_eq!(
            readable_time("2026-04-04T12:10:59+02:00").as_deref(),
            Some("2026-04-04 10:10 UTC")
        );
        assert_eq!(readable_time("soon"), None);
        let banned = outcome(
            &Outcome::Banned {
                until: Some("soon".into()),
            },
            Platform::Discord,
        );
        assert!(banned.contains("until soon"), "{banned}");
        let code = Outcome::Code(IssuedCode {
            code: "Ab3dEf7h".into(),
            expires_at: Some("2026-04-04T10:10:00Z".into()),
        });
        let text = outcome(&code, Platform::Telegram);
        assert!(
            text.contains("Ab3dEf7h") && text.contains("2026-04-04 10:10 UTC"),
            "{text}"
        );
    }

    #[test]
    fn a_wait_is_rounded_up_to_whole_seconds() {
        assert!(cooling_down(Duration::from_millis(4100)).contains(" 5 more seconds"));
        assert!(cooling_down(Duration::from_secs(3)).contains(" 3 more seconds"));
    }
}

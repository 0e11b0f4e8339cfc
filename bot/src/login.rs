//! The login command, the same on every platform (10-auth §2.4): send-code, then login-code when
//! the user has no account yet or must log in on the website once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::portal::{CallError, Identity, IssuedCode, Portal};

/// What the user is told after a login command.
pub enum Outcome {
    Code(IssuedCode),
    /// No account and no web login pending (flow B before the website was asked).
    StartOnWebsite,
    /// Too many quick logins in a row and no web login pending (flow C, §3.6).
    WebLoginRequired,
    /// The ban's end, as the portal wrote it; `None` for a permanent ban.
    Banned {
        until: Option<String>,
    },
    CoolingDown {
        wait: Duration,
    },
    PortalUnavailable,
    BotNotAuthorized,
    /// A refusal the bot has no words for; logged with its code.
    Refused,
}

/// Calls the portal at most three times for one command; a user who waits longer is better told
/// to come back.
const ATTEMPTS: u32 = 3;

pub struct Logins {
    portal: Arc<Portal>,
    cooldown: Cooldown,
}

impl Logins {
    pub fn new(portal: Arc<Portal>, cooldown: Duration) -> Logins {
        Logins {
            portal,
            cooldown: Cooldown::new(cooldown),
        }
    }

    pub async fn login(&self, who: &Identity) -> Outcome {
        if let Err(wait) = self.cooldown.try_start(&who.platform_user_id) {
            return Outcome::CoolingDown { wait };
        }
        match retried(|| self.portal.send_code(who)).await {
            Ok(code) => Outcome::Code(code),
            Err(CallError::Refused { code, body, .. }) => match code.as_str() {
                "ERR_USER_NOT_FOUND" => self.pending_web_code(who, Outcome::StartOnWebsite).await,
                "ERR_WEB_LOGIN_REQUIRED" => self.pending_web_code(who, Outcome::WebLoginRequired).await,
                // The ban's end is in the error body's `expires_at` (00-conventions §5.1).
                "ERR_ACCOUNT_BANNED" => Outcome::Banned {
                    until: body["expires_at"].as_str().map(str::to_owned),
                },
                _ => refused("send-code", &code),
            },
            Err(error) => failed("send-code", error),
        }
    }

    /// login-code: the web code if the user asked the website for one, else `without_code`.
    async fn pending_web_code(&self, who: &Identity, without_code: Outcome) -> Outcome {
        match retried(|| self.portal.login_code(who)).await {
            Ok(Some(code)) => Outcome::Code(code),
            Ok(None) => without_code,
            Err(CallError::Refused { code, .. }) => refused("login-code", &code),
            Err(error) => failed("login-code", error),
        }
    }
}

fn refused(call: &str, code: &str) -> Outcome {
    tracing::warn!(call, code, "the portal refused a login");
    Outcome::Refused
}

fn failed(call: &str, error: CallError) -> Outcome {
    match error {
        CallError::NotAuthorized(_) => Outcome::BotNotAuthorized,
        error => {
            tracing::warn!(call, %error, "a login could not reach the portal");
            Outcome::PortalUnavailable
        }
    }
}

/// Tries `call` again, after a short pause, while the portal is unavailable.
async fn retried<T, F, Fut>(call: F) -> Result<T, CallError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(2));
    let mut attempt = 1;
    loop {
        match call().await {
            Err(CallError::Unavailable(_)) if attempt < ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(backoff.next_delay()).await;
            }
            result => return result,
        }
    }
}

/// At most one login command per user per period, so the bot cannot be used to flood the
/// portal's login endpoints.
struct Cooldown {
    period: Duration,
    started: Mutex<HashMap<String, Instant>>,
}

/// Past this many users in the table, entries whose period is over are dropped.
const COOLDOWN_PRUNE_AT: usize = 4096;

impl Cooldown {
    fn new(period: Duration) -> Cooldown {
        Cooldown {
            period,
            started: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a period for `user`, or says how long the running one still lasts.
    fn try_start(&self, user: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = started.get(user) {
            let elapsed = now.duration_since(*at);
            if elapsed < self.period {
                return Err(self.period - elapsed);
            }
        }
        if started.len() >= COOLDOWN_PRUNE_AT {
            started.retain(|_, at| now.duration_since(*at) < self.period);
        }
        started.insert(user.to_owned(), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_waits_out_the_period_and_others_do_not_wait() {
        let cooldown = Cooldown::new(Duration::from_millis(200));
        assert!(cooldown.try_start("1").is_ok());
        let wait = cooldown.try_start("1").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(200));
        assert!(cooldown.try_start("2").is_ok());
        std::thread::sleep(Duration::from_millis(220));
        assert!(cooldown.try_start("1").is_ok());
    }
}

//! The portal's bot-facing API (10-auth §6.3–6.4, 50-bots §8), as the bot's own key sees it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Platform;

/// A platform user as the portal learns them with both login calls.
#[derive(Debug, Clone)]
pub struct Identity {
    pub platform_user_id: String,
    /// The user's current name on the platform (1–100 characters).
    pub username: String,
    /// A public picture URL; never one that carries the bot's token.
    pub avatar_url: Option<String>,
}

/// A login code the portal handed out. Not `Debug`, so it cannot end up in a log by accident.
pub struct IssuedCode {
    pub code: String,
    pub expires_at: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The portal did not answer, timed out, failed or asked to slow down: worth another try.
    #[error("portal unavailable: {0}")]
    Unavailable(String),
    /// The portal does not accept this bot's key for the call (regenerated, deleted, inactive or
    /// not an Official bot of this platform): no user can log in until an operator fixes it.
    #[error("portal refused the bot's credentials: {0}")]
    NotAuthorized(String),
    /// Any other refusal, with the error body's `code` and the whole body.
    #[error("portal refused the call: {status} {code}")]
    Refused { status: u16, code: String, body: Value },
}

/// Error codes that are about the bot's own key or registration, not the user's request.
const CREDENTIAL_ERRORS: &[&str] = &[
    "ERR_INVALID_API_KEY",
    "ERR_AUTH_REQUIRED",
    "ERR_BOT_INACTIVE",
    "ERR_OFFICIAL_BOT_REQUIRED",
    "ERR_PLATFORM_MISMATCH",
];

/// Error codes that pass with time: limits of the portal's rate tiers and of the bot's quota.
const TRANSIENT_ERRORS: &[&str] = &["ERR_RATE_LIMITED", "ERR_BOT_QUOTA_EXCEEDED", "ERR_SERVICE_UNAVAILABLE"];

#[derive(Serialize)]
struct IdentityBody<'a> {
    platform: &'a str,
    platform_user_id: &'a str,
    platform_username: &'a str,
    platform_avatar_url: Option<&'a str>,
}

#[derive(Deserialize)]
struct CodeAnswer {
    code: Option<String>,
    expires_at: Option<String>,
}

/// The statistics a heartbeat carries (50-bots §8.2).
#[derive(Debug, Serialize, Default)]
pub struct Heartbeat {
    pub users: u64,
    pub group_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

/// One record of `POST /v1/bot/batch` (50-bots §8.3).
#[derive(Debug, Clone, Serialize)]
pub struct CommandRecord {
    pub command: String,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    pub timestamp: String,
}

pub struct Portal {
    http: reqwest::Client,
    base: String,
    api_key: String,
    platform: Platform,
    /// Whether the last answer accepted the key; a change is logged once, not at every call.
    authorized: AtomicBool,
}

impl Portal {
    pub fn new(base: &str, api_key: &str, platform: Platform, timeout: Duration) -> Result<Portal, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // The API never redirects, and a redirect elsewhere would carry the key with it.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portal-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Portal {
            http,
            base: base.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            platform,
            authorized: AtomicBool::new(true),
        })
    }

    /// `POST /v1/authentication/bot/send-code`: the code of an existing user (flows A and C).
    pub async fn send_code(&self, who: &Identity) -> Result<IssuedCode, CallError> {
        let answer: CodeAnswer = self
            .post("/v1/authentication/bot/send-code", &self.identity_body(who))
            .await?;
        match answer.code {
            Some(code) => Ok(IssuedCode {
                code,
                expires_at: answer.expires_at,
            }),
            None => Err(CallError::Unavailable("send-code answered without a code".into())),
        }
    }

    /// `POST /v1/authentication/bot/login-code`: the pending web code of an identity, if any.
    pub async fn login_code(&self, who: &Identity) -> Result<Option<IssuedCode>, CallError> {
        let answer: CodeAnswer = self
            .post("/v1/authentication/bot/login-code", &self.identity_body(who))
            .await?;
        Ok(answer.code.map(|code| IssuedCode {
            code,
            expires_at: answer.expires_at,
        }))
    }

    /// `POST /v1/bot/me/update`: heartbeat and statistics.
    pub async fn heartbeat(&self, beat: &Heartbeat) -> Result<(), CallError> {
        self.post::<Value>("/v1/bot/me/update", beat).await.map(drop)
    }

    /// `POST /v1/bot/batch`: command executions since the last report.
    pub async fn report_commands(&self, commands: &[CommandRecord]) -> Result<(), CallError> {
        self.post::<Value>("/v1/bot/batch", &serde_json::json!({ "commands": commands }))
            .await
            .map(drop)
    }

    fn identity_body<'a>(&'a self, who: &'a Identity) -> IdentityBody<'a> {
        IdentityBody {
            platform: self.platform.name(),
            platform_user_id: &who.platform_user_id,
            platform_username: &who.username,
            platform_avatar_url: who.avatar_url.as_deref(),
        }
    }

    async fn post<T: serde::de::DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T, CallError> {
        let sent = self
            .http
            .post(format!("{}{path}", self.base))
            .header("X-API-Key", &self.api_key)
            .json(body)
            .send()
            .await;
        // reqwest's errors name the URL, which holds no secret here (the key is a header).
        let response = sent.map_err(|e| CallError::Unavailable(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Unavailable(e.to_string()))?;
        let result = if status.is_success() {
            serde_json::from_str(&text)
                .map_err(|e| CallError::Unavailable(format!("{path} answered unreadable JSON: {e}")))
        } else {
            Err(refusal(status.as_u16(), &text))
        };
        self.note_authorization(&result);
        result
    }

    fn note_authorization<T>(&self, result: &Result<T, CallError>) {
        match result {
            Err(CallError::NotAuthorized(code)) => {
                if self.authorized.swap(false, Ordering::Relaxed) {
                    tracing::error!(
                        code = %code,
                        "the portal does not accept this bot's API key (regenerated, deleted or deactivated?): \
                         logins are unavailable until PORTAL_BOT_API_KEY is replaced"
                    );
                }
            }
            Err(CallError::Unavailable(_)) => {}
            _ => {
                if !self.authorized.swap(true, Ordering::Relaxed) {
                    tracing::info!("the portal accepts this bot's API key again");
                }
            }
        }
    }
}

fn refusal(status: u16, text: &str) -> CallError {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let code = body["code"].as_str().unwrap_or("").to_owned();
    if CREDENTIAL_ERRORS.contains(&code.as_str()) {
        CallError::NotAuthorized(code)
    } else if status >= 500 || TRANSIENT_ERRORS.contains(&code.as_str()) || code.is_empty() {
        // An answer without the portal's error body comes from something in front of it (a
        // proxy whose upstream is down, say).
        CallError::Unavailable(format!("{status} {code}"))
    } else {
        CallError::Refused { status, code, body }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log kept in memory, for the tests that read what the bot logged.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Log {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// A refused key is logged once when it starts being refused and once when it is accepted
    /// again, never at every call, and the key itself never.
    #[tokio::test]
    async fn a_refused_key_is_logged_once_without_the_key() {
        use axum::routing::post;
        let refusals = Arc::new(Mutex::new(2));
        let router = axum::Router::new().route(
            "/v1/bot/me/update",
            post(move || {
                let refusals = refusals.clone();
                async move {
                    let mut left = refusals.lock().unwrap();
                    if *left > 0 {
                        *left -= 1;
                        let body = r#"{"error":"Invalid API key","code":"ERR_INVALID_API_KEY","correlation_id":"c"}"#;
                        (axum::http::StatusCode::UNAUTHORIZED, body.to_owned())
                    } else {
                        (axum::http::StatusCode::OK, "{}".to_owned())
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let key = format!("hbot_{}", "k3y".repeat(13) + "x");
        let portal = Portal::new(&url, &key, Platform::Discord, Duration::from_secs(5)).unwrap();
        let beat = Heartbeat::default();
        assert!(matches!(
            portal.heartbeat(&beat).await,
            Err(CallError::NotAuthorized(_))
        ));
        assert!(matches!(
            portal.heartbeat(&beat).await,
            Err(CallError::NotAuthorized(_))
        ));
        portal.heartbeat(&beat).await.unwrap();
        portal.heartbeat(&beat).await.unwrap();
        let text = log.text();
        assert_eq!(text.matches("does not accept this bot's API key").count(), 1, "{text}");
        assert_eq!(text.matches("accepts this bot's API key again").count(), 1, "{text}");
        assert!(text.contains("ERR_INVALID_API_KEY"), "{text}");
        assert!(!text.contains(&key[5..]), "{text}");
    }

    #[test]
    fn refusals_are_sorted_by_who_can_fix_them() {
        let body = |code: &str| format!(r#"{{"error":"x","code":"{code}","correlation_id":"c"}}"#);
        assert!(matches!(
            refusal(401, &body("ERR_INVALID_API_KEY")),
            CallError::NotAuthorized(_)
        ));
        assert!(matches!(
            refusal(403, &body("ERR_PLATFORM_MISMATCH")),
            CallError::NotAuthorized(_)
        ));
        assert!(matches!(
            refusal(429, &body("ERR_BOT_QUOTA_EXCEEDED")),
            CallError::Unavailable(_)
        ));
        assert!(matches!(
            refusal(502, "<html>Bad Gateway</html>"),
            CallError::Unavailable(_)
        ));
        assert!(matches!(refusal(404, "not json"), CallError::Unavailable(_)));
        match refusal(403, r#"{"code":"ERR_ACCOUNT_BANNED","expires_at":null}"#) {
            CallError::Refused { status, code, body } => {
                assert_eq!((status, code.as_str()), (403, "ERR_ACCOUNT_BANNED"));
                assert!(body["expires_at"].is_null());
            }
            other => panic!("{other:?}"),
        }
    }
}

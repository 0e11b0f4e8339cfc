//! The chat fields of request bodies and their rules (60-chats §1, §2), with the messages of
//! 00-conventions §5.2.

use serde_json::{json, Value};

use super::{OFFICIAL, PRIVATE, PUBLIC};
use crate::domain::input::{check_text, storable, trimmed_text, Fields};
use crate::error::ApiError;
use crate::store::chats::DIRECT;

pub const VISIBILITIES: [&str; 3] = [OFFICIAL, PUBLIC, PRIVATE];
/// What the admin list filters on: the visibilities staff set, and `direct` for the chats of
/// matchmaking, listed only when asked for (60-chats §9.1).
pub const LISTED_VISIBILITIES: [&str; 4] = [OFFICIAL, PUBLIC, PRIVATE, DIRECT];
const AVATAR_SOURCES: [&str; 6] = [
    "discord_0",
    "discord_1",
    "discord_2",
    "discord_3",
    "discord_4",
    "discord_5",
];
const BROWSER_CONFIG_MAX_BYTES: usize = 4096;

fn one_of(name: &str, value: &str, allowed: &[&str]) -> Result<String, ApiError> {
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(ApiError::validation(
            name,
            format!("{name} must be one of: {}", allowed.join(", ")),
        ))
    }
}

pub fn check_visibility(name: &str, value: &str) -> Result<String, ApiError> {
    one_of(name, value, &VISIBILITIES)
}

pub fn check_listed_visibility(name: &str, value: &str) -> Result<String, ApiError> {
    one_of(name, value, &LISTED_VISIBILITIES)
}

/// A chat's avatar choice: `discord_0` … `discord_5`.
pub fn check_avatar_source(value: &str) -> Result<String, ApiError> {
    one_of("avatar_source", value, &AVATAR_SOURCES)
}

/// U+0000–U+001F and U+007F.
fn is_control(c: char) -> bool {
    c <= '\u{1f}' || c == '\u{7f}'
}

/// A chat name: 2–64 characters after trimming, no control characters.
pub fn check_name(value: &str) -> Result<String, ApiError> {
    let trimmed = value.trim();
    check_text("name", trimmed, 2, 64, |c| !is_control(c))?;
    Ok(trimmed.to_owned())
}

/// A slug is an identifier: never trimmed or lower-cased.
pub fn check_slug(value: &str) -> Result<String, ApiError> {
    check_text("slug", value, 2, 32, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    })?;
    Ok(value.to_owned())
}

/// Optional free text: trimmed, at most `max` characters; empty counts as `null`.
pub fn optional_text(name: &str, value: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(text) => {
            let trimmed = trimmed_text(name, text, 0, max)?;
            Ok((!trimmed.is_empty()).then_some(trimmed))
        }
    }
}

pub fn description(fields: &Fields) -> Result<Option<String>, ApiError> {
    optional_text("description", fields.opt_str("description")?, 500)
}

/// The stored text of a `browser_config` object (§2.2); `null` is not an object.
pub fn browser_config_text(value: &Value) -> Result<String, ApiError> {
    if !value.is_object() {
        return Err(ApiError::validation(
            "browser_config",
            "browser_config must be an object",
        ));
    }
    BrowserSettings::check(value)?;
    let text = value.to_string();
    if text.len() > BROWSER_CONFIG_MAX_BYTES {
        return Err(ApiError::validation(
            "browser_config",
            format!("browser_config must be at most {BROWSER_CONFIG_MAX_BYTES} bytes"),
        ));
    }
    Ok(text)
}

/// The browsers `browser_config.browser` may name (92-browser-rooms §2.5).
pub const BROWSERS: [&str; 5] = ["chromium", "chrome", "firefox", "brave", "tor"];

/// The three keys of `browser_config` that mean something (92-browser-rooms §2.5).
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserSettings {
    pub browser: String,
    pub start_url: Option<String>,
    pub kiosk: bool,
}

/// An absolute `http` or `https` URL with a host: what `start_url` and `nav:go` may load.
/// No whitespace or control characters anywhere, and after the scheme an authority whose host is
/// not empty and whose port, when given, is a number.
pub fn is_web_url(text: &str) -> bool {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://")) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return false,
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    !host.is_empty() && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

impl BrowserSettings {
    /// Refuses a written value that breaks the rules of §2.5, naming the key.
    fn check(config: &Value) -> Result<(), ApiError> {
        if let Some(browser) = config.get("browser") {
            if !browser.as_str().is_some_and(|b| BROWSERS.contains(&b)) {
                return Err(ApiError::validation(
                    "browser_config.browser",
                    format!("browser_config.browser must be one of: {}", BROWSERS.join(", ")),
                ));
            }
        }
        match config.get("start_url") {
            None | Some(Value::Null) => {}
            Some(Value::String(url)) if url.chars().count() > 2048 => {
                return Err(ApiError::validation(
                    "browser_config.start_url",
                    "browser_config.start_url must be at most 2048 characters",
                ))
            }
            Some(Value::String(url)) if is_web_url(url) => {}
            Some(_) => {
                return Err(ApiError::validation(
                    "browser_config.start_url",
                    "browser_config.start_url must be a valid URL",
                ))
            }
        }
        if config.get("kiosk").is_some_and(|k| !k.is_boolean()) {
            return Err(ApiError::validation(
                "browser_config.kiosk",
                "browser_config.kiosk must be a boolean",
            ));
        }
        Ok(())
    }

    /// The settings a start reads; a stored value that breaks the rules counts as absent (§2.5).
    pub fn read(stored: &str) -> BrowserSettings {
        let config: Value = serde_json::from_str(stored).unwrap_or(Value::Null);
        let browser = config
            .get("browser")
            .and_then(Value::as_str)
            .filter(|b| BROWSERS.contains(b))
            .unwrap_or("firefox");
        let start_url = config
            .get("start_url")
            .and_then(Value::as_str)
            .filter(|url| url.chars().count() <= 2048 && is_web_url(url));
        BrowserSettings {
            browser: browser.to_owned(),
            start_url: start_url.map(str::to_owned),
            kiosk: config.get("kiosk").and_then(Value::as_bool).unwrap_or(false),
        }
    }
}

pub fn default_browser_config() -> String {
    json!({"browser": "firefox", "start_url": null, "kiosk": false}).to_string()
}

/// `browser_config` when sent: the stored text of the object.
pub fn browser_config(fields: &Fields) -> Result<Option<String>, ApiError> {
    fields.raw("browser_config").map(browser_config_text).transpose()
}

/// A chat creation, validated: `POST /v1/portal/chats` (no slug) and `POST /v1/admin/chats` (slug
/// required).
pub struct NewChat {
    pub name: String,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub allow_control_requests: bool,
    pub browser_config: String,
}

/// A field of the admin update: absent, or sent (where `null` clears a nullable field).
pub fn nullable<T>(
    fields: &Fields,
    name: &str,
    read: impl FnOnce(&str) -> Result<Option<T>, ApiError>,
) -> Result<Option<Option<T>>, ApiError> {
    match fields.raw(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) => read(storable(name, text)?).map(Some),
        Some(_) => Err(ApiError::validation(name, format!("{name} must be a string"))),
    }
}

/// A field of the admin update that cannot be cleared: `null` is the wrong type.
pub fn required_if_sent<'a>(fields: &'a Fields, name: &str) -> Result<Option<&'a str>, ApiError> {
    match fields.raw(name) {
        None => Ok(None),
        Some(Value::String(text)) => storable(name, text).map(Some),
        Some(_) => Err(ApiError::validation(name, format!("{name} must be a string"))),
    }
}

/// The change of `POST /v1/admin/chats/{chat_id}/update`: only the fields sent, validated; an inner
/// `None` clears a nullable field.
#[derive(Default)]
pub struct ChatPatch {
    pub name: Option<String>,
    pub visibility: Option<String>,
    pub label: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub slug: Option<Option<String>>,
    pub browser_config: Option<String>,
    pub avatar_source: Option<Option<String>>,
    pub allow_control_requests: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_slugs_follow_the_contract() {
        assert_eq!(check_name("  ab  ").unwrap(), "ab");
        assert!(check_name("a").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name("tab\there").is_err());
        assert!(check_name("del\u{7f}").is_err());
        assert!(check_name("caf\u{e9} \u{85}ok").is_ok());
        assert!(check_slug("main-lobby-2").is_ok());
        for bad in ["My-Chat", "a b", " ab", "a", "x_y", &"a".repeat(33)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod browser_settings_tests {
    use super::*;

    #[test]
    fn web_urls_are_absolute_http_or_https_with_a_host() {
        for ok in [
            "https://example.org/",
            "http://10.0.0.5:8080/x?y#z",
            "https://[2001:db8::1]:443/",
            "HTTP://A.B",
        ] {
            assert!(is_web_url(ok), "{ok}");
        }
        for bad in [
            "ftp://example.org/",
            "https://",
            "https:///path",
            "example.org",
            "https://a b/",
            "https://h:port/",
            "javascript:alert(1)",
        ] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }

    #[test]
    fn written_keys_are_checked_and_stored_bad_values_read_as_absent() {
        assert!(
            BrowserSettings::check(&json!({"browser": "tor", "start_url": null, "kiosk": true, "other": 1})).is_ok()
        );
        for (bad, field) in [
            (json!({"browser": "safari"}), "browser_config.browser"),
            (json!({"start_url": "file:///etc/passwd"}), "browser_config.start_url"),
            (
                json!({"start_url": format!("https://e.org/{}", "a".repeat(2048))}),
                "browser_config.start_url",
            ),
            (json!({"kiosk": "yes"}), "browser_config.kiosk"),
        ] {
            match BrowserSettings::check(&bad) {
                Err(ApiError::Validation { field: Some(f), .. }) => assert_eq!(f, field),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let read = BrowserSettings::read(r#"{"browser": "safari", "start_url": "file:///x", "kiosk": 1}"#);
        assert_eq!(
            read,
            BrowserSettings {
                browser: "firefox".into(),
                start_url: None,
                kiosk: false
            }
        );
    }
}

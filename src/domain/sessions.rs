//! Sessions: creation with its token, TTL and geo; the cookie that carries it; how sessions end.

use std::net::IpAddr;

use crate::crypto;
use crate::domain::app::App;
use crate::error::ApiError;
use crate::level::Level;
pub use crate::store::sessions::LiveSession;
use crate::store::sessions::SessionRow;
use crate::store::{self, Conn};
use crate::time::MICROS_PER_SECOND;

/// The TTL in seconds for a user of `level` (10-auth §4.2).
pub fn ttl_seconds(app: &App, level: Level) -> i64 {
    if level.is_staff_ttl() {
        app.config.session.ttl_staff_s
    } else {
        app.config.session.ttl_user_s
    }
}

/// A new session's token (shown once, in the cookie) and its TTL.
pub struct Opened {
    pub token: String,
    pub ttl_s: i64,
}

/// A session's lifetime in microseconds for a user of each level, by level number.
pub fn lifetime_by_level(app: &App) -> [i64; 4] {
    Level::ALL.map(|level| ttl_seconds(app, level) * MICROS_PER_SECOND)
}

/// Where a session is opened from, as its row keeps it.
pub struct Origin {
    pub client_ip: String,
    pub user_agent: Option<String>,
    pub geo: Option<String>,
}

impl Origin {
    pub fn of(app: &App, client_ip: IpAddr, user_agent: Option<&str>) -> Origin {
        Origin {
            client_ip: client_ip.to_string(),
            user_agent: user_agent.map(|ua| ua.chars().take(512).collect()),
            geo: app.geo.lookup(client_ip).and_then(|g| serde_json::to_string(&g).ok()),
        }
    }
}

/// Opens a session of `ttl_s` seconds for `user_id` inside the caller's transaction.
pub async fn open(
    app: &App,
    conn: &mut Conn,
    user_id: i64,
    ttl_s: i64,
    client_ip: IpAddr,
    user_agent: Option<&str>,
) -> Result<Opened, ApiError> {
    let now = app.now();
    let origin = Origin::of(app, client_ip, user_agent);
    // The suffix names the session to its user, so it must differ from their live sessions'.
    loop {
        let token = crypto::new_session_token();
        let inserted = store::sessions::insert_unless_suffix_live(
            conn,
            store::sessions::NewSession {
                user_id,
                token_hash: &crypto::sha256_hex(&token),
                token_suffix: crypto::token_suffix(&token),
                expires_at: now + ttl_s * MICROS_PER_SECOND,
                client_ip: &origin.client_ip,
                user_agent: origin.user_agent.as_deref(),
                geo: origin.geo.clone(),
                now,
            },
        )
        .await?;
        if inserted {
            return Ok(Opened { token, ttl_s });
        }
    }
}

fn cookie_attributes(app: &App) -> String {
    let mut attrs = format!("Path=/; HttpOnly; SameSite={}", app.config.cookie.same_site);
    if app.derived.cookie_secure {
        attrs.push_str("; Secure");
    }
    if let Some(domain) = &app.config.cookie.domain {
        attrs.push_str("; Domain=");
        attrs.push_str(domain);
    }
    attrs
}

pub fn set_cookie(app: &App, opened: &Opened) -> String {
    format!(
        "{}={}; Max-Age={}; {}",
        app.config.session.cookie_name,
        opened.token,
        opened.ttl_s,
        cookie_attributes(app)
    )
}

pub fn clear_cookie(app: &App) -> String {
    format!(
        "{}=; Max-Age=0; {}",
        app.config.session.cookie_name,
        cookie_attributes(app)
    )
}

/// A user's live sessions and the latest 50 ended ones (`GET /v1/users/me/sessions`).
pub async fn own(app: &App, user_id: i64) -> Result<(Vec<SessionRow>, Vec<SessionRow>), ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let live = store::sessions::live_of(&mut conn, user_id, now).await?;
    let history = store::sessions::history_of(&mut conn, user_id, now, 50).await?;
    Ok((live, history))
}

/// Ends one of a user's other sessions, named by its token suffix; never the current one.
pub async fn end_own(app: &App, user_id: i64, suffix: &str, current_suffix: &str) -> Result<(), ApiError> {
    if suffix == current_suffix {
        return Err(ApiError::CurrentSession);
    }
    let mut writer = app.store.writer().await?;
    store::sessions::end_by_suffix(&mut writer, user_id, suffix, "revoked", app.now())
        .await?
        .ok_or(ApiError::SessionNotFound)?;
    Ok(())
}

/// Ends every live session of a user but `keep`; returns how many ended.
pub async fn end_own_others(app: &App, user_id: i64, keep: i64) -> Result<u64, ApiError> {
    let mut writer = app.store.writer().await?;
    Ok(store::sessions::end_all_of(&mut writer, user_id, Some(keep), "revoked", app.now()).await?)
}

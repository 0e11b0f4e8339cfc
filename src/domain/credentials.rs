//! Credentials (00-conventions §2): what an API key names and which live session a cookie token
//! belongs to, through the one-second caches of keys and sessions. The HTTP layer reads the
//! headers; the rules are here.

pub use crate::store::keys::BotRow;
pub use crate::store::sessions::LiveSession;

use crate::crypto;
use crate::domain::app::App;
use crate::error::ApiError;
use crate::store;
use crate::time::MICROS_PER_SECOND;

/// `last_activity_at` is written at most once a minute per user.
const ACTIVITY_GAP: i64 = 60 * MICROS_PER_SECOND;

/// What an `X-API-Key` header named.
#[derive(Debug, Clone)]
pub enum ApiKey {
    None,
    Public { digest: String },
    Bot(BotRow),
}

/// The key `text` names: an active bot's (`hbot_…`), or a public key from the configuration or
/// made by the command-line tool. Unknown → `InvalidApiKey`; an inactive bot → `BotInactive`.
pub async fn api_key(app: &App, text: &str) -> Result<ApiKey, ApiError> {
    let now = app.now();
    let digest = crypto::sha256_hex(text);
    if text.starts_with("hbot_") {
        if !crypto::is_bot_key_form(text) {
            return Err(ApiError::InvalidApiKey);
        }
        let cache = &app.ephemeral.bots;
        let ticket = cache.ticket();
        let bot = match cache.get(&digest, now) {
            Some(bot) => bot,
            None => {
                let mut conn = app.store.acquire().await?;
                let bot = store::keys::bot_by_key_hash(&mut conn, &digest)
                    .await?
                    .ok_or(ApiError::InvalidApiKey)?;
                cache.put(ticket, digest.clone(), bot.clone(), now, None);
                bot
            }
        };
        if bot.is_active == 0 {
            return Err(ApiError::BotInactive);
        }
        return Ok(ApiKey::Bot(bot));
    }
    let configured = app
        .config
        .public_api_keys
        .iter()
        .any(|k| crypto::constant_time_eq(k, text));
    let known = configured || {
        let mut conn = app.store.acquire().await?;
        store::keys::public_key_exists(&mut conn, &digest).await?
    };
    if known {
        Ok(ApiKey::Public { digest })
    } else {
        Err(ApiError::InvalidApiKey)
    }
}

/// The live session of a cookie token, if any; records the user's activity at most once a
/// minute.
pub async fn session(app: &App, token: &str) -> Result<Option<LiveSession>, ApiError> {
    if !crypto::is_session_token_form(token) {
        return Ok(None);
    }
    let now = app.now();
    let hash = crypto::sha256_hex(token);
    let cache = &app.ephemeral.sessions;
    // Taken before the look-up, so a write clearing the cache after it voids the activity update
    // stored below.
    let ticket = cache.ticket();
    let found = cache
        .get_or_load(
            hash.clone(),
            || app.now(),
            |now| {
                let hash = &hash;
                async move {
                    let mut c = app.store.acquire().await?;
                    let live = store::sessions::live_by_hash(&mut c, hash, now).await?;
                    Ok::<_, ApiError>(live.map(|l| {
                        let expires_at = l.session_expires_at;
                        (l, Some(expires_at))
                    }))
                }
            },
        )
        .await?;
    let mut session = found.filter(|s| s.session_expires_at > now);
    if let Some(live) = session.as_mut() {
        if now - live.user.last_activity_at > ACTIVITY_GAP {
            let mut writer = app.store.writer().await?;
            store::users::refresh_activity(&mut writer, live.user.id, now, ACTIVITY_GAP).await?;
            live.user.last_activity_at = now;
            app.ephemeral.forget_views_of(live.user.id);
            cache.put(ticket, hash, live.clone(), now, Some(live.session_expires_at));
        }
    }
    Ok(session)
}

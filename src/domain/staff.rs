//! Staff acts shared by the HTTP API and the command-line tool. Each runs in one transaction with
//! its history and audit rows. `actor` is `None` for the command-line tool.

use serde_json::json;

use crate::app::App;
use crate::crypto;
use crate::domain::level::Level;
use crate::domain::sessions::ttl_seconds;
use crate::error::ApiError;
use crate::store::audit::{self, NewAudit};
use crate::store::keys::{BotRow, NewBot};
use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::time::MICROS_PER_SECOND;

/// Owners who are not banned; the platform must always keep one.
async fn unbanned_owner_count(conn: &mut Conn, now: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users u WHERE u.permission_level = 3 AND NOT EXISTS (\
         SELECT 1 FROM moderation_actions m WHERE m.user_id = u.id AND m.action_type = 'PLATFORM_BAN' \
         AND m.is_lifted = 0 AND (m.expires_at IS NULL OR m.expires_at > $1))",
    )
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// Refuses an act that would leave no unbanned Owner when `target` is one.
pub async fn guard_last_owner(conn: &mut Conn, target: &UserRow, now: i64) -> Result<(), ApiError> {
    if target.permission_level == Level::Owner.as_i64() {
        let restrictions = store::users::restrictions(conn, target.id, now).await?;
        if restrictions.ban.is_none() && unbanned_owner_count(conn, now).await? <= 1 {
            return Err(ApiError::LastOwner);
        }
    }
    Ok(())
}

pub struct LevelChange {
    pub history_id: i64,
    pub sessions_ended: u64,
}

/// Sets a level: permission history, session re-cap and the `USER_PERMISSION` audit row.
pub async fn set_level(
    app: &App,
    conn: &mut Conn,
    actor: Option<i64>,
    target: &UserRow,
    new_level: Level,
    reason: Option<&str>,
) -> Result<LevelChange, ApiError> {
    let now = app.now();
    if target.permission_level == new_level.as_i64() {
        return Err(ApiError::PermissionUnchanged);
    }
    if new_level < Level::Owner {
        guard_last_owner(conn, target, now).await?;
    }
    store::users::set_level(conn, target.id, new_level.as_i64(), now).await?;
    let history_id = store::history::insert_permission_history(
        conn,
        target.id,
        target.permission_level,
        new_level.as_i64(),
        reason,
        actor,
        now,
    )
    .await?;
    let ttl = ttl_seconds(app, new_level) * MICROS_PER_SECOND;
    let sessions_ended = store::sessions::recap(conn, target.id, ttl, now).await?;
    audit::insert(
        conn,
        &app.store.faults,
        NewAudit {
            event_type: "USER_PERMISSION",
            actor_id: actor,
            target_type: "user",
            target_id: Some(target.id),
            metadata: json!({
                "old_level": target.permission_level,
                "new_level": new_level.as_i64(),
                "reason": reason,
                "history_id": history_id,
                "sessions_ended": sessions_ended,
            }),
            now,
        },
    )
    .await?;
    Ok(LevelChange {
        history_id,
        sessions_ended,
    })
}

pub struct NewBotSpec<'a> {
    pub name: &'a str,
    pub platform: &'a str,
    pub owner: &'a UserRow,
    pub bot_type: i64,
    pub rate_limit_per_hour: i64,
}

/// Registers a bot; the key is returned once and only its digest is stored.
pub async fn register_bot(
    app: &App,
    conn: &mut Conn,
    actor: Option<i64>,
    spec: NewBotSpec<'_>,
) -> Result<(BotRow, String), ApiError> {
    let now = app.now();
    if store::keys::bot_name_taken(conn, spec.platform, spec.name).await? {
        return Err(ApiError::BotNameTaken);
    }
    let key = crypto::new_bot_key();
    let prefix = &key[..9];
    let bot = store::keys::insert_bot(
        conn,
        NewBot {
            name: spec.name,
            platform: spec.platform,
            owner_id: spec.owner.id,
            bot_type: spec.bot_type,
            rate_limit_per_hour: spec.rate_limit_per_hour,
            key_hash: &crypto::sha256_hex(&key),
            key_prefix: prefix,
            now,
        },
    )
    .await?;
    audit::insert(
        conn,
        &app.store.faults,
        NewAudit {
            event_type: "BOT_REGISTER",
            actor_id: actor,
            target_type: "bot",
            target_id: Some(bot.id),
            metadata: json!({
                "name": bot.name,
                "platform": bot.platform,
                "owner_id": bot.owner_id,
                "rate_limit_per_hour": bot.rate_limit_per_hour,
                "key_prefix": prefix,
            }),
            now,
        },
    )
    .await?;
    Ok((bot, key))
}

/// A public API key for the command-line tool; returns its id and the key (shown once).
pub async fn create_public_key(app: &App, conn: &mut Conn, label: Option<&str>) -> Result<(i64, String), ApiError> {
    let now = app.now();
    let key = crypto::new_public_key();
    let id = store::keys::insert_public_key(conn, label, &crypto::sha256_hex(&key), &key[..7], now).await?;
    audit::insert(
        conn,
        &app.store.faults,
        NewAudit {
            event_type: "PUBLIC_KEY_CREATE",
            actor_id: None,
            target_type: "system",
            target_id: None,
            metadata: json!({"key_id": id, "label": label}),
            now,
        },
    )
    .await?;
    Ok((id, key))
}

/// The command-line tool revokes one session (by suffix) or all of a user's; one audit row each.
pub async fn revoke_sessions(
    app: &App,
    conn: &mut Conn,
    user: &UserRow,
    suffix: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let now = app.now();
    let live = store::sessions::live_of(conn, user.id, now).await?;
    let chosen: Vec<_> = live
        .into_iter()
        .filter(|s| suffix.is_none_or(|x| s.token_suffix == x))
        .collect();
    if suffix.is_some() && chosen.is_empty() {
        return Err(ApiError::SessionNotFound);
    }
    let mut revoked = Vec::new();
    for session in chosen {
        if store::sessions::end_by_id(conn, session.id, "revoked", now).await? {
            audit::insert(
                conn,
                &app.store.faults,
                NewAudit {
                    event_type: "SESSION_REVOKE",
                    actor_id: None,
                    target_type: "user",
                    target_id: Some(user.id),
                    metadata: json!({"token_suffix": session.token_suffix, "end_reason": "revoked"}),
                    now,
                },
            )
            .await?;
            revoked.push(session.token_suffix);
        }
    }
    Ok(revoked)
}

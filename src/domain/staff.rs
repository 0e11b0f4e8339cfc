//! Staff acts shared by the HTTP API and the command-line tool. Each runs in one transaction with
//! its history and audit rows. `actor` is `None` for the command-line tool.

use serde_json::{json, Value};

use crate::bot_type::BotType;
use crate::crypto;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::bots::{self, OwnerLost};
use crate::domain::sessions::ttl_seconds;
use crate::domain::transport::effects::UserGone;
use crate::domain::users;
use crate::error::ApiError;
use crate::level::{can_act_on, Level};
use crate::store::history::{History, HistoryEntry};
use crate::store::keys::{BotRow, NewBot};
use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::time::{Timestamp, MICROS_PER_SECOND};

/// Refuses an act that would leave no unbanned Owner when `target` is one. The Owner rows stay
/// locked until the transaction ends, so two Owners acting on each other cannot both pass.
pub async fn guard_last_owner(conn: &mut Conn, target: &UserRow, now: i64) -> Result<(), ApiError> {
    if target.permission_level == Level::Owner {
        store::users::lock_owners(conn).await?;
        let restrictions = store::users::restrictions(conn, target.id, now).await?;
        if restrictions.ban.is_none() && store::users::unbanned_owner_count(conn, now).await? <= 1 {
            return Err(ApiError::LastOwner);
        }
    }
    Ok(())
}

/// The staff member acting through the API.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub id: i64,
    pub level: Level,
}

/// Loads the target of a staff act and applies the relation rules in the contract's order: the
/// user exists (404), is not the actor (400), and the actor may act on them (403).
pub async fn target_for(conn: &mut Conn, actor: Actor, user_id: i64) -> Result<UserRow, ApiError> {
    let target = store::users::by_id(conn, user_id)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    related(actor, target)
}

/// As `target_for`, for the staff acts that are not moderation, where a stranger is no user
/// (91-matchmaking §2.3): subscriptions and permission changes.
pub async fn registered_target_for(conn: &mut Conn, actor: Actor, user_id: i64) -> Result<UserRow, ApiError> {
    related(actor, users::registered(conn, user_id).await?)
}

/// The relation rules after the target exists: not the actor (400), and within the actor's reach (403).
fn related(actor: Actor, target: UserRow) -> Result<UserRow, ApiError> {
    if target.id == actor.id {
        return Err(ApiError::SelfTarget);
    }
    if !can_act_on(actor.level, target.permission_level) {
        return Err(ApiError::Hierarchy);
    }
    Ok(target)
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
    if target.permission_level == new_level {
        return Err(ApiError::PermissionUnchanged);
    }
    if new_level < Level::Owner {
        guard_last_owner(conn, target, now).await?;
    }
    store::users::set_level(conn, target.id, new_level.as_i64(), now).await?;
    let entry = HistoryEntry {
        user_id: target.id,
        old: target.permission_level.as_i64(),
        new: new_level.as_i64(),
        reason,
        by: actor,
        now,
    };
    let history_id = store::history::insert_history(conn, History::Permission, entry).await?;
    let ttl = ttl_seconds(app, new_level) * MICROS_PER_SECOND;
    let sessions_ended = store::sessions::recap(conn, target.id, ttl, now).await?;
    if target.permission_level == Level::Owner && new_level < Level::Owner {
        bots::stop_bots_of(app, conn, actor, target.id, OwnerLost::Demoted, now).await?;
    }
    audit::record(
        app,
        conn,
        AuditEvent::UserPermission,
        actor,
        Target::User(target.id),
        json!({
            "old_level": target.permission_level,
            "new_level": new_level.as_i64(),
            "reason": reason,
            "history_id": history_id,
            "sessions_ended": sessions_ended,
        }),
        now,
    )
    .await?;
    Ok(LevelChange {
        history_id,
        sessions_ended,
    })
}

/// Removes a user's rows: pending login codes are keyed by identity and go first, the schema's
/// cascades remove the rest (identities, sessions, memberships, notifications, owned chats and bots,
/// moderation and history rows, pair blocks).
pub async fn remove_user_rows(conn: &mut Conn, user_id: i64) -> Result<(), sqlx::Error> {
    store::codes::delete_for_user(conn, user_id).await?;
    store::users::delete(conn, user_id).await
}

/// Hard-deletes a user with what belongs to it (30-admin-moderation §5.7, `remove_user_rows`),
/// audited. Records naming the user as actor keep their ids.
/// What it does to chat rooms is returned, for the caller to announce after commit.
pub async fn delete_user(
    app: &App,
    conn: &mut Conn,
    actor: Option<i64>,
    target: &UserRow,
    reason: Option<&str>,
) -> Result<UserGone, ApiError> {
    let now = app.now();
    guard_last_owner(conn, target, now).await?;
    let mut bot_ids: Vec<i64> = store::keys::bots_of_owner(conn, target.id, i64::MAX)
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect();
    bot_ids.sort_unstable();
    let mut chat_ids: Vec<i64> = store::history::chats_owned_by(conn, target.id, i64::MAX)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    chat_ids.sort_unstable();
    let gone = UserGone::gather(conn, target.id, &chat_ids).await?;
    remove_user_rows(conn, target.id).await?;
    audit::record(
        app,
        conn,
        AuditEvent::UserDelete,
        actor,
        Target::User(target.id),
        json!({
            "username": target.username,
            "permission_level": target.permission_level,
            "reason": reason,
            "deleted_bot_ids": bot_ids,
            "deleted_chat_ids": chat_ids,
        }),
        now,
    )
    .await?;
    Ok(gone)
}

pub struct NewBotSpec<'a> {
    pub name: &'a str,
    pub platform: &'a str,
    pub owner: &'a UserRow,
    pub bot_type: BotType,
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
    audit::record(
        app,
        conn,
        AuditEvent::BotRegister,
        actor,
        Target::Bot(bot.id),
        json!({
            "name": bot.name,
            "platform": bot.platform,
            "owner_id": bot.owner_id,
            "rate_limit_per_hour": bot.rate_limit_per_hour,
            "key_prefix": prefix,
        }),
        now,
    )
    .await?;
    Ok((bot, key))
}

/// A public API key for the command-line tool; returns its id and the key (shown once).
pub async fn create_public_key(app: &App, conn: &mut Conn, label: Option<&str>) -> Result<(i64, String), ApiError> {
    let now = app.now();
    let key = crypto::new_public_key();
    let id = store::keys::insert_public_key(conn, label, &crypto::sha256_hex(&key), &key[..7], now).await?;
    audit::record(
        app,
        conn,
        AuditEvent::PublicKeyCreate,
        None,
        Target::System,
        json!({"key_id": id, "label": label}),
        now,
    )
    .await?;
    Ok((id, key))
}

/// The public keys the command-line tool made, revoked ones included, as it prints them.
pub async fn public_keys(conn: &mut Conn) -> Result<Value, ApiError> {
    let keys = store::keys::public_keys(conn).await?;
    Ok(keys
        .into_iter()
        .map(|k| {
            json!({"id": k.id, "label": k.label, "key_prefix": k.key_prefix, "created_at": Timestamp(k.created_at),
                   "revoked_at": k.revoked_at.map(Timestamp)})
        })
        .collect())
}

/// Revokes a public key made by the command-line tool: from this moment it is refused like an
/// unknown key (credentials are read from the database on every request).
pub async fn revoke_public_key(app: &App, conn: &mut Conn, id: i64) -> Result<(), ApiError> {
    let now = app.now();
    let revoked = store::keys::revoke_public_key(conn, id, now)
        .await?
        .ok_or_else(|| ApiError::validation("id", "no public key with this id is in use"))?;
    audit::record(
        app,
        conn,
        AuditEvent::PublicKeyRevoke,
        None,
        Target::System,
        json!({"key_id": revoked.id, "label": revoked.label}),
        now,
    )
    .await
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
            audit::record(
                app,
                conn,
                AuditEvent::SessionRevoke,
                None,
                Target::User(user.id),
                json!({"token_suffix": session.token_suffix, "end_reason": "revoked"}),
                now,
            )
            .await?;
            revoked.push(session.token_suffix);
        }
    }
    Ok(revoked)
}

//! Platform moderation of users (30-admin-moderation §5): warnings, timeouts, bans, permission
//! changes and deletion, and the hard mute (80-notifications-portal §4). Each act is one transaction holding the change, its moderation or history
//! row and its audit row; the relation rules (404, self, hierarchy) come from `staff::target_for`.

use std::sync::Arc;

use serde_json::json;

use crate::action_type::ActionType;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::bots::{self, OwnerLost};
use crate::domain::matchmaking;
use crate::domain::presence;
use crate::domain::staff::{self, Actor};
use crate::domain::transport::effects;
use crate::error::ApiError;
use crate::level::Level;
pub use crate::store::history::{ModerationFilter, ModerationRow};
use crate::store::history::{NewModeration, PermissionHistoryRow};
use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::time::{Timestamp, MICROS_PER_SECOND};

/// The staff member acting, and the chat an act is issued from: `None` for the admin user
/// endpoints and the hard mute, the chat for acts taken inside one (80-notifications-portal §5).
/// Both the record and its audit row name that chat.
#[derive(Debug, Clone, Copy)]
pub struct Issuer {
    pub actor: Actor,
    pub chat_id: Option<i64>,
}

impl Issuer {
    pub fn platform(actor: Actor) -> Issuer {
        Issuer { actor, chat_id: None }
    }
}

/// Inserts an action issued by `issuer`; returns its id.
pub async fn issue(
    conn: &mut Conn,
    issuer: Issuer,
    target_id: i64,
    action_type: ActionType,
    reason: Option<&str>,
    expires_at: Option<i64>,
    now: i64,
) -> Result<i64, ApiError> {
    Ok(store::history::insert_moderation(
        conn,
        NewModeration {
            user_id: target_id,
            action_type,
            reason,
            chat_id: issuer.chat_id,
            issued_by_id: Some(issuer.actor.id),
            expires_at,
            now,
        },
    )
    .await?)
}

async fn action(conn: &mut Conn, id: i64) -> Result<ModerationRow, ApiError> {
    store::history::moderation_by_id(conn, id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("moderation action {id} vanished")))
}

/// `POST /v1/admin/users/{id}/warn`: a record only.
pub async fn warn(app: &App, actor: Actor, user_id: i64, reason: &str) -> Result<ModerationRow, ApiError> {
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    let id = record_warning(app, &mut tx, Issuer::platform(actor), &target, reason).await?;
    let row = action(&mut tx, id).await?;
    tx.commit().await?;
    Ok(row)
}

/// A `PLATFORM_WARNING` and its `USER_WARN` audit row, once the relation rules have passed.
pub async fn record_warning(
    app: &App,
    conn: &mut Conn,
    issuer: Issuer,
    target: &UserRow,
    reason: &str,
) -> Result<i64, ApiError> {
    let now = app.now();
    let id = issue(
        conn,
        issuer,
        target.id,
        ActionType::PlatformWarning,
        Some(reason),
        None,
        now,
    )
    .await?;
    audit::record(
        app,
        conn,
        AuditEvent::UserWarn,
        Some(issuer.actor.id),
        Target::User(target.id),
        json!({"action_id": id, "reason": reason, "chat_id": issuer.chat_id}),
        now,
    )
    .await?;
    Ok(id)
}

/// `POST /v1/admin/users/{id}/timeout`: replaces any timeout in force; refused while banned.
pub async fn timeout(
    app: &App,
    actor: Actor,
    user_id: i64,
    duration_s: i64,
    reason: &str,
) -> Result<ModerationRow, ApiError> {
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    let id = record_timeout(app, &mut tx, Issuer::platform(actor), &target, duration_s, reason).await?;
    let row = action(&mut tx, id).await?;
    tx.commit().await?;
    Ok(row)
}

/// A `PLATFORM_TIMEOUT` that supersedes the one in force, with its `USER_TIMEOUT` audit row,
/// once the relation rules have passed; refused while the target is banned.
pub async fn record_timeout(
    app: &App,
    conn: &mut Conn,
    issuer: Issuer,
    target: &UserRow,
    duration_s: i64,
    reason: &str,
) -> Result<i64, ApiError> {
    let now = app.now();
    if store::users::restrictions(conn, target.id, now).await?.ban.is_some() {
        return Err(ApiError::AlreadyBanned);
    }
    let expires_at = now + duration_s * MICROS_PER_SECOND;
    let id = issue(
        conn,
        issuer,
        target.id,
        ActionType::PlatformTimeout,
        Some(reason),
        Some(expires_at),
        now,
    )
    .await?;
    // A timed-out user stops searching; their direct chats go on (91-matchmaking §2.5).
    store::matchmaking::delete_entry(conn, target.id).await?;
    let actor_id = Some(issuer.actor.id);
    let replaced =
        store::history::supersede_in_force(conn, target.id, ActionType::PlatformTimeout, id, actor_id, now).await?;
    audit::record(
        app,
        conn,
        AuditEvent::UserTimeout,
        actor_id,
        Target::User(target.id),
        json!({
            "action_id": id,
            "reason": reason,
            "duration": duration_s,
            "expires_at": Timestamp(expires_at),
            "replaced_action_ids": replaced,
            "chat_id": issuer.chat_id,
        }),
        now,
    )
    .await?;
    Ok(id)
}

/// `POST /v1/admin/users/{id}/ban`: replaces any ban in force, ends every live session of the
/// target and drops its pending login codes. `duration_s` `None` is permanent.
pub async fn ban(
    app: &App,
    actor: Actor,
    user_id: i64,
    duration_s: Option<i64>,
    reason: &str,
) -> Result<ModerationRow, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    staff::guard_last_owner(&mut tx, &target, now).await?;
    let expires_at = duration_s.map(|d| now + d * MICROS_PER_SECOND);
    let id = issue(
        &mut tx,
        Issuer::platform(actor),
        target.id,
        ActionType::PlatformBan,
        Some(reason),
        expires_at,
        now,
    )
    .await?;
    let replaced =
        store::history::supersede_in_force(&mut tx, target.id, ActionType::PlatformBan, id, Some(actor.id), now)
            .await?;
    // The codes before the sessions, in the order a login takes them (docs/RELIABILITY.md).
    store::codes::delete_for_user(&mut tx, target.id).await?;
    let sessions_ended = store::sessions::end_all_of(&mut tx, target.id, None, "banned", now).await?;
    bots::stop_bots_of(app, &mut tx, Some(actor.id), target.id, OwnerLost::Banned, now).await?;
    audit::record(
        app,
        &mut tx,
        AuditEvent::UserBan,
        Some(actor.id),
        Target::User(target.id),
        json!({
            "action_id": id,
            "reason": reason,
            "duration": duration_s.unwrap_or(0),
            "expires_at": expires_at.map(Timestamp),
            "replaced_action_ids": replaced,
            "sessions_ended": sessions_ended,
        }),
        now,
    )
    .await?;
    let row = action(&mut tx, id).await?;
    tx.commit().await?;
    // A banned user's queue entry goes and their direct chats end as a leave (91-matchmaking §2.5).
    matchmaking::user_gone(app, target.id).await?;
    Ok(row)
}

/// What an undo lifts: the action type, its audit event, and the conflict when none is in force.
#[derive(Debug, Clone, Copy)]
pub enum Undo {
    Untimeout,
    Unban,
}

impl Undo {
    fn parts(self) -> (ActionType, AuditEvent, ApiError) {
        match self {
            Undo::Untimeout => (
                ActionType::PlatformTimeout,
                AuditEvent::UserUntimeout,
                ApiError::NotTimedOut,
            ),
            Undo::Unban => (ActionType::PlatformBan, AuditEvent::UserUnban, ApiError::NotBanned),
        }
    }
}

/// `POST …/untimeout` and `…/unban`: lifts every action of the kind in force; answers the newest.
pub async fn lift(app: &App, actor: Actor, user_id: i64, undo: Undo, reason: &str) -> Result<ModerationRow, ApiError> {
    let (action_type, event_type, none_in_force) = undo.parts();
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    let lifted =
        store::history::lift_in_force(&mut tx, target.id, action_type, None, Some(actor.id), Some(reason), now).await?;
    let Some(&newest) = lifted.last() else {
        return Err(none_in_force);
    };
    audit::record(
        app,
        &mut tx,
        event_type,
        Some(actor.id),
        Target::User(target.id),
        json!({"action_ids": lifted, "reason": reason}),
        now,
    )
    .await?;
    let row = action(&mut tx, newest).await?;
    tx.commit().await?;
    Ok(row)
}

/// `POST /v1/portal/hard-mute`: a `PLATFORM_MUTE` next to any in force (mutes accumulate, the
/// latest end wins). `duration_s` 0 is indefinite.
pub async fn hard_mute(
    app: &App,
    actor: Actor,
    user_id: i64,
    duration_s: i64,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    let expires_at = (duration_s > 0).then(|| now + duration_s * MICROS_PER_SECOND);
    let id = issue(
        &mut tx,
        Issuer::platform(actor),
        target.id,
        ActionType::PlatformMute,
        reason,
        expires_at,
        now,
    )
    .await?;
    audit::record(
        app,
        &mut tx,
        AuditEvent::UserHardMute,
        Some(actor.id),
        Target::User(target.id),
        json!({
            "action_id": id,
            "duration": duration_s,
            "expires_at": expires_at.map(Timestamp),
            "reason": reason,
        }),
        now,
    )
    .await?;
    // An earlier, longer mute may still outlast this one.
    let mute_ends = store::users::restrictions(&mut tx, target.id, now)
        .await?
        .mute
        .flatten();
    tx.commit().await?;
    presence::announce(
        app,
        None,
        "user:hard_muted",
        json!({"user_id": target.id, "expires_at": mute_ends.map(Timestamp)}),
    )
    .await;
    Ok(())
}

/// `POST /v1/portal/hard-unmute`: lifts every hard mute in force; with none, writes nothing and
/// still succeeds.
pub async fn hard_unmute(app: &App, actor: Actor, user_id: i64, reason: Option<&str>) -> Result<(), ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    let lifted = store::history::lift_in_force(
        &mut tx,
        target.id,
        ActionType::PlatformMute,
        None,
        Some(actor.id),
        reason,
        now,
    )
    .await?;
    if lifted.is_empty() {
        return Ok(());
    }
    audit::record(
        app,
        &mut tx,
        AuditEvent::UserHardUnmute,
        Some(actor.id),
        Target::User(target.id),
        json!({"action_ids": lifted, "reason": reason}),
        now,
    )
    .await?;
    tx.commit().await?;
    presence::announce(app, None, "user:hard_unmuted", json!({"user_id": target.id})).await;
    Ok(())
}

/// `POST /v1/admin/users/{id}/permission`: the assignment ceiling, then `staff::set_level`.
pub async fn set_permission(
    app: &Arc<App>,
    actor: Actor,
    user_id: i64,
    level: Level,
    reason: &str,
) -> Result<PermissionHistoryRow, ApiError> {
    let mut tx = app.store.begin().await?;
    let target = staff::registered_target_for(&mut tx, actor, user_id).await?;
    if actor.level.assignment_ceiling().is_none_or(|ceiling| level > ceiling) {
        return Err(ApiError::PermissionCeiling);
    }
    let change = staff::set_level(app, &mut tx, Some(actor.id), &target, level, Some(reason)).await?;
    let row = store::history::permission_history_by_id(&mut tx, change.history_id)
        .await?
        .ok_or_else(|| ApiError::internal("permission history row vanished"))?;
    tx.commit().await?;
    if target.permission_level >= Level::Admin && level < Level::Admin {
        effects::level_dropped(app, target.id).await?;
    }
    Ok(row)
}

/// `POST /v1/admin/users/{id}/delete`.
pub async fn delete(app: &Arc<App>, actor: Actor, user_id: i64, reason: &str) -> Result<(), ApiError> {
    // The user's direct chats end as their leave before the row goes (91-matchmaking §2.5), once
    // the act is known to be allowed; the deletion checks again in its own transaction.
    let mut conn = app.store.acquire().await?;
    staff::target_for(&mut conn, actor, user_id).await?;
    drop(conn);
    matchmaking::user_gone(app, user_id).await?;
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    let gone = staff::delete_user(app, &mut tx, Some(actor.id), &target, Some(reason)).await?;
    tx.commit().await?;
    gone.announce(app).await
}

/// A page of the actions on a user, newest first, and how many there are.
pub async fn own_page(app: &App, user_id: i64, offset: i64, limit: i64) -> Result<(Vec<ModerationRow>, i64), ApiError> {
    let mut conn = app.store.acquire().await?;
    let rows = store::history::moderation_of(&mut conn, user_id, offset, limit).await?;
    let total = store::history::count_moderation_of(&mut conn, user_id).await?;
    Ok((rows, total))
}

/// The staff search of moderation records (30-admin-moderation §7).
pub async fn search(
    app: &App,
    filter: &ModerationFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ModerationRow>, i64), ApiError> {
    let mut conn = app.store.acquire().await?;
    Ok(store::history::search_moderation(&mut conn, filter, app.now(), offset, limit).await?)
}

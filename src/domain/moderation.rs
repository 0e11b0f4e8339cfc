//! Platform moderation of users (30-admin-moderation §5): warnings, timeouts, bans, permission
//! changes and deletion. Each act is one transaction holding the change, its moderation or history
//! row and its audit row; the relation rules (404, self, hierarchy) come from `staff::target_for`.

use serde_json::json;

use crate::app::App;
use crate::domain::level::Level;
use crate::domain::staff::{self, audit_user_event, Actor};
use crate::error::ApiError;
use crate::store::history::{ModerationRow, NewModeration, PermissionHistoryRow};
use crate::store::{self, Conn};
use crate::time::{Timestamp, MICROS_PER_SECOND};

/// The `action_type` values of 30-admin-moderation §3.2.
pub const ACTION_TYPES: [&str; 7] = [
    "PLATFORM_WARNING",
    "PLATFORM_TIMEOUT",
    "PLATFORM_BAN",
    "PLATFORM_MUTE",
    "CHAT_MUTE",
    "CHAT_BAN",
    "CHAT_KICK",
];

const WARNING: &str = "PLATFORM_WARNING";
const TIMEOUT: &str = "PLATFORM_TIMEOUT";
const BAN: &str = "PLATFORM_BAN";

/// Inserts a platform action (outside any chat) issued by `actor`; returns its id.
async fn issue(
    conn: &mut Conn,
    actor: Actor,
    target_id: i64,
    action_type: &str,
    reason: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<i64, ApiError> {
    Ok(store::history::insert_moderation(
        conn,
        NewModeration {
            user_id: target_id,
            action_type,
            reason: Some(reason),
            chat_id: None,
            issued_by_id: Some(actor.id),
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
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    let id = issue(&mut tx, actor, target.id, WARNING, reason, None, now).await?;
    audit_user_event(
        app,
        &mut tx,
        "USER_WARN",
        Some(actor.id),
        target.id,
        json!({"action_id": id, "reason": reason, "chat_id": null}),
        now,
    )
    .await?;
    let row = action(&mut tx, id).await?;
    tx.commit().await?;
    Ok(row)
}

/// `POST /v1/admin/users/{id}/timeout`: replaces any timeout in force; refused while banned.
pub async fn timeout(
    app: &App,
    actor: Actor,
    user_id: i64,
    duration_s: i64,
    reason: &str,
) -> Result<ModerationRow, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    if store::users::restrictions(&mut tx, target.id, now).await?.ban.is_some() {
        return Err(ApiError::AlreadyBanned);
    }
    let expires_at = now + duration_s * MICROS_PER_SECOND;
    let id = issue(&mut tx, actor, target.id, TIMEOUT, reason, Some(expires_at), now).await?;
    let replaced = store::history::supersede_in_force(&mut tx, target.id, TIMEOUT, id, Some(actor.id), now).await?;
    audit_user_event(
        app,
        &mut tx,
        "USER_TIMEOUT",
        Some(actor.id),
        target.id,
        json!({
            "action_id": id,
            "reason": reason,
            "duration": duration_s,
            "expires_at": Timestamp(expires_at),
            "replaced_action_ids": replaced,
            "chat_id": null,
        }),
        now,
    )
    .await?;
    let row = action(&mut tx, id).await?;
    tx.commit().await?;
    Ok(row)
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
    let id = issue(&mut tx, actor, target.id, BAN, reason, expires_at, now).await?;
    let replaced = store::history::supersede_in_force(&mut tx, target.id, BAN, id, Some(actor.id), now).await?;
    let sessions_ended = store::sessions::end_all_of(&mut tx, target.id, None, "banned", now).await?;
    store::codes::delete_for_user(&mut tx, target.id).await?;
    audit_user_event(
        app,
        &mut tx,
        "USER_BAN",
        Some(actor.id),
        target.id,
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
    Ok(row)
}

/// What an undo lifts: the action type, its audit event, and the conflict when none is in force.
#[derive(Debug, Clone, Copy)]
pub enum Undo {
    Untimeout,
    Unban,
}

impl Undo {
    fn parts(self) -> (&'static str, &'static str, ApiError) {
        match self {
            Undo::Untimeout => (TIMEOUT, "USER_UNTIMEOUT", ApiError::NotTimedOut),
            Undo::Unban => (BAN, "USER_UNBAN", ApiError::NotBanned),
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
        store::history::lift_in_force(&mut tx, target.id, action_type, Some(actor.id), Some(reason), now).await?;
    let Some(&newest) = lifted.last() else {
        return Err(none_in_force);
    };
    audit_user_event(
        app,
        &mut tx,
        event_type,
        Some(actor.id),
        target.id,
        json!({"action_ids": lifted, "reason": reason}),
        now,
    )
    .await?;
    let row = action(&mut tx, newest).await?;
    tx.commit().await?;
    Ok(row)
}

/// `POST /v1/admin/users/{id}/permission`: the assignment ceiling, then `staff::set_level`.
pub async fn set_permission(
    app: &App,
    actor: Actor,
    user_id: i64,
    level: Level,
    reason: &str,
) -> Result<PermissionHistoryRow, ApiError> {
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    if actor.level.assignment_ceiling().is_none_or(|ceiling| level > ceiling) {
        return Err(ApiError::PermissionCeiling);
    }
    let change = staff::set_level(app, &mut tx, Some(actor.id), &target, level, Some(reason)).await?;
    let row = store::history::permission_history_by_id(&mut tx, change.history_id)
        .await?
        .ok_or_else(|| ApiError::internal("permission history row vanished"))?;
    tx.commit().await?;
    Ok(row)
}

/// `POST /v1/admin/users/{id}/delete`.
pub async fn delete(app: &App, actor: Actor, user_id: i64, reason: &str) -> Result<(), ApiError> {
    let mut tx = app.store.begin().await?;
    let target = staff::target_for(&mut tx, actor, user_id).await?;
    staff::delete_user(app, &mut tx, Some(actor.id), &target, Some(reason)).await?;
    tx.commit().await?;
    Ok(())
}

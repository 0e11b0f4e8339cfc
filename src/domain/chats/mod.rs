//! Chats as owned records (60-chats): who may see, create, manage and destroy them, and the
//! services behind the portal and admin endpoints.

pub mod admin;
pub mod input;
pub mod invites;
pub mod moderation;
pub mod portal;
pub mod views;

use serde_json::json;

use crate::action_type::ActionType;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::matchmaking::lifecycle::{self, DirectState};
use crate::domain::transport::effects::RoomEffects;
use crate::domain::views::effective_tier;
use crate::domain::views::ChatBrief;
use crate::error::ApiError;
use crate::level::{can_act_on, Level};
use crate::store::chats::{ChatFields, ChatRow};
use crate::store::history::NewModeration;
use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::tier::Tier;
use crate::time::Timestamp;
use crate::user_kind::UserKind;

pub const OFFICIAL: &str = "official";
pub const PUBLIC: &str = "public";
pub const PRIVATE: &str = "private";

/// Official and public chats are open to every logged-in user.
pub fn is_public(visibility: &str) -> bool {
    visibility != PRIVATE
}

/// 60-chats §6: Admin+, or an effective Trial, Premium or Lifetime subscription.
pub fn may_create(user: &UserRow, now: i64) -> bool {
    user.permission_level >= Level::Admin || effective_tier(user, now).0 != Tier::Basic
}

/// How many chats a user of this level may own; `None` = unlimited (Owners).
pub fn slot_limit(app: &App, level: Level) -> Option<i64> {
    match level {
        Level::Owner => None,
        Level::Admin => Some(app.config.chats.slots.admin),
        Level::User | Level::Moderator => Some(app.config.chats.slots.premium),
    }
}

/// Whether `caller` outranks the chat's owner; nobody outranks the owner a direct chat lacks.
pub fn outranks_owner(chat: &ChatRow, caller: &UserRow) -> bool {
    chat.owner_level()
        .is_some_and(|owner| can_act_on(caller.permission_level, owner))
}

/// 60-chats §4.2: the owner, and for official and public chats whoever outranks the owner.
pub fn manages_invites(chat: &ChatRow, caller: &UserRow) -> bool {
    chat.is_owned_by(caller.id) || (is_public(&chat.visibility) && outranks_owner(chat, caller))
}

/// 80-notifications-portal §5.2: the owner; for official and public chats whoever outranks the
/// owner; for private chats an Admin+ who outranks the owner. Nobody has authority over a direct
/// chat (91-matchmaking §4.3).
pub fn moderates(chat: &ChatRow, caller: &UserRow) -> bool {
    chat.is_owned_by(caller.id)
        || (outranks_owner(chat, caller) && (is_public(&chat.visibility) || caller.permission_level >= Level::Admin))
}

/// The group chat, if the caller may see it (60-chats §4.1); otherwise, and for every direct chat,
/// it does not exist for them (91-matchmaking §4.3).
pub async fn visible_chat(conn: &mut Conn, chat_id: i64, caller: &UserRow) -> Result<ChatRow, ApiError> {
    let chat = existing_chat(conn, chat_id).await?;
    if sees_group_chat(conn, &chat, caller).await? {
        Ok(chat)
    } else {
        Err(ApiError::ChatNotFound)
    }
}

/// 60-chats §4.1 for a group chat; a stranger sees none (91-matchmaking §2.2).
async fn sees_group_chat(conn: &mut Conn, chat: &ChatRow, caller: &UserRow) -> Result<bool, ApiError> {
    if caller.kind == UserKind::Stranger {
        return Ok(false);
    }
    Ok(is_public(&chat.visibility)
        || chat.is_owned_by(caller.id)
        || caller.permission_level >= Level::Admin
        || store::chats::is_member(conn, chat.id, caller.id).await?)
}

/// A chat the transport serves to the caller (90-chat-transport): a group chat they may see, or a
/// direct chat they take part in, active or archived (91-matchmaking §4.3–4.4).
pub async fn room_chat(app: &App, conn: &mut Conn, chat_id: i64, caller: &UserRow) -> Result<ChatRow, ApiError> {
    let chat = store::chats::by_id(conn, chat_id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    let visible = match chat.is_direct() {
        true => {
            store::chats::is_member(conn, chat.id, caller.id).await?
                && lifecycle::still_exists(app, conn, &chat).await?
        }
        false => sees_group_chat(conn, &chat, caller).await?,
    };
    if visible {
        Ok(chat)
    } else {
        Err(ApiError::ChatNotFound)
    }
}

/// Any chat that exists at this moment, direct ones included: what the admin detail shows
/// (60-chats §9.2, 91-matchmaking §4.3).
pub async fn any_existing_chat(app: &App, conn: &mut Conn, chat_id: i64) -> Result<ChatRow, ApiError> {
    let chat = store::chats::by_id(conn, chat_id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    match lifecycle::still_exists(app, conn, &chat).await? {
        true => Ok(chat),
        false => Err(ApiError::ChatNotFound),
    }
}

/// The group chat with this id; a direct chat is unknown to every endpoint of 60-chats
/// (91-matchmaking §4.3).
pub async fn existing_chat(conn: &mut Conn, chat_id: i64) -> Result<ChatRow, ApiError> {
    store::chats::by_id(conn, chat_id)
        .await?
        .filter(|chat| !chat.is_direct())
        .ok_or(ApiError::ChatNotFound)
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Creates a chat owned by `creator` inside the caller's transaction: a free slug (when it has
/// one), then a free slot, then the row. Creations by one user are serialised so parallel
/// requests cannot overshoot the limit.
async fn insert_owned(app: &App, conn: &mut Conn, creator: &UserRow, fields: &ChatFields) -> Result<ChatRow, ApiError> {
    store::chats::serialise_creations_of(conn, creator.id).await?;
    if let Some(slug) = &fields.slug {
        if store::chats::slug_taken(conn, slug).await? {
            return Err(ApiError::SlugTaken);
        }
    }
    if let Some(limit) = slot_limit(app, creator.permission_level) {
        if store::chats::count_owned_by(conn, creator.id).await? >= limit {
            return Err(ApiError::ChatSlotLimit { limit });
        }
    }
    let id = match store::chats::insert(conn, creator.id, fields, app.now()).await {
        Err(err) if is_unique_violation(&err) => return Err(ApiError::SlugTaken),
        other => other?,
    };
    existing_chat(conn, id).await
}

/// Deletes a chat (members and invites with it). `CHAT_DELETE` is audited unless the owner
/// destroys their own chat from the portal (00-conventions §11.3).
async fn delete_chat(app: &App, conn: &mut Conn, chat: &ChatRow, actor: &UserRow, route: &str) -> Result<(), ApiError> {
    let member_count = store::chats::member_count(conn, chat.id).await?;
    if !store::chats::delete(conn, chat.id).await? {
        return Err(ApiError::ChatNotFound);
    }
    if route == "admin" || !chat.is_owned_by(actor.id) {
        audit::record(
            app,
            conn,
            AuditEvent::ChatDelete,
            Some(actor.id),
            Target::Chat(chat.id),
            json!({
                "name": chat.name,
                "owner_id": chat.owner_id,
                "visibility": chat.visibility,
                "slug": chat.slug,
                "member_count": member_count,
                "route": route,
            }),
            app.now(),
        )
        .await?;
    }
    Ok(())
}

/// One kick that passed its route's relation rules: `route` names the endpoint family (`admin`
/// or `portal`).
pub(crate) struct Kick<'a> {
    pub actor: &'a UserRow,
    pub chat: &'a ChatRow,
    pub target: &'a UserRow,
    pub reason: Option<&'a str>,
    pub route: &'a str,
}

/// Removes the target from the chat (its member row, or just its room, 90-chat-transport §8.1)
/// and records the `CHAT_KICK` with its audit row, the rotation and the system message.
async fn kick_member(app: &App, conn: &mut Conn, kick: Kick<'_>, effects: &mut RoomEffects) -> Result<(), ApiError> {
    let Kick {
        actor,
        chat,
        target,
        reason,
        route,
    } = kick;
    let was_member = store::chats::remove_member(conn, chat.id, target.id).await?;
    if !was_member && !app.rooms.user_present(chat.id, target.id).await {
        return Err(ApiError::NotChatMember);
    }
    effects.rotate(conn, "kick").await?;
    effects
        .post(conn, app, &format!("{} was kicked from the chat", target.username))
        .await?;
    effects.remove(target.id, "kick");
    let action_id = store::history::insert_moderation(
        conn,
        NewModeration {
            user_id: target.id,
            action_type: ActionType::ChatKick,
            reason,
            chat_id: Some(chat.id),
            issued_by_id: Some(actor.id),
            expires_at: None,
            now: app.now(),
        },
    )
    .await?;
    audit::record(
        app,
        conn,
        AuditEvent::ChatKick,
        Some(actor.id),
        Target::Chat(chat.id),
        json!({"user_id": target.id, "action_id": action_id, "reason": reason, "route": route}),
        app.now(),
    )
    .await
}

/// `GET /v1/users/me/chats` (not paginated): the group chats the user owns and their direct
/// chats, active and archived (91-matchmaking §4.3), newest first.
pub async fn listed_for(app: &App, user_id: i64) -> Result<Vec<ChatBrief>, ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let mut listed: Vec<ChatBrief> = store::history::chats_owned_by(&mut conn, user_id, i64::MAX)
        .await?
        .into_iter()
        .map(ChatBrief::from)
        .collect();
    let direct_ids = store::matchmaking::chats_of(&mut conn, user_id).await?;
    let direct = store::chats::by_ids(&mut conn, &direct_ids).await?;
    let mut views = lifecycle::describe(app, &mut conn, user_id, &direct, now).await?;
    for chat in direct {
        let Some(view) = views.remove(&chat.id) else { continue };
        if view.state == DirectState::Deleted {
            continue;
        }
        listed.push(ChatBrief {
            id: chat.id,
            is_public: false,
            created_at: Timestamp(chat.created_at),
            chat_type: chat.chat_type,
            archived: matches!(view.state, DirectState::Archived { .. }),
            expires_at: Some(view.view.expires_at),
            peer: Some(view.view.peer),
            name: chat.name,
            visibility: chat.visibility,
        });
    }
    listed.sort_by_key(|chat| std::cmp::Reverse((chat.created_at, chat.id)));
    Ok(listed)
}

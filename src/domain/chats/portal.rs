//! The portal's chat acts (60-chats §8.1–§8.4): the caller's list, creating a private chat,
//! destroying one's chat, leaving one.

use std::sync::Arc;

use super::input::NewChat;
use super::views::{self, ChatSummary};
use super::{delete_chat, insert_owned, is_public, visible_chat, PRIVATE};
use crate::domain::app::App;
use crate::domain::matchmaking::lifecycle::{self, DirectState};
use crate::domain::transport::effects::{self, RoomEffects};
use crate::error::ApiError;
use crate::level::Level;
use crate::store::chats::{ChatFields, DIRECT};
use crate::store::users::UserRow;
use crate::store::{self, Conn};

/// Official chats, public chats, the caller's own and joined private chats, then the caller's
/// active and archived direct chats (60-chats §8.1, 91-matchmaking §4.3).
pub async fn visible_list(app: &App, caller: &UserRow) -> Result<Vec<ChatSummary>, ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let conn: &mut Conn = &mut conn;
    let rows = store::chats::visible_to(conn, caller.id, now).await?;
    let mut direct = lifecycle::describe(app, conn, caller.id, &rows, now).await?;
    let mut listed = Vec::with_capacity(rows.len());
    let mut archived = Vec::new();
    for mut summary in views::summaries(conn, rows).await? {
        if summary.chat_type != DIRECT {
            listed.push(summary);
            continue;
        }
        let Some(chat) = direct.remove(&summary.id) else {
            continue;
        };
        summary.peer = Some(chat.view.peer);
        summary.expires_at = Some(chat.view.expires_at);
        match chat.state {
            DirectState::Active => listed.push(summary),
            DirectState::Archived { .. } => {
                summary.archived = true;
                archived.push(summary);
            }
            DirectState::Deleted => {}
        }
    }
    listed.extend(archived);
    Ok(listed)
}

/// A private chat owned by the caller, within their slots. Eligibility and the timed-out check
/// come before the body is read (00-conventions §4), so they are the caller's job.
pub async fn create(app: &App, creator: &UserRow, input: NewChat) -> Result<ChatSummary, ApiError> {
    let fields = ChatFields {
        name: input.name,
        visibility: PRIVATE.to_owned(),
        label: None,
        slug: None,
        description: input.description,
        avatar_source: None,
        browser_config: input.browser_config,
        allow_control_requests: input.allow_control_requests,
    };
    let mut tx = app.store.begin().await?;
    let chat = insert_owned(app, &mut tx, creator, &fields).await?;
    let summary = views::summary(&mut tx, chat).await?;
    tx.commit().await?;
    Ok(summary)
}

/// The owner, or any Owner (3), destroys a chat; returns its name.
pub async fn destroy(app: &App, caller: &UserRow, chat_id: i64) -> Result<String, ApiError> {
    let mut live = app.rooms.lock(chat_id).await;
    let mut tx = app.store.begin().await?;
    let chat = visible_chat(&mut tx, chat_id, caller).await?;
    if !chat.is_owned_by(caller.id) && caller.permission_level != Level::Owner {
        return Err(ApiError::Forbidden("Only the chat owner can destroy this chat"));
    }
    delete_chat(app, &mut tx, &chat, caller, "portal").await?;
    tx.commit().await?;
    effects::destroyed(app, &mut live, chat.id).await;
    Ok(chat.name)
}

/// A member leaves; returns the chat's name.
/// In a private chat the leave rotates the epoch and takes the leaver's tabs out of the room
/// (90-chat-transport §8.5); elsewhere they stay, as visitors.
pub async fn leave(app: &Arc<App>, caller: &UserRow, chat_id: i64) -> Result<String, ApiError> {
    let mut live = app.rooms.lock(chat_id).await;
    let mut effects = RoomEffects::new(chat_id);
    let mut tx = app.store.begin().await?;
    let chat = visible_chat(&mut tx, chat_id, caller).await?;
    if chat.is_owned_by(caller.id) {
        return Err(ApiError::ChatOwnerTarget("The chat owner cannot leave their own chat"));
    }
    if !store::chats::remove_member(&mut tx, chat.id, caller.id).await? {
        return Err(ApiError::NotChatMember);
    }
    store::chats::touch_activity(&mut tx, chat.id, app.now()).await?;
    if is_public(&chat.visibility) {
        effects.members_changed();
    } else {
        effects.rotate(&mut tx, "access_lost").await?;
        effects.remove(caller.id, "access_lost");
    }
    tx.commit().await?;
    effects.publish(app, &mut live).await?;
    Ok(chat.name)
}

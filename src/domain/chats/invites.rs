//! Invite codes (60-chats §7, §8.5–§8.8): listed, created and revoked by a chat's managers,
//! resolved by anyone to join.

use std::sync::Arc;

use super::views::{self, ChatSummary, Invite};
use super::{manages_invites, visible_chat};
use crate::crypto;
use crate::domain::app::App;
use crate::domain::transport::effects::RoomEffects;
use crate::error::ApiError;
use crate::store::chats::{ChatRow, NewInvite};
use crate::store::users::UserRow;
use crate::store::{self, Conn};

/// At most this many active invites per chat.
pub const ACTIVE_INVITE_LIMIT: i64 = 20;

/// The chat, if the caller may see it and manage its invites.
async fn managed_chat(conn: &mut Conn, chat_id: i64, caller: &UserRow) -> Result<ChatRow, ApiError> {
    let chat = visible_chat(conn, chat_id, caller).await?;
    if !manages_invites(&chat, caller) {
        return Err(ApiError::NotChatModerator("You cannot manage this chat's invites"));
    }
    Ok(chat)
}

/// The chat's active invites, newest first.
pub async fn list(app: &App, caller: &UserRow, chat_id: i64) -> Result<Vec<Invite>, ApiError> {
    let mut conn = app.store.acquire().await?;
    let chat = managed_chat(&mut conn, chat_id, caller).await?;
    let rows = store::chats::active_invites(&mut conn, chat.id, app.now()).await?;
    Ok(rows.into_iter().map(Invite::from).collect())
}

/// A new invite, with an optional expiry (in the future) and use limit; the count of active
/// invites and the insert are serialised per chat.
pub async fn create(
    app: &App,
    caller: &UserRow,
    chat_id: i64,
    expires_at: Option<i64>,
    max_uses: Option<i64>,
) -> Result<Invite, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let chat = managed_chat(&mut tx, chat_id, caller).await?;
    if !store::chats::lock(&mut tx, chat.id).await? {
        return Err(ApiError::ChatNotFound);
    }
    if store::chats::count_active_invites(&mut tx, chat.id, now).await? >= ACTIVE_INVITE_LIMIT {
        return Err(ApiError::InviteLimit);
    }
    let code = loop {
        let candidate = crypto::new_invite_code();
        if !store::chats::invite_code_taken(&mut tx, &candidate).await? {
            break candidate;
        }
    };
    let row = store::chats::insert_invite(
        &mut tx,
        NewInvite {
            code: &code,
            chat_id: chat.id,
            created_by_id: caller.id,
            expires_at,
            max_uses,
            now,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row.into())
}

/// Deletes a stored invite of the chat, active or not.
pub async fn revoke(app: &App, caller: &UserRow, chat_id: i64, code: &str) -> Result<(), ApiError> {
    let mut tx = app.store.begin().await?;
    let chat = managed_chat(&mut tx, chat_id, caller).await?;
    if !store::chats::delete_invite(&mut tx, chat.id, code).await? {
        return Err(ApiError::InviteNotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// The answer of `POST /v1/portal/resolve/{code}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Resolved {
    pub chat: ChatSummary,
    /// False when the caller already owned the chat or was a member.
    pub joined: bool,
}

/// Joins the invite's chat (§8.8). Owners and members are answered without using the invite.
pub async fn resolve(app: &Arc<App>, caller: &UserRow, code: &str) -> Result<Resolved, ApiError> {
    let now = app.now();
    if !crypto::is_invite_code_form(code) {
        return Err(ApiError::InviteNotFound);
    }
    let mut tx = app.store.begin().await?;
    let invite = store::chats::active_invite(&mut tx, code, now)
        .await?
        .ok_or(ApiError::InviteNotFound)?;
    if store::chats::is_banned(&mut tx, invite.chat_id, caller.id, now).await? {
        return Err(ApiError::ChatBanned);
    }
    let chat = super::existing_chat(&mut tx, invite.chat_id).await?;
    let already_in = chat.is_owned_by(caller.id) || store::chats::is_member(&mut tx, chat.id, caller.id).await?;
    let joined = if already_in {
        false
    } else {
        if !store::chats::use_invite(&mut tx, invite.id, now).await? {
            return Err(ApiError::InviteNotFound);
        }
        if !store::chats::add_member(&mut tx, chat.id, caller.id, now).await? {
            // A parallel resolve by the same user joined first; this one leaves the invite untouched.
            return Ok(Resolved {
                chat: views::summary(&mut tx, chat).await?,
                joined: false,
            });
        }
        store::chats::touch_activity(&mut tx, chat.id, now).await?;
        true
    };
    let chat_id = chat.id;
    let summary = views::summary(&mut tx, chat).await?;
    tx.commit().await?;
    if joined && app.rooms.user_present(chat_id, caller.id).await {
        // A present visitor became a member (90-chat-transport §8.7).
        let mut live = app.rooms.lock(chat_id).await;
        let mut effects = RoomEffects::new(chat_id);
        effects.members_changed();
        effects.publish(app, &mut live).await?;
    }
    Ok(Resolved { chat: summary, joined })
}

//! What moderation, settings and the chat's lifecycle do to its room (90-chat-transport §8): the
//! rotation and the system message are written in the act's own transaction; removals from the
//! room and the events follow its commit, in the order §8 gives. The act holds the chat's room
//! lock from before its transaction until the events are out, so they keep the commit order.

use std::sync::Arc;

use serde_json::{json, Value};

use super::handover::{self, publish_epoch_changed};
use super::join::publish_members;
use super::messages::{message_frame, post_system};
use super::rooms::ChatLive;
use crate::domain::app::App;
use crate::domain::browser;
use crate::domain::chats::{views, PRIVATE};
use crate::domain::presence::frame;
use crate::error::ApiError;
use crate::level::Level;
use crate::store;
use crate::store::chats::ChatRow;
use crate::store::transport::MessageRow;
use crate::store::Conn;

/// The room side of one act on a chat, gathered while the act's transaction runs.
pub struct RoomEffects {
    chat_id: i64,
    /// Users taken out of the room, with the `room:kicked` reason.
    removals: Vec<(i64, &'static str)>,
    /// A room event announcing the act (`user:banned`, `user:muted`, …).
    notice: Option<Arc<str>>,
    rotated: Option<(i64, &'static str)>,
    message: Option<MessageRow>,
    /// A present user's membership changed, or the chat's settings did.
    members_changed: bool,
    /// The chat's settings changed, by this user.
    config_changed: Option<i64>,
}

impl RoomEffects {
    pub fn new(chat_id: i64) -> Self {
        RoomEffects {
            chat_id,
            removals: Vec::new(),
            notice: None,
            rotated: None,
            message: None,
            members_changed: false,
            config_changed: None,
        }
    }

    /// The `membership` of present users may have changed (§2.6): the room gets `room:members`.
    pub fn members_changed(&mut self) {
        self.members_changed = true;
    }

    /// The chat's settings changed: the room gets `room:config` first (§7.2, 60-chats §9.4), and
    /// a running browser machine follows its control settings (92-browser-rooms §8.4).
    pub fn config_changed(&mut self, by: i64) {
        self.config_changed = Some(by);
    }

    /// The chat became private (§8.5): its epoch rotates and every present visitor below Admin is
    /// taken out of the room. `chat` is the row after the change.
    pub async fn became_private(&mut self, conn: &mut Conn, app: &App, chat: &ChatRow) -> Result<(), ApiError> {
        self.rotate(conn, "access_lost").await?;
        let present = app.rooms.present_users(self.chat_id).await;
        let members = store::chats::members_among(conn, self.chat_id, &present).await?;
        let users = store::users::by_ids(conn, &present).await?;
        for user in users {
            let visitor = !chat.is_owned_by(user.id) && !members.contains(&user.id);
            if visitor && user.permission_level < Level::Admin {
                self.remove(user.id, "access_lost");
            }
        }
        Ok(())
    }

    /// Rotates the epoch in the act's transaction; several causes rotate once, under the first
    /// one's reason (§4.2).
    pub async fn rotate(&mut self, conn: &mut Conn, reason: &'static str) -> Result<(), sqlx::Error> {
        if self.rotated.is_none() {
            let epoch = store::transport::rotate(conn, self.chat_id).await?;
            self.rotated = Some((epoch, reason));
        }
        Ok(())
    }

    /// Posts a system message (§5.6) in the act's transaction.
    pub async fn post(&mut self, conn: &mut Conn, app: &App, text: &str) -> Result<(), ApiError> {
        let current = store::transport::lock_chat(conn, self.chat_id)
            .await?
            .ok_or(ApiError::ChatNotFound)?;
        self.message = Some(post_system(conn, app, self.chat_id, &current, text).await?);
        Ok(())
    }

    /// Takes the user out of the room after commit, telling their connections why.
    pub fn remove(&mut self, user_id: i64, reason: &'static str) {
        self.removals.push((user_id, reason));
    }

    pub fn notice(&mut self, event: &str, data: Value) {
        self.notice = Some(frame(event, data));
    }

    /// After commit, in order: `room:config` and, after a settings change, its system message;
    /// `room:kicked` to the removed users' connections (which are then out of the room), the
    /// notice, `portal:key_removed` per removed device, `room:members`, `room:epoch_changed`, the
    /// system message of any other act; then key needs are decided again.
    pub async fn publish(self, app: &Arc<App>, live: &mut ChatLive) -> Result<(), ApiError> {
        let chat_id = self.chat_id;
        let rooms = &app.rooms;
        let mut conn = app.store.acquire().await?;
        let mut message = self.message;
        // The chat as committed, read once for `room:config` and `room:members`.
        let chat = match self.config_changed.is_some() || self.members_changed || !self.removals.is_empty() {
            true => store::chats::by_id(&mut conn, chat_id).await?,
            false => None,
        };
        if let Some(by) = self.config_changed {
            browser::screen::settings_changed(app, chat_id, Some(by)).await;
            if let Some(chat) = &chat {
                let summary = views::summary(&mut conn, chat.clone()).await?;
                rooms.publish(chat_id, &frame("room:config", summary));
            }
            // A settings change announces itself before what becoming private does (§7.2).
            if let Some(message) = message.take() {
                rooms.publish(chat_id, &message_frame(&mut conn, message).await?);
            }
        }
        let mut removed_devices = Vec::new();
        for (user_id, reason) in &self.removals {
            let kicked = frame("room:kicked", json!({"chat_id": chat_id, "reason": reason}));
            let left = rooms.remove_user(chat_id, *user_id, &kicked).await;
            // Removed from the room, they lose its screen at once (92-browser-rooms §8.5).
            browser::screen::close_user(app, Some(chat_id), *user_id, browser::screen::close::REMOVED).await;
            let sessions: Vec<i64> = left.iter().map(|l| l.session_id).collect();
            handover::requests_lost(live, |r| sessions.contains(&r.to_session));
            removed_devices.extend(left);
        }
        if let Some(notice) = &self.notice {
            rooms.publish(chat_id, notice);
        }
        for left in &removed_devices {
            let removed = json!({"chat_id": chat_id, "user_id": left.user_id, "device_id": left.device_id});
            rooms.publish(chat_id, &frame("portal:key_removed", removed));
        }
        if !removed_devices.is_empty() || self.members_changed {
            if let Some(chat) = &chat {
                publish_members(app, &mut conn, chat, None).await?;
            }
        }
        if let Some((epoch, reason)) = self.rotated {
            publish_epoch_changed(app, live, chat_id, epoch, reason);
        }
        if let Some(message) = message {
            rooms.publish(chat_id, &message_frame(&mut conn, message).await?);
        }
        drop(conn);
        handover::decide(app, chat_id, live).await
    }
}

/// The chat was deleted (§8.6): its room hears `room:destroyed` and is emptied; the key requests
/// outstanding for it are dropped. Its messages, blobs and room records went with the row.
pub async fn destroyed(app: &App, live: &mut ChatLive, chat_id: i64) {
    live.requests.clear();
    live.failed.clear();
    // The machine's `room:stopped` comes before `room:destroyed` (92-browser-rooms §4.7).
    crate::domain::browser::chat_deleted(app, chat_id);
    let event = frame("room:destroyed", json!({ "chat_id": chat_id }));
    app.rooms.close_room(chat_id, Some(&event)).await;
}

/// What a user's deletion does to rooms (§8.7), gathered in the deleting transaction before the
/// user's rows go: every message they sent is deleted with them (the schema cascades), and each
/// private chat they were a member of rotates (§8.5). Owned chats are destroyed with the user.
#[derive(Debug)]
pub struct UserGone {
    deleted_messages: Vec<(i64, Vec<String>)>,
    rotated: Vec<(i64, i64)>,
    destroyed: Vec<i64>,
}

impl UserGone {
    /// Call inside the deleting transaction, before the user row is deleted.
    pub async fn gather(conn: &mut Conn, user_id: i64, owned_chats: &[i64]) -> Result<UserGone, sqlx::Error> {
        let mut deleted_messages: Vec<(i64, Vec<String>)> = Vec::new();
        for (chat_id, ms, seq) in store::transport::messages_of_sender(conn, user_id).await? {
            if owned_chats.contains(&chat_id) {
                continue;
            }
            let id = super::messages::message_id(ms, seq);
            match deleted_messages.last_mut() {
                Some((last, ids)) if *last == chat_id => ids.push(id),
                _ => deleted_messages.push((chat_id, vec![id])),
            }
        }
        let mut rotated = Vec::new();
        for chat_id in store::transport::private_memberships(conn, user_id).await? {
            rotated.push((chat_id, store::transport::rotate(conn, chat_id).await?));
        }
        Ok(UserGone {
            deleted_messages,
            rotated,
            destroyed: owned_chats.to_vec(),
        })
    }

    /// After commit, chat by chat: `message:bulk_deleted`, `room:epoch_changed` (`access_lost`)
    /// with a new key asked for, `room:destroyed`.
    pub async fn announce(self, app: &Arc<App>) -> Result<(), ApiError> {
        for (chat_id, ids) in self.deleted_messages {
            let _live = app.rooms.lock(chat_id).await;
            let event = frame("message:bulk_deleted", json!({"chat_id": chat_id, "ids": ids}));
            app.rooms.publish(chat_id, &event);
        }
        for (chat_id, epoch) in self.rotated {
            let mut live = app.rooms.lock(chat_id).await;
            publish_epoch_changed(app, &mut live, chat_id, epoch, "access_lost");
            handover::decide(app, chat_id, &mut live).await?;
        }
        for chat_id in self.destroyed {
            let mut live = app.rooms.lock(chat_id).await;
            destroyed(app, &mut live, chat_id).await;
        }
        Ok(())
    }
}

/// A user's level dropped below Admin (§8.5): every private chat they visit without membership
/// loses them, and rotates.
pub async fn level_dropped(app: &Arc<App>, user_id: i64) -> Result<(), ApiError> {
    let mut conn = app.store.acquire().await?;
    let sessions = store::sessions::live_of(&mut conn, user_id, app.now()).await?;
    drop(conn);
    let mut chats = Vec::new();
    for session in &sessions {
        chats.extend(app.rooms.rooms_of_session(session.id).await);
    }
    chats.sort_unstable();
    chats.dedup();
    for chat_id in chats {
        let mut live = app.rooms.lock(chat_id).await;
        let mut tx = app.store.begin().await?;
        let Some(chat) = store::chats::by_id(&mut tx, chat_id).await? else {
            continue;
        };
        let visitor = !chat.is_owned_by(user_id) && !store::chats::is_member(&mut tx, chat_id, user_id).await?;
        if chat.visibility != PRIVATE || !visitor || !app.rooms.user_present(chat_id, user_id).await {
            continue;
        }
        let mut effects = RoomEffects::new(chat_id);
        effects.rotate(&mut tx, "access_lost").await?;
        effects.remove(user_id, "access_lost");
        tx.commit().await?;
        effects.publish(app, &mut live).await?;
    }
    Ok(())
}

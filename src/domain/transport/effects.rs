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
use crate::domain::chats::views;
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
    config_changed: bool,
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
            config_changed: false,
        }
    }

    /// The `membership` of present users may have changed (§2.6): the room gets `room:members`.
    pub fn members_changed(&mut self) {
        self.members_changed = true;
    }

    /// The chat's settings changed: the room gets `room:config` first (§7.2, 60-chats §9.4).
    pub fn config_changed(&mut self) {
        self.config_changed = true;
    }

    /// The chat became private (§8.5): its epoch rotates and every present visitor below Admin is
    /// taken out of the room. `chat` is the row after the change.
    pub async fn became_private(&mut self, conn: &mut Conn, app: &App, chat: &ChatRow) -> Result<(), ApiError> {
        self.rotate(conn, "access_lost").await?;
        let present = app.rooms.present_users(self.chat_id);
        let members = store::chats::members_among(conn, self.chat_id, &present).await?;
        let users = store::users::by_ids(conn, &present).await?;
        for user in users {
            let visitor = user.id != chat.owner_id && !members.contains(&user.id);
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
        if self.config_changed {
            if let Some(chat) = store::chats::by_id(&mut conn, chat_id).await? {
                let summary = views::summary(&mut conn, chat).await?;
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
            for link in rooms.links_of_user(chat_id, *user_id) {
                link.queue(&kicked);
                handover::connection_left(live, &link);
                if let Some(left) = rooms.leave(chat_id, &link) {
                    if left.device_left {
                        removed_devices.push(left);
                    }
                }
            }
        }
        if let Some(notice) = &self.notice {
            rooms.publish(chat_id, notice);
        }
        for left in &removed_devices {
            let removed = json!({"chat_id": chat_id, "user_id": left.user_id, "device_id": left.device_id});
            rooms.publish(chat_id, &frame("portal:key_removed", removed));
        }
        if !removed_devices.is_empty() || self.members_changed {
            if let Some(chat) = store::chats::by_id(&mut conn, chat_id).await? {
                publish_members(app, &mut conn, &chat, None).await?;
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
pub fn destroyed(app: &App, live: &mut ChatLive, chat_id: i64) {
    live.requests.clear();
    app.rooms
        .close_room(chat_id, &frame("room:destroyed", json!({ "chat_id": chat_id })));
}

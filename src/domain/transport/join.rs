//! Joining and leaving rooms over the realtime connection (90-chat-transport §2.2–§2.4), and the
//! member list of a room (§2.6).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::handover::{self, publish_epoch_changed};
use super::keys::RoomKeyBlob;
use super::messages::{message_frame, post_system};
use super::rooms::{ChatLive, Left, MembersDue};
use crate::domain::app::App;
use crate::domain::chats::room_chat;
use crate::domain::matchmaking::lifecycle;
use crate::domain::presence::{frame, profiles, wall_clock_ms, Link, PresenceUser};
use crate::error::ApiError;
use crate::store;
use crate::store::chats::ChatRow;
use crate::store::sessions::LiveSession;
use crate::store::Conn;
use crate::time::MICROS_PER_SECOND;

/// The room a `room:join` names (§2.2).
#[derive(Debug, PartialEq, Eq)]
pub enum JoinTarget {
    Chat(i64),
    /// A match token of a direct chat (91-matchmaking §4.2).
    Token(String),
}

fn positive_chat_id(value: &Value) -> Option<i64> {
    value.as_i64().filter(|id| *id >= 1 && value.is_i64())
}

fn invalid_chat_id() -> ApiError {
    ApiError::validation("chat_id", "chat_id must be a positive integer")
}

/// The `chat_id` of a client frame's data, when it is a positive integer: what `room:error`
/// names (§2.1).
pub fn readable_chat_id(data: &Value) -> Option<i64> {
    data.get("chat_id").and_then(positive_chat_id)
}

/// Reads `room:join` data (§2.2).
pub fn read_join(data: &Value) -> Result<JoinTarget, ApiError> {
    let Value::Object(fields) = data else {
        return Err(ApiError::validation("data", "data must be an object"));
    };
    let chat_id = fields.get("chat_id").filter(|v| !v.is_null());
    let token = fields.get("token").filter(|v| !v.is_null());
    match (chat_id, token) {
        (None, None) => Err(ApiError::validation("chat_id", "chat_id or token is required")),
        (Some(_), Some(_)) => Err(ApiError::validation("chat_id", "give chat_id or token, not both")),
        (Some(id), None) => positive_chat_id(id).map(JoinTarget::Chat).ok_or_else(invalid_chat_id),
        (None, Some(Value::String(token))) => Ok(JoinTarget::Token(token.clone())),
        (None, Some(_)) => Err(ApiError::validation("token", "token must be a string")),
    }
}

/// Reads `room:leave` data (§2.3).
pub fn read_leave(data: &Value) -> Result<i64, ApiError> {
    readable_chat_id(data).ok_or_else(invalid_chat_id)
}

/// `RoomMember` (§2.6).
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomMember {
    pub user: PresenceUser,
    /// `owner`, `member` or `visitor`.
    pub membership: &'static str,
    pub devices: Vec<RoomDevice>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomDevice {
    pub device_id: String,
    /// `null` for a device without a registered key.
    pub public_key: Option<String>,
}

/// `room:joined` data (§2.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomJoined {
    pub chat_id: i64,
    /// The caller's own device id.
    pub device_id: String,
    pub epoch: i64,
    pub key: Option<RoomKeyBlob>,
    pub history_visible: bool,
    pub members: Vec<RoomMember>,
    /// The chat's browser machine is running (92-browser-rooms).
    pub running: bool,
    pub viewer_count: i64,
}

/// Every present user of the room with their joined devices, by the start of their presence.
pub async fn room_members(app: &App, conn: &mut Conn, chat: &ChatRow) -> Result<Vec<RoomMember>, sqlx::Error> {
    let devices = app.rooms.devices(chat.id).await;
    let mut users: Vec<i64> = Vec::new();
    for device in &devices {
        if !users.contains(&device.user_id) {
            users.push(device.user_id);
        }
    }
    let mut profiles = profiles(conn, &users).await?;
    let members = store::chats::members_among(conn, chat.id, &users).await?;
    let mut by_user: HashMap<i64, Vec<RoomDevice>> = HashMap::new();
    for device in devices {
        by_user.entry(device.user_id).or_default().push(RoomDevice {
            device_id: device.device_id,
            public_key: device.public_key.as_deref().map(str::to_owned),
        });
    }
    Ok(users
        .into_iter()
        .filter_map(|user_id| {
            let user = profiles.remove(&user_id)?;
            let membership = if chat.is_owned_by(user_id) {
                "owner"
            } else if members.contains(&user_id) {
                "member"
            } else {
                "visitor"
            };
            Some(RoomMember {
                user,
                membership,
                devices: by_user.remove(&user_id).unwrap_or_default(),
            })
        })
        .collect())
}

/// Sends the room's `room:members` to every joined connection but `except`.
pub async fn publish_members(
    app: &App,
    conn: &mut Conn,
    chat: &ChatRow,
    except: Option<&Link>,
) -> Result<(), sqlx::Error> {
    let members = room_members(app, conn, chat).await?;
    let event = frame("room:members", json!({"chat_id": chat.id, "members": members}));
    match except {
        Some(link) => app.rooms.publish_to_others(chat.id, link, &event),
        None => app.rooms.publish(chat.id, &event),
    }
    Ok(())
}

/// Sends a join storm's merged `room:members` (§2.6: changes within 500 ms may be merged into
/// one, sent within a second of the first).
async fn flush_members(app: Arc<App>, chat_id: i64, at: tokio::time::Instant) {
    tokio::time::sleep_until(at).await;
    let _live = app.rooms.lock(chat_id).await;
    app.rooms.members_sent(chat_id);
    let published = async {
        let mut conn = app.store.acquire().await?;
        if let Some(chat) = store::chats::by_id(&mut conn, chat_id).await? {
            publish_members(&app, &mut conn, &chat, None).await?;
        }
        Ok::<(), ApiError>(())
    };
    if let Err(err) = published.await {
        tracing::warn!(chat_id, error = %err, "sending a room's merged member list");
    }
}

/// Queues `room:joined` for the connection: the room as it is now, under the chat's lock.
async fn queue_snapshot(
    app: &App,
    conn: &mut Conn,
    chat: &ChatRow,
    link: &Link,
    session: &LiveSession,
) -> Result<(), ApiError> {
    let now = app.now();
    let transport = store::transport::transport_of(conn, chat.id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    let blob = store::transport::blob_of(conn, chat.id, transport.epoch, session.session_id, now).await?;
    let joined = RoomJoined {
        chat_id: chat.id,
        device_id: session.token_suffix.clone(),
        epoch: transport.epoch,
        key: blob.map(|row| RoomKeyBlob::of(chat.id, transport.epoch, session, row)),
        history_visible: transport.history_visible != 0,
        members: room_members(app, conn, chat).await?,
        running: chat.browser_live().0,
        viewer_count: chat.browser_live().1,
    };
    link.queue(&frame("room:joined", joined));
    Ok(())
}

/// `room:join` (§2.2): the checks in their order, then the join's effects, atomically per chat.
/// Answers on the connection itself; an `Err` is for the caller to answer as `room:error`.
pub async fn join(app: &Arc<App>, link: &Arc<Link>, session: &LiveSession, data: &Value) -> Result<(), ApiError> {
    let user = &session.user;
    let mut conn = app.store.acquire().await?;
    if let Some(expires_at) = store::users::restrictions(&mut conn, user.id, app.now()).await?.timeout {
        return Err(ApiError::AccountTimedOut { expires_at });
    }
    let chat_id = match read_join(data)? {
        JoinTarget::Chat(id) => id,
        // A token joins only the user it is bound to; any other is unknown (91-matchmaking §4.2).
        JoinTarget::Token(token) => {
            store::matchmaking::by_token(&mut conn, &token)
                .await?
                .filter(|participant| participant.user_id == user.id)
                .ok_or(ApiError::ChatNotFound)?
                .chat_id
        }
    };
    let chat = room_chat(app, &mut conn, chat_id, user).await?;
    lifecycle::refuse_ended(app, &mut conn, &chat).await?;
    if store::chats::is_banned(&mut conn, chat.id, user.id, app.now()).await? {
        return Err(ApiError::ChatBanned);
    }
    // No connection is held while waiting for the lock: its holder may need one from the pool.
    drop(conn);
    let rooms = &app.rooms;
    let mut live = rooms.lock(chat.id).await;
    if chat.is_direct() {
        // The chat may have ended while this join waited for the lock; its room is closed then.
        let mut conn = app.store.acquire().await?;
        lifecycle::refuse_ended(app, &mut conn, &chat).await?;
    }
    if rooms.has_link(chat.id, link) {
        let mut conn = app.store.acquire().await?;
        return queue_snapshot(app, &mut conn, &chat, link, session).await;
    }
    if rooms.rooms_of(link).len() >= app.config.chats.max_rooms_per_connection {
        return Err(ApiError::RoomLimit);
    }

    let now = app.now();
    let entry = !rooms.user_present(chat.id, user.id).await;
    let mut tx = app.store.begin().await?;
    let transport = store::transport::lock_chat(&mut tx, chat.id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    let mut rotated_to = None;
    if entry && !store::transport::user_holds_blob(&mut tx, chat.id, transport.epoch, user.id, now).await? {
        store::transport::set_entry_time(&mut tx, chat.id, user.id, now).await?;
        if transport.history_visible == 0 && transport.epoch_keyed != 0 {
            rotated_to = Some(store::transport::rotate(&mut tx, chat.id).await?);
        }
    }
    let interval = app.config.chats.join_message_interval_s;
    // A direct chat's opening message already names both participants (91-matchmaking §4.4).
    let announced = entry
        && !chat.is_direct()
        && interval > 0
        && store::transport::claim_join_message(&mut tx, chat.id, user.id, interval * MICROS_PER_SECOND, now).await?;
    let message = match announced {
        true => {
            let text = format!("{} joined the chat", user.username);
            Some(post_system(&mut tx, app, chat.id, &transport, &text).await?)
        }
        false => None,
    };
    let public_key = store::transport::public_key(&mut tx, session.session_id, now).await?;
    tx.commit().await?;

    let mut conn = app.store.acquire().await?;
    if let Some(epoch) = rotated_to {
        publish_epoch_changed(app, &mut live, chat.id, epoch, "join");
    }
    let entered = rooms
        .join(chat.id, link, &session.token_suffix, public_key.as_deref())
        .await;
    queue_snapshot(app, &mut conn, &chat, link, session).await?;
    if entered.new_device {
        match rooms.members_due(chat.id) {
            MembersDue::Now => publish_members(app, &mut conn, &chat, Some(link)).await?,
            MembersDue::At(at) => {
                let app = app.clone();
                tokio::spawn(flush_members(app, chat.id, at));
            }
            MembersDue::AlreadyPending => {}
        }
    }
    if let Some(row) = message {
        rooms.publish(chat.id, &message_frame(&mut conn, row).await?);
    }
    drop(conn);
    handover::decide(app, chat.id, &mut live).await
}

/// `room:leave` (§2.3): idempotent.
pub async fn leave(app: &Arc<App>, link: &Link, chat_id: i64) -> Result<(), ApiError> {
    let mut live = app.rooms.lock(chat_id).await;
    if let Some(left) = app.rooms.leave(chat_id, link).await {
        let key = app.rooms.link_key(link);
        handover::requests_lost(&mut live, |r| r.to_link == key);
        after_leave(app, &mut live, chat_id, left).await?;
    }
    Ok(())
}

/// Takes a closing connection out of every room it joined (§2.4).
pub async fn leave_all(app: &Arc<App>, link: &Link) {
    for chat_id in app.rooms.rooms_of(link) {
        if let Err(err) = leave(app, link, chat_id).await {
            tracing::warn!(chat_id, error = %err, "leaving a room on close");
        }
    }
}

/// What a connection leaving the room causes (§2.4): when it was its device's last there
/// (`left`), the room hears of it.
pub async fn after_leave(
    app: &Arc<App>,
    live: &mut ChatLive,
    chat_id: i64,
    left: Option<Left>,
) -> Result<(), ApiError> {
    if let Some(left) = left {
        let mut conn = app.store.acquire().await?;
        let Some(chat) = store::chats::by_id(&mut conn, left.chat_id).await? else {
            return Ok(());
        };
        let key_gone = left.public_key.is_some()
            && store::transport::public_key(&mut conn, left.session_id, app.now())
                .await?
                .is_none();
        if key_gone {
            let removed = json!({"chat_id": chat.id, "user_id": left.user_id, "device_id": left.device_id});
            app.rooms.publish(chat.id, &frame("portal:key_removed", removed));
        }
        publish_members(app, &mut conn, &chat, None).await?;
    }
    handover::decide(app, chat_id, live).await
}

/// With Redis: this node's room beat, every `presence.node_beat_s` as its presence beat. The joined
/// connections of a node silent for three beats (15 s by default, within the
/// `presence.idle_timeout_s` that §2.4 allows) count as closed and are cleaned up by the node that
/// notices; when Redis comes back, this node's joined connections are shared again and key needs
/// are re-evaluated (§9). Ends with the app.
pub async fn keep_shared_rooms(app: std::sync::Weak<App>) {
    let mut was_shared = false;
    loop {
        let Some(app_now) = app.upgrade() else { return };
        let shared = app_now.ephemeral.presence_is_shared();
        if shared {
            if let Err(err) = beat(&app_now, !was_shared).await {
                tracing::warn!(error = %err, "shared room upkeep failed");
            }
        }
        was_shared = shared;
        let beat = std::time::Duration::from_secs(app_now.config.presence.node_beat_s.max(1));
        drop(app_now);
        tokio::time::sleep(beat).await;
    }
}

async fn beat(app: &Arc<App>, reshare: bool) -> Result<(), ApiError> {
    if reshare {
        for chat_id in app.rooms.share_all().await {
            let mut live = app.rooms.lock(chat_id).await;
            handover::decide(app, chat_id, &mut live).await?;
        }
    }
    let dead_after_ms = 3 * 1000 * app.config.presence.node_beat_s.max(1) as i64;
    let dead = app.ephemeral.room_beat(wall_clock_ms(), dead_after_ms).await;
    for (node, chats) in dead.unwrap_or_default() {
        let prefix = format!("{node}:");
        for chat_id in chats {
            let mut live = app.rooms.lock(chat_id).await;
            handover::requests_lost(&mut live, |r| r.to_link.starts_with(&prefix));
            for left in app.rooms.forget_node(chat_id, &node).await {
                after_leave(app, &mut live, chat_id, Some(left)).await?;
            }
            handover::decide(app, chat_id, &mut live).await?;
        }
    }
    Ok(())
}

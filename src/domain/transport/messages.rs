//! Chat messages (90-chat-transport §5): their public form, and the system messages the server
//! writes itself. User messages are ciphertext the server stores and relays without opening.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::decode_base64;
use crate::action_type::ActionType;
use crate::domain::app::App;
use crate::domain::chats::{is_public, moderates, room_chat};
use crate::domain::matchmaking::lifecycle;
use crate::domain::presence::{self, profiles};
use crate::error::ApiError;
use crate::store;
use crate::store::sessions::LiveSession;
pub use crate::store::transport::Page;
use crate::store::transport::{self, ChatTransport, MessageRow, NewMessage};
use crate::store::Conn;
use crate::time::{seconds_until, Timestamp, MICROS_PER_SECOND};

/// `ChatMessage` (§5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatMessage {
    /// `{ms}-{seq}`: unique and increasing within the chat.
    pub id: String,
    pub chat_id: i64,
    /// `null` for system messages.
    pub sender: Option<MessageSender>,
    /// The sender's level when sending; `null` for system messages.
    pub permission_level: Option<i64>,
    /// `user` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `user`: the CiphertextV2 bundle exactly as sent; `system`: plain text.
    pub content: String,
    /// `user`: the bundle's epoch; `system`: 0.
    pub epoch: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageSender {
    pub id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
}

pub fn message_id(ms: i64, seq: i64) -> String {
    format!("{ms}-{seq}")
}

/// Reads a message id (§1.4): `{ms}-{seq}`, decimal without sign or leading zeros, each part at
/// most `i64::MAX`.
pub fn parse_message_id(field: &str, text: &str) -> Result<(i64, i64), ApiError> {
    let part = |p: &str| -> Option<i64> {
        let canonical = !p.is_empty()
            && p.len() <= 19
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'));
        canonical.then(|| p.parse().ok()).flatten()
    };
    text.split_once('-')
        .and_then(|(ms, seq)| Some((part(ms)?, part(seq)?)))
        .ok_or_else(|| ApiError::validation(field, format!("{field} must be a message id")))
}

/// A JSON value read with every object checked for a repeated key, which `serde_json::Value`
/// would silently collapse to its last occurrence.
struct Unrepeated(Value);

impl<'de> Deserialize<'de> for Unrepeated {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnrepeatedVisitor)
    }
}

struct UnrepeatedVisitor;

impl<'de> Visitor<'de> for UnrepeatedVisitor {
    type Value = Unrepeated;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Unrepeated, E> {
        Ok(Unrepeated(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Unrepeated, E> {
        Ok(Unrepeated(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Unrepeated, E> {
        Ok(Unrepeated(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Unrepeated, E> {
        Ok(Unrepeated(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Unrepeated, E> {
        Ok(Unrepeated(Value::String(v.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Unrepeated, E> {
        Ok(Unrepeated(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unrepeated, A::Error> {
        let mut items = Vec::new();
        while let Some(Unrepeated(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Unrepeated(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unrepeated, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Unrepeated(value) = map.next_value()?;
            if object.insert(key, value).is_some() {
                return Err(de::Error::custom("a repeated key"));
            }
        }
        Ok(Unrepeated(Value::Object(object)))
    }
}

/// The epoch a CiphertextV2 bundle (§1.4) names, after checking its rules in order; the error
/// names the first that failed. The ciphertext itself stays unread.
pub fn bundle_epoch(content: &str) -> Result<i64, ApiError> {
    let Ok(Unrepeated(bundle)) = serde_json::from_str::<Unrepeated>(content) else {
        return Err(ApiError::InvalidBundle("content must be JSON with no key repeated"));
    };
    let fields = match &bundle {
        Value::Object(fields) if fields.len() == 3 && ["v", "epoch", "ct"].iter().all(|k| fields.contains_key(*k)) => {
            fields
        }
        _ => {
            return Err(ApiError::InvalidBundle(
                "content must be an object of exactly v, epoch and ct",
            ))
        }
    };
    if !(fields["v"].is_i64() && fields["v"].as_i64() == Some(2)) {
        return Err(ApiError::InvalidBundle("v must be the integer 2"));
    }
    let epoch = fields["epoch"].as_i64().filter(|e| *e >= 1 && fields["epoch"].is_i64());
    let Some(epoch) = epoch else {
        return Err(ApiError::InvalidBundle("epoch must be an integer of at least 1"));
    };
    let long_enough = fields["ct"]
        .as_str()
        .and_then(decode_base64)
        .is_some_and(|ct| ct.len() >= 40);
    if !long_enough {
        return Err(ApiError::InvalidBundle("ct must be base64 of at least 40 bytes"));
    }
    Ok(epoch)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageSent {
    /// The new message's id; the message itself arrives as `message:new`.
    pub id: String,
}

/// `POST /v1/portal/chats/{chat_id}/messages` (§5.2): a member of the room with the current key
/// posts a bundle. The caller is not timed out; the checks follow the error table's order.
pub async fn send(app: &Arc<App>, session: &LiveSession, chat_id: i64, content: &str) -> Result<MessageSent, ApiError> {
    let user = &session.user;
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let chat = room_chat(app, &mut conn, chat_id, user).await?;
    lifecycle::refuse_ended(app, &mut conn, &chat).await?;
    let rooms = &app.rooms;
    if !rooms.is_joined(chat.id, session.session_id).await {
        return Err(ApiError::RoomNotJoined);
    }
    let posts = is_public(&chat.visibility)
        || chat.is_owned_by(user.id)
        || store::chats::is_member(&mut conn, chat.id, user.id).await?;
    if !posts {
        return Err(ApiError::Forbidden("Only members can post in a private chat"));
    }
    if store::chats::is_banned(&mut conn, chat.id, user.id, now).await? {
        return Err(ApiError::ChatBanned);
    }
    if let Some(expires_at) = store::users::restrictions(&mut conn, user.id, now).await?.mute {
        return Err(ApiError::HardMuted { expires_at });
    }
    if let Some(end) = store::chats::chat_restriction(&mut conn, chat.id, user.id, ActionType::ChatMute, now).await? {
        let ttl = end.map_or(0, |end| seconds_until(now, end).max(1) as i64);
        return Err(ApiError::ChatMuted { ttl });
    }
    let epoch = bundle_epoch(content)?;
    drop(conn);

    // Under the chat's lock, ids are issued and `message:new` sent in one order (§2.7).
    let _live = rooms.lock(chat.id).await;
    let mut tx = app.store.begin().await?;
    let current = transport::lock_chat(&mut tx, chat.id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    if epoch != current.epoch {
        return Err(ApiError::EpochMismatch { epoch: current.epoch });
    }
    if transport::blob_of(&mut tx, chat.id, epoch, session.session_id, now)
        .await?
        .is_none()
    {
        return Err(ApiError::NoRoomKey);
    }
    let rates = &app.config.chats.message_rate;
    let in_chat = format!("message:{}:{}", chat.id, user.id);
    let overall = format!("message:{}", user.id);
    let buckets = [(in_chat.as_str(), rates.per_chat), (overall.as_str(), rates.per_user)];
    if let Err(wait) = app.ephemeral.take_together(&buckets, 60, now).await {
        return Err(ApiError::MessageRateLimited {
            retry_after_s: seconds_until(0, wait),
        });
    }
    let message = NewMessage {
        chat_id: chat.id,
        sender: Some((user.id, user.permission_level.as_i64())),
        kind: "user",
        content,
        epoch,
    };
    let last = (current.last_message_ms, current.last_message_seq);
    let row = transport::insert_message(&mut tx, &message, last, kept_messages(app), now).await?;
    store::chats::note_message_activity(&mut tx, chat.id, now, 60 * MICROS_PER_SECOND).await?;
    tx.commit().await?;
    let id = message_id(row.id_ms, row.id_seq);
    let mut conn = app.store.acquire().await?;
    rooms.publish(chat.id, &message_frame(&mut conn, row).await?);
    Ok(MessageSent { id })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// Ascending id.
    pub messages: Vec<ChatMessage>,
    /// More visible messages exist beyond this page, in its direction.
    pub has_more: bool,
}

/// `GET /v1/portal/chats/{chat_id}/history` (§5.3, §5.4): a page of what the caller may see.
/// Managers see everything; with history hidden, everyone else sees what was posted from their
/// entry time on.
pub async fn history(
    app: &App,
    session: &LiveSession,
    chat_id: i64,
    page: Page,
    limit: i64,
) -> Result<HistoryPage, ApiError> {
    let user = &session.user;
    let mut conn = app.store.acquire().await?;
    let chat = room_chat(app, &mut conn, chat_id, user).await?;
    if store::chats::is_banned(&mut conn, chat.id, user.id, app.now()).await? {
        return Err(ApiError::ChatBanned);
    }
    let current = transport::transport_of(&mut conn, chat.id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    let since = if current.history_visible != 0 || moderates(&chat, user) {
        i64::MIN
    } else {
        match transport::entry_time(&mut conn, chat.id, user.id).await? {
            Some(at) => at,
            None => {
                return Ok(HistoryPage {
                    messages: Vec::new(),
                    has_more: false,
                })
            }
        }
    };
    let mut rows = transport::history(&mut conn, chat.id, &page, since, limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    if has_more {
        // One more than asked was read to know; it lies beyond the page.
        match page {
            Page::Before(_) => drop(rows.remove(0)),
            Page::After(_) => drop(rows.pop()),
        }
    }
    Ok(HistoryPage {
        messages: public_messages(&mut conn, rows).await?,
        has_more,
    })
}

/// The public form of stored messages, with their senders as they are now.
pub async fn public_messages(conn: &mut Conn, rows: Vec<MessageRow>) -> Result<Vec<ChatMessage>, sqlx::Error> {
    let mut senders: Vec<i64> = rows.iter().filter_map(|row| row.sender_id).collect();
    senders.sort_unstable();
    senders.dedup();
    let profiles = profiles(conn, &senders).await?;
    Ok(rows
        .into_iter()
        .map(|row| ChatMessage {
            id: message_id(row.id_ms, row.id_seq),
            chat_id: row.chat_id,
            sender: row.sender_id.and_then(|id| profiles.get(&id)).map(|p| MessageSender {
                id: p.id,
                username: p.username.clone(),
                avatar_url: p.avatar_url.clone(),
            }),
            permission_level: row.sender_level,
            kind: row.kind,
            content: row.content,
            epoch: row.epoch,
            created_at: Timestamp(row.created_at),
        })
        .collect())
}

/// Messages kept per chat (§5.5), never fewer than 100.
pub fn kept_messages(app: &App) -> i64 {
    app.config.chats.max_messages.max(100)
}

/// Posts a system message (§5.6) inside the caller's transaction, which holds the chat's lock.
pub async fn post_system(
    conn: &mut Conn,
    app: &App,
    chat_id: i64,
    chat: &ChatTransport,
    content: &str,
) -> Result<MessageRow, sqlx::Error> {
    let message = NewMessage {
        chat_id,
        sender: None,
        kind: "system",
        content,
        epoch: 0,
    };
    let last = (chat.last_message_ms, chat.last_message_seq);
    transport::insert_message(conn, &message, last, kept_messages(app), app.now()).await
}

/// The `message:new` frame of a stored message.
pub async fn message_frame(conn: &mut Conn, row: MessageRow) -> Result<std::sync::Arc<str>, sqlx::Error> {
    let message = public_messages(conn, vec![row]).await?.pop();
    Ok(presence::frame("message:new", message))
}

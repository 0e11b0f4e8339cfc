//! Deleting messages and clearing a chat (90-chat-transport §6), and the auto-wipe timer that
//! clearing restarts (§7.3).

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::handover::{self, publish_epoch_changed};
use super::messages::{message_frame, message_id, post_system};
use super::rooms::ChatLive;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::chats::{moderates, outranks_owner, room_chat, visible_chat};
use crate::domain::presence::frame;
use crate::error::ApiError;
use crate::level::Level;
use crate::store;
use crate::store::chats::ChatRow;
use crate::store::transport::MessageRow;
use crate::store::users::UserRow;
use crate::store::Conn;
use crate::time::{Timestamp, MICROS_PER_SECOND};

/// The auto-wipe presets (§7.3) and their intervals in seconds; `off` has none.
pub const WIPE_PRESETS: [(&str, Option<i64>); 6] = [
    ("off", None),
    ("1m", Some(60)),
    ("15m", Some(900)),
    ("1h", Some(3600)),
    ("4h", Some(14_400)),
    ("24h", Some(86_400)),
];

/// The interval of a preset, in microseconds.
pub fn wipe_interval(preset: &str) -> Option<i64> {
    WIPE_PRESETS
        .iter()
        .find(|(name, _)| *name == preset)
        .and_then(|(_, seconds)| seconds.map(|s| s * MICROS_PER_SECOND))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// Messages actually deleted.
    pub deleted: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cleared {
    pub ok: bool,
    /// Messages deleted; the clear's own system message is not counted.
    pub cleared: u64,
}

/// Which messages a moderator deletes (§6.2, §6.3).
pub enum Selection {
    /// Distinct ids, and how many were sent (repeats included), which the audit row records.
    Ids {
        ids: Vec<(i64, i64)>,
        sent: usize,
    },
    Newest(i64),
}

/// The chat, when the caller may see it and has chat authority over it (§6.1).
async fn moderated_chat(
    conn: &mut Conn,
    chat_id: i64,
    actor: &UserRow,
    refusal: &'static str,
) -> Result<ChatRow, ApiError> {
    let chat = visible_chat(conn, chat_id, actor).await?;
    if moderates(&chat, actor) {
        Ok(chat)
    } else {
        Err(ApiError::NotChatModerator(refusal))
    }
}

fn bulk_deleted(chat_id: i64, rows: &[MessageRow]) -> Arc<str> {
    let ids: Vec<String> = rows.iter().map(|r| message_id(r.id_ms, r.id_seq)).collect();
    frame("message:bulk_deleted", json!({"chat_id": chat_id, "ids": ids}))
}

/// `messages/delete` and `messages/delete-last` (§6.2, §6.3), by a user with chat authority who
/// is not timed out; audited when the caller is not the owner and something was deleted.
pub async fn delete(app: &App, actor: &UserRow, chat_id: i64, selection: Selection) -> Result<Deleted, ApiError> {
    let mut conn = app.store.acquire().await?;
    let chat = moderated_chat(&mut conn, chat_id, actor, "You cannot delete messages in this chat").await?;
    drop(conn);
    let _live = app.rooms.lock(chat.id).await;
    let mut tx = app.store.begin().await?;
    store::transport::lock_chat(&mut tx, chat.id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    let (mode, requested, ids) = match selection {
        Selection::Ids { ids, sent } => ("ids", sent as i64, ids),
        Selection::Newest(count) => (
            "last",
            count,
            store::transport::newest_ids(&mut tx, chat.id, count).await?,
        ),
    };
    let rows = store::transport::delete_messages(&mut tx, chat.id, &ids).await?;
    if rows.is_empty() {
        return Ok(Deleted { deleted: 0 });
    }
    if !chat.is_owned_by(actor.id) {
        let mut senders: Vec<i64> = rows
            .iter()
            .filter(|r| r.kind == "user")
            .filter_map(|r| r.sender_id)
            .collect();
        senders.sort_unstable();
        senders.dedup();
        let ids: Vec<String> = rows.iter().map(|r| message_id(r.id_ms, r.id_seq)).collect();
        let metadata =
            json!({"mode": mode, "requested": requested, "deleted": rows.len(), "ids": ids, "sender_ids": senders});
        audit::record(
            app,
            &mut tx,
            AuditEvent::ChatMessagesDelete,
            Some(actor.id),
            Target::Chat(chat.id),
            metadata,
            app.now(),
        )
        .await?;
    }
    tx.commit().await?;
    app.rooms.publish(chat.id, &bulk_deleted(chat.id, &rows));
    Ok(Deleted { deleted: rows.len() })
}

/// `messages/delete-mine` (§6.4): anyone who may see the chat removes what they sent, timed-out
/// and chat-banned users included. Not audited.
pub async fn delete_mine(app: &App, user: &UserRow, chat_id: i64) -> Result<Deleted, ApiError> {
    let mut conn = app.store.acquire().await?;
    let chat = room_chat(app, &mut conn, chat_id, user).await?;
    drop(conn);
    let _live = app.rooms.lock(chat.id).await;
    let mut tx = app.store.begin().await?;
    let rows = store::transport::delete_of_sender(&mut tx, chat.id, user.id).await?;
    tx.commit().await?;
    if !rows.is_empty() {
        app.rooms.publish(chat.id, &bulk_deleted(chat.id, &rows));
    }
    Ok(Deleted { deleted: rows.len() })
}

/// `clear` (§6.5): the owner, or an Admin+ who outranks the owner, empties the chat. It always
/// rotates the epoch and restarts the wipe timer, in one transaction with its system message and
/// its audit row.
pub async fn clear(app: &Arc<App>, actor: &UserRow, chat_id: i64) -> Result<Cleared, ApiError> {
    let mut conn = app.store.acquire().await?;
    let chat = visible_chat(&mut conn, chat_id, actor).await?;
    let authority =
        chat.is_owned_by(actor.id) || (actor.permission_level >= Level::Admin && outranks_owner(&chat, actor));
    if !authority {
        return Err(ApiError::NotChatModerator("You cannot clear this chat"));
    }
    drop(conn);
    let now = app.now();
    let mut live = app.rooms.lock(chat.id).await;
    let mut tx = app.store.begin().await?;
    let current = store::transport::lock_chat(&mut tx, chat.id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    let cleared = store::transport::delete_all(&mut tx, chat.id).await?;
    let next_wipe_at = wipe_interval(&current.wipe_preset).map(|interval| now + interval);
    store::transport::set_next_wipe(&mut tx, chat.id, next_wipe_at).await?;
    let epoch = store::transport::rotate(&mut tx, chat.id).await?;
    let text = format!("The chat was cleared by {}", actor.username);
    let message = post_system(&mut tx, app, chat.id, &current, &text).await?;
    if !chat.is_owned_by(actor.id) {
        let metadata = json!({"cleared": cleared, "epoch": epoch});
        audit::record(
            app,
            &mut tx,
            AuditEvent::ChatClear,
            Some(actor.id),
            Target::Chat(chat.id),
            metadata,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    let emptied = Emptied {
        chat_id: chat.id,
        cleared,
        reason: "clear",
        next_wipe_at,
        epoch,
        message,
    };
    emptied.announce(app, &mut live).await?;
    Ok(Cleared { ok: true, cleared })
}

/// A chat emptied by a clear or a wipe, committed and yet to be announced.
struct Emptied {
    chat_id: i64,
    cleared: u64,
    /// `clear` or `wipe`: the reason of both `portal:cleared` and the rotation.
    reason: &'static str,
    next_wipe_at: Option<i64>,
    epoch: i64,
    message: MessageRow,
}

impl Emptied {
    /// To the room in this order: `portal:cleared`, `room:epoch_changed`, the system message;
    /// then the new epoch's key is asked for.
    async fn announce(self, app: &Arc<App>, live: &mut ChatLive) -> Result<(), ApiError> {
        let chat_id = self.chat_id;
        let event = json!({"chat_id": chat_id, "cleared": self.cleared, "reason": self.reason,
                           "next_wipe_at": self.next_wipe_at.map(Timestamp)});
        app.rooms.publish(chat_id, &frame("portal:cleared", event));
        publish_epoch_changed(app, live, chat_id, self.epoch, self.reason);
        let mut conn = app.store.acquire().await?;
        app.rooms
            .publish(chat_id, &message_frame(&mut conn, self.message).await?);
        drop(conn);
        handover::decide(app, chat_id, live).await
    }
}

/// Performs the auto-wipes that are due (§7.3); returns how many chats were wiped. Each is claimed
/// by a conditional update of its due time, so of several nodes exactly one wipes it, and due
/// times missed meanwhile collapse into one wipe.
pub async fn wipe_due(app: &Arc<App>) -> Result<usize, ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let due = store::transport::due_wipes(&mut conn, now).await?;
    drop(conn);
    let mut wiped = 0;
    for (chat_id, due_at) in due {
        if wipe(app, chat_id, due_at, now).await? {
            wiped += 1;
        }
    }
    Ok(wiped)
}

async fn wipe(app: &Arc<App>, chat_id: i64, due_at: i64, now: i64) -> Result<bool, ApiError> {
    let mut live = app.rooms.lock(chat_id).await;
    let mut tx = app.store.begin().await?;
    let Some(current) = store::transport::lock_chat(&mut tx, chat_id).await? else {
        return Ok(false);
    };
    let Some(interval) = wipe_interval(&current.wipe_preset) else {
        return Ok(false);
    };
    if current.next_wipe_at != Some(due_at) {
        return Ok(false);
    }
    let next = due_at + ((now - due_at) / interval + 1) * interval;
    store::transport::set_next_wipe(&mut tx, chat_id, Some(next)).await?;
    if !store::transport::has_user_messages(&mut tx, chat_id).await? {
        tx.commit().await?;
        return Ok(false);
    }
    let cleared = store::transport::delete_all(&mut tx, chat_id).await?;
    let epoch = store::transport::rotate(&mut tx, chat_id).await?;
    let text = format!("Messages were wiped automatically (every {})", current.wipe_preset);
    let message = post_system(&mut tx, app, chat_id, &current, &text).await?;
    tx.commit().await?;
    let emptied = Emptied {
        chat_id,
        cleared,
        reason: "wipe",
        next_wipe_at: Some(next),
        epoch,
        message,
    };
    emptied.announce(app, &mut live).await?;
    Ok(true)
}

/// Runs `wipe_due` every second for the life of the server, so a wipe happens within the five
/// seconds §7.3 allows.
pub async fn run_wiper(app: Arc<App>) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        ticks.tick().await;
        if let Err(err) = wipe_due(&app).await {
            tracing::warn!(error = %err, "auto-wipe failed");
        }
    }
}

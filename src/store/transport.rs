//! The chat transport's durable state (90-chat-transport §1.2): each chat's epoch, settings and
//! last message id, its messages, the devices' public keys, the key blobs and the room records.
//! Keys and blobs belong to live sessions only: an ended or expired session's count as absent.

use sqlx::FromRow;

use super::Conn;

/// The transport fields of a chat row.
#[derive(Debug, Clone, FromRow)]
pub struct ChatTransport {
    pub epoch: i64,
    pub epoch_keyed: i64,
    pub generator_session_id: Option<i64>,
    pub history_visible: i64,
    pub last_message_ms: i64,
    pub last_message_seq: i64,
    pub wipe_preset: String,
    pub next_wipe_at: Option<i64>,
}

const TRANSPORT_COLUMNS: &str = "epoch, epoch_keyed, generator_session_id, history_visible, last_message_ms, \
     last_message_seq, wipe_preset, next_wipe_at";

/// Takes the chat's row lock for the rest of the transaction and reads its transport fields:
/// every decision about a chat's epoch, keys and message ids is made under it, so that two
/// requests (or two nodes) serialise per chat. The no-op update locks the row on PostgreSQL and
/// takes the write lock on SQLite, with one statement for both.
pub async fn lock_chat(conn: &mut Conn, chat_id: i64) -> Result<Option<ChatTransport>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE chats SET epoch = epoch WHERE id = $1 RETURNING {TRANSPORT_COLUMNS}"
    ))
    .bind(chat_id)
    .fetch_optional(conn)
    .await
}

pub async fn transport_of(conn: &mut Conn, chat_id: i64) -> Result<Option<ChatTransport>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {TRANSPORT_COLUMNS} FROM chats WHERE id = $1"))
        .bind(chat_id)
        .fetch_optional(conn)
        .await
}

/// The next epoch, not keyed, with every blob of the chat gone (§4.2); returns it.
pub async fn rotate(conn: &mut Conn, chat_id: i64) -> Result<i64, sqlx::Error> {
    let (epoch,): (i64,) = sqlx::query_as(
        "UPDATE chats SET epoch = epoch + 1, epoch_keyed = 0, generator_session_id = NULL \
         WHERE id = $1 RETURNING epoch",
    )
    .bind(chat_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM key_blobs WHERE chat_id = $1")
        .bind(chat_id)
        .execute(conn)
        .await?;
    Ok(epoch)
}

/// Assigns the generator of the chat's current epoch, which must still be `epoch`.
pub async fn set_generator(conn: &mut Conn, chat_id: i64, epoch: i64, session_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chats SET generator_session_id = $3 WHERE id = $1 AND epoch = $2 AND epoch_keyed = 0")
        .bind(chat_id)
        .bind(epoch)
        .bind(session_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_keyed(conn: &mut Conn, chat_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chats SET epoch_keyed = 1, generator_session_id = NULL WHERE id = $1")
        .bind(chat_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The session's registered public key, if it is live.
pub async fn public_key(conn: &mut Conn, session_id: i64, now: i64) -> Result<Option<String>, sqlx::Error> {
    let keys = public_keys(conn, &[session_id], now).await?;
    Ok(keys.into_iter().next().map(|(_, key)| key))
}

/// The public keys of those of `sessions` that are live and have one.
pub async fn public_keys(conn: &mut Conn, sessions: &[i64], now: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let sql = "SELECT k.session_id, k.public_key FROM device_keys k JOIN sessions s ON s.id = k.session_id \
               WHERE k.session_id IN ({ids}) AND s.ended_at IS NULL AND s.expires_at > {after}";
    super::fetch_for_ids(conn, sql, sessions, Some(now)).await
}

/// Stores the session's key, replacing an older one together with every blob made for it.
pub async fn replace_public_key(conn: &mut Conn, session_id: i64, key: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM key_blobs WHERE session_id = $1")
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO device_keys (session_id, public_key, registered_at) VALUES ($1, $2, $3) \
         ON CONFLICT (session_id) DO UPDATE SET public_key = excluded.public_key, registered_at = excluded.registered_at",
    )
    .bind(session_id)
    .bind(key)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes the keys and blobs of `sessions`, which have just ended (10-auth §4.5).
pub async fn forget_devices(conn: &mut Conn, sessions: &[i64]) -> Result<(), sqlx::Error> {
    for session_id in sessions {
        for table in ["key_blobs", "device_keys"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE session_id = $1"))
                .bind(session_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct BlobRow {
    pub session_id: i64,
    pub blob: String,
    pub from_user_id: i64,
    pub from_device_id: String,
    pub from_public_key: String,
    pub created_at: i64,
}

/// The live sessions holding a blob of the chat at `epoch`.
pub async fn holders(conn: &mut Conn, chat_id: i64, epoch: i64, now: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT b.session_id FROM key_blobs b JOIN sessions s ON s.id = b.session_id \
         WHERE b.chat_id = $1 AND b.epoch = $2 AND s.ended_at IS NULL AND s.expires_at > $3",
    )
    .bind(chat_id)
    .bind(epoch)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Whether a live session of the user holds a blob of the chat at `epoch`.
pub async fn user_holds_blob(
    conn: &mut Conn,
    chat_id: i64,
    epoch: i64,
    user_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT b.session_id FROM key_blobs b JOIN sessions s ON s.id = b.session_id \
         WHERE b.chat_id = $1 AND b.epoch = $2 AND s.user_id = $3 AND s.ended_at IS NULL AND s.expires_at > $4 LIMIT 1",
    )
    .bind(chat_id)
    .bind(epoch)
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

pub async fn blob_of(
    conn: &mut Conn,
    chat_id: i64,
    epoch: i64,
    session_id: i64,
    now: i64,
) -> Result<Option<BlobRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.session_id, b.blob, b.from_user_id, b.from_device_id, b.from_public_key, b.created_at \
         FROM key_blobs b JOIN sessions s ON s.id = b.session_id \
         WHERE b.chat_id = $1 AND b.epoch = $2 AND b.session_id = $3 AND s.ended_at IS NULL AND s.expires_at > $4",
    )
    .bind(chat_id)
    .bind(epoch)
    .bind(session_id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

pub struct NewBlob<'a> {
    pub chat_id: i64,
    pub epoch: i64,
    pub session_id: i64,
    pub blob: &'a str,
    pub from_user_id: i64,
    pub from_device_id: &'a str,
    pub from_public_key: &'a str,
}

/// Stores a blob unless the device already holds one at the epoch; `true` when stored.
pub async fn insert_blob(conn: &mut Conn, blob: &NewBlob<'_>, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO key_blobs (chat_id, epoch, session_id, blob, from_user_id, from_device_id, from_public_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (chat_id, epoch, session_id) DO NOTHING",
    )
    .bind(blob.chat_id)
    .bind(blob.epoch)
    .bind(blob.session_id)
    .bind(blob.blob)
    .bind(blob.from_user_id)
    .bind(blob.from_device_id)
    .bind(blob.from_public_key)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The live session of `user_id` named by `device_id`, if any.
pub async fn live_device(conn: &mut Conn, user_id: i64, device_id: &str, now: i64) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM sessions WHERE user_id = $1 AND token_suffix = $2 AND ended_at IS NULL AND expires_at > $3",
    )
    .bind(user_id)
    .bind(device_id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

#[derive(Debug, Clone, FromRow)]
pub struct MessageRow {
    pub chat_id: i64,
    pub id_ms: i64,
    pub id_seq: i64,
    pub sender_id: Option<i64>,
    pub sender_level: Option<i64>,
    pub kind: String,
    pub content: String,
    pub epoch: i64,
    pub created_at: i64,
}

pub struct NewMessage<'a> {
    pub chat_id: i64,
    pub sender: Option<(i64, i64)>,
    pub kind: &'a str,
    pub content: &'a str,
    pub epoch: i64,
}

/// Inserts a message under the chat's lock with the next id after `last` (§5.1), records that id
/// in the chat row and trims the chat to `max_messages`. Returns the stored row.
pub async fn insert_message(
    conn: &mut Conn,
    message: &NewMessage<'_>,
    last: (i64, i64),
    max_messages: i64,
    now: i64,
) -> Result<MessageRow, sqlx::Error> {
    let now_ms = now / 1000;
    let (ms, seq) = if now_ms > last.0 {
        (now_ms, 0)
    } else {
        (last.0, last.1 + 1)
    };
    sqlx::query(
        "INSERT INTO chat_messages (chat_id, id_ms, id_seq, sender_id, sender_level, kind, content, epoch, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(message.chat_id)
    .bind(ms)
    .bind(seq)
    .bind(message.sender.map(|(id, _)| id))
    .bind(message.sender.map(|(_, level)| level))
    .bind(message.kind)
    .bind(message.content)
    .bind(message.epoch)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE chats SET last_message_ms = $2, last_message_seq = $3 WHERE id = $1")
        .bind(message.chat_id)
        .bind(ms)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    trim(conn, message.chat_id, max_messages).await?;
    Ok(MessageRow {
        chat_id: message.chat_id,
        id_ms: ms,
        id_seq: seq,
        sender_id: message.sender.map(|(id, _)| id),
        sender_level: message.sender.map(|(_, level)| level),
        kind: message.kind.to_owned(),
        content: message.content.to_owned(),
        epoch: message.epoch,
        created_at: now,
    })
}

/// Deletes the oldest messages beyond `keep` (§5.5).
async fn trim(conn: &mut Conn, chat_id: i64, keep: i64) -> Result<(), sqlx::Error> {
    let oldest_kept: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id_ms, id_seq FROM chat_messages WHERE chat_id = $1 ORDER BY id_ms DESC, id_seq DESC LIMIT 1 OFFSET $2",
    )
    .bind(chat_id)
    .bind(keep - 1)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((ms, seq)) = oldest_kept {
        sqlx::query("DELETE FROM chat_messages WHERE chat_id = $1 AND (id_ms < $2 OR (id_ms = $2 AND id_seq < $3))")
            .bind(chat_id)
            .bind(ms)
            .bind(seq)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Deletes the listed messages of the chat that exist; returns them, ascending.
pub async fn delete_messages(
    conn: &mut Conn,
    chat_id: i64,
    ids: &[(i64, i64)],
) -> Result<Vec<MessageRow>, sqlx::Error> {
    let mut deleted: Vec<MessageRow> = Vec::new();
    for (ms, seq) in ids {
        let row: Option<MessageRow> = sqlx::query_as(&format!(
            "DELETE FROM chat_messages WHERE chat_id = $1 AND id_ms = $2 AND id_seq = $3 RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(chat_id)
        .bind(ms)
        .bind(seq)
        .fetch_optional(&mut *conn)
        .await?;
        deleted.extend(row);
    }
    deleted.sort_by_key(|row| (row.id_ms, row.id_seq));
    Ok(deleted)
}

/// The ids of the chat's `count` newest messages.
pub async fn newest_ids(conn: &mut Conn, chat_id: i64, count: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id_ms, id_seq FROM chat_messages WHERE chat_id = $1 ORDER BY id_ms DESC, id_seq DESC LIMIT $2",
    )
    .bind(chat_id)
    .bind(count)
    .fetch_all(conn)
    .await
}

/// Deletes the chat's messages sent by the user; returns them, ascending.
pub async fn delete_of_sender(conn: &mut Conn, chat_id: i64, user_id: i64) -> Result<Vec<MessageRow>, sqlx::Error> {
    let mut deleted: Vec<MessageRow> = sqlx::query_as(&format!(
        "DELETE FROM chat_messages WHERE chat_id = $1 AND sender_id = $2 RETURNING {MESSAGE_COLUMNS}"
    ))
    .bind(chat_id)
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    deleted.sort_by_key(|row| (row.id_ms, row.id_seq));
    Ok(deleted)
}

/// Every message the user sent, in any chat, as (chat, ms, seq), ascending per chat.
pub async fn messages_of_sender(conn: &mut Conn, user_id: i64) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT chat_id, id_ms, id_seq FROM chat_messages WHERE sender_id = $1 ORDER BY chat_id, id_ms, id_seq",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// The private chats the user is a member (not the owner) of.
pub async fn private_memberships(conn: &mut Conn, user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT c.id FROM chat_members m JOIN chats c ON c.id = m.chat_id \
         WHERE m.user_id = $1 AND c.visibility = 'private' AND c.owner_id <> $1 ORDER BY c.id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Deletes every message of the chat; returns how many there were.
pub async fn delete_all(conn: &mut Conn, chat_id: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM chat_messages WHERE chat_id = $1")
        .bind(chat_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn message_count(conn: &mut Conn, chat_id: i64) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chat_messages WHERE chat_id = $1")
        .bind(chat_id)
        .fetch_one(conn)
        .await?;
    Ok(count)
}

/// Whether the chat holds a message a user sent.
pub async fn has_user_messages(conn: &mut Conn, chat_id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT id_ms FROM chat_messages WHERE chat_id = $1 AND kind = 'user' LIMIT 1")
            .bind(chat_id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// The settings of a chat kept with its transport (90-chat-transport §7.1).
#[derive(Debug, Clone)]
pub struct Settings {
    pub wipe_preset: String,
    pub next_wipe_at: Option<i64>,
    pub history_visible: bool,
    pub locked_controls: bool,
    pub implicit_hosting: bool,
    pub inactive_cursors: bool,
}

pub async fn set_settings(conn: &mut Conn, chat_id: i64, settings: &Settings) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE chats SET wipe_preset = $2, next_wipe_at = $3, history_visible = $4, locked_controls = $5, \
         implicit_hosting = $6, inactive_cursors = $7 WHERE id = $1",
    )
    .bind(chat_id)
    .bind(&settings.wipe_preset)
    .bind(settings.next_wipe_at)
    .bind(super::flag(settings.history_visible))
    .bind(super::flag(settings.locked_controls))
    .bind(super::flag(settings.implicit_hosting))
    .bind(super::flag(settings.inactive_cursors))
    .execute(conn)
    .await?;
    Ok(())
}

/// The chats whose auto-wipe is due at `now`, with the due time read.
pub async fn due_wipes(conn: &mut Conn, now: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT id, next_wipe_at FROM chats WHERE next_wipe_at <= $1 ORDER BY next_wipe_at")
        .bind(now)
        .fetch_all(conn)
        .await
}

/// Sets when the next auto-wipe is due (`None`: no timer).
pub async fn set_next_wipe(conn: &mut Conn, chat_id: i64, at: Option<i64>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chats SET next_wipe_at = $2 WHERE id = $1")
        .bind(chat_id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Which page of the history to read (§5.3).
pub enum Page {
    /// The newest messages older than the id, or the newest overall.
    Before(Option<(i64, i64)>),
    /// The oldest messages newer than the id.
    After((i64, i64)),
}

const MESSAGE_COLUMNS: &str = "chat_id, id_ms, id_seq, sender_id, sender_level, kind, content, epoch, created_at";

/// Up to `limit` messages of the page created at or after `since`, oldest first.
pub async fn history(
    conn: &mut Conn,
    chat_id: i64,
    page: &Page,
    since: i64,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    let (condition, order, (ms, seq)) = match page {
        Page::Before(Some(id)) => ("(id_ms < $3 OR (id_ms = $3 AND id_seq < $4))", "DESC", *id),
        Page::Before(None) => ("$3 = $3 AND $4 = $4", "DESC", (0, 0)),
        Page::After(id) => ("(id_ms > $3 OR (id_ms = $3 AND id_seq > $4))", "ASC", *id),
    };
    let mut rows: Vec<MessageRow> = sqlx::query_as(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE chat_id = $1 AND created_at >= $2 AND {condition} \
         ORDER BY id_ms {order}, id_seq {order} LIMIT $5"
    ))
    .bind(chat_id)
    .bind(since)
    .bind(ms)
    .bind(seq)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    if order == "DESC" {
        rows.reverse();
    }
    Ok(rows)
}

/// The user's entry time in the chat, `None` before their first keyless entry (§5.4).
pub async fn entry_time(conn: &mut Conn, chat_id: i64, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT entry_at FROM room_records WHERE chat_id = $1 AND user_id = $2")
            .bind(chat_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(at,)| at))
}

pub async fn set_entry_time(conn: &mut Conn, chat_id: i64, user_id: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO room_records (chat_id, user_id, entry_at) VALUES ($1, $2, $3) \
         ON CONFLICT (chat_id, user_id) DO UPDATE SET entry_at = excluded.entry_at",
    )
    .bind(chat_id)
    .bind(user_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims the user's join message in the chat when none was posted within `interval` micros;
/// `true` when claimed (§2.2 step 3: one per user and interval, however many nodes race).
pub async fn claim_join_message(
    conn: &mut Conn,
    chat_id: i64,
    user_id: i64,
    interval: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO room_records (chat_id, user_id) VALUES ($1, $2) ON CONFLICT (chat_id, user_id) DO NOTHING",
    )
    .bind(chat_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "UPDATE room_records SET join_message_at = $3 \
         WHERE chat_id = $1 AND user_id = $2 AND (join_message_at IS NULL OR join_message_at <= $3 - $4)",
    )
    .bind(chat_id)
    .bind(user_id)
    .bind(now)
    .bind(interval)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

//! The life of a direct chat (91-matchmaking §4): what it is at a given moment, how it ends, and
//! the acts of its participants on it (leave, block).

use std::collections::HashMap;

use serde_json::json;

use super::{moments, ActiveDirectChat, MatchPeer};
use crate::domain::app::App;
use crate::domain::presence;
use crate::domain::transport::handover::publish_epoch_changed;
use crate::domain::transport::messages::{message_frame, post_system};
use crate::error::ApiError;
use crate::store;
use crate::store::chats::ChatRow;
use crate::store::matchmaking::ParticipantRow;
use crate::store::users::UserRow;
use crate::store::Conn;
use crate::time::{Timestamp, MICROS_PER_SECOND};

/// What a direct chat is at a moment, deadlines included (§7: they hold before anything is
/// written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectState {
    Active,
    Archived { deletes_at: i64 },
    Deleted,
}

/// Why a direct chat ends (§4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The participant left, blocked, or can never come back.
    Left { user_id: i64 },
    /// The participant stayed away until their reconnect deadline `at`.
    Disconnected { user_id: i64, at: i64 },
    /// The chat's `expires_at` came.
    Expired { at: i64 },
}

impl End {
    fn reason(self) -> &'static str {
        match self {
            End::Left { .. } => "left",
            End::Disconnected { .. } => "disconnected",
            End::Expired { .. } => "expired",
        }
    }
}

/// The deadline that ends an active chat, if one has come by `now`: its expiry, or the earlier
/// reconnect deadline of an away participant.
pub fn deadline_end(app: &App, chat: &ChatRow, participants: &[ParticipantRow], now: i64) -> Option<End> {
    let grace = app.config.matching.reconnect_grace_s * MICROS_PER_SECOND;
    let away = participants
        .iter()
        .filter_map(|p| p.away_since.map(|since| (since + grace, p.user_id)))
        .min();
    let expiry = chat.expires_at.unwrap_or(i64::MAX);
    match away {
        Some((at, user_id)) if at < expiry && at <= now => Some(End::Disconnected { user_id, at }),
        _ if expiry <= now => Some(End::Expired { at: expiry }),
        _ => None,
    }
}

/// The chat's state at `now`.
pub fn state_of(app: &App, chat: &ChatRow, participants: &[ParticipantRow], now: i64) -> DirectState {
    let archive = app.config.matching.archive_ttl_s * MICROS_PER_SECOND;
    let deletes_at = match (chat.is_archived != 0, deadline_end(app, chat, participants, now)) {
        (true, _) => chat.deletes_at.unwrap_or(now),
        (false, Some(End::Disconnected { at, .. } | End::Expired { at })) => at + archive,
        (false, _) => return DirectState::Active,
    };
    match deletes_at <= now {
        true => DirectState::Deleted,
        false => DirectState::Archived { deletes_at },
    }
}

/// One direct chat as one of its participants sees it.
pub struct DirectChatView {
    pub state: DirectState,
    pub view: ActiveDirectChat,
}

/// The direct chats among `chats` as `viewer` sees them, by chat id; chats `viewer` does not
/// take part in are left out.
pub async fn describe(
    app: &App,
    conn: &mut Conn,
    viewer: i64,
    chats: &[ChatRow],
    now: i64,
) -> Result<HashMap<i64, DirectChatView>, sqlx::Error> {
    let ids: Vec<i64> = chats.iter().filter(|c| c.is_direct()).map(|c| c.id).collect();
    let mut by_chat: HashMap<i64, Vec<ParticipantRow>> = HashMap::new();
    for p in store::matchmaking::participants_of(conn, &ids).await? {
        by_chat.entry(p.chat_id).or_default().push(p);
    }
    let mut views = HashMap::new();
    for chat in chats.iter().filter(|c| c.is_direct()) {
        let participants = by_chat.remove(&chat.id).unwrap_or_default();
        let (Some(own), Some(peer)) = (
            participants.iter().find(|p| p.user_id == viewer),
            participants.iter().find(|p| p.user_id != viewer),
        ) else {
            continue;
        };
        let state = state_of(app, chat, &participants, now);
        let expires_at = match state {
            DirectState::Archived { deletes_at } => deletes_at,
            _ => chat.expires_at.unwrap_or(chat.created_at),
        };
        let peer_grace_until_ms = match (state, peer.away_since, peer.grace_announced_until) {
            (DirectState::Active, Some(_), Some(until)) => Some(until / 1000),
            _ => None,
        };
        let view = ActiveDirectChat {
            chat_id: chat.id,
            token: own.token.clone(),
            peer: MatchPeer::from(peer),
            matched_on: matched_on(chat),
            expires_at: Timestamp(expires_at),
            peer_grace_until_ms,
        };
        views.insert(chat.id, DirectChatView { state, view });
    }
    Ok(views)
}

/// The direct chats `user_id` takes part in that still exist, by id.
pub async fn chats_of(app: &App, conn: &mut Conn, user_id: i64, now: i64) -> Result<Vec<DirectChatView>, sqlx::Error> {
    let ids = store::matchmaking::chats_of(conn, user_id).await?;
    let chats = store::chats::by_ids(conn, &ids).await?;
    let mut views = describe(app, conn, user_id, &chats, now).await?;
    Ok(ids.iter().filter_map(|id| views.remove(id)).collect())
}

pub fn matched_on(chat: &ChatRow) -> Vec<String> {
    chat.matched_on
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// Ends the chat (§4.6) if it is still active: one transaction stores the system message, marks
/// the end and rotates the epoch; after it, in order, `message:new`, `room:peer_left` for a
/// leave, `room:epoch_changed` (`ended`) and `room:ended`, and the room closes. `false` when the
/// chat had already ended or is gone.
pub async fn end(app: &App, chat_id: i64, cause: End) -> Result<bool, ApiError> {
    let mut live = app.rooms.lock(chat_id).await;
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let Some(current) = store::transport::lock_chat(&mut tx, chat_id).await? else {
        return Ok(false);
    };
    let participants = store::matchmaking::participants_of(&mut tx, &[chat_id]).await?;
    let name_of = |user_id: i64| {
        participants
            .iter()
            .find(|p| p.user_id == user_id)
            .map_or_else(String::new, |p| p.username.clone())
    };
    let (text, ended_at) = match cause {
        End::Left { user_id } => (format!("{} left the chat", name_of(user_id)), now),
        End::Disconnected { user_id, at } => (format!("{} disconnected", name_of(user_id)), at),
        End::Expired { at } => ("Chat expired".to_owned(), at),
    };
    let deletes_at = ended_at + app.config.matching.archive_ttl_s * MICROS_PER_SECOND;
    let message = post_system(&mut tx, app, chat_id, &current, &text).await?;
    if !store::matchmaking::end_chat(&mut tx, chat_id, ended_at, cause.reason(), deletes_at, now).await? {
        return Ok(false);
    }
    let epoch = store::transport::rotate(&mut tx, chat_id).await?;
    tx.commit().await?;

    let mut conn = app.store.acquire().await?;
    app.rooms.publish(chat_id, &message_frame(&mut conn, message).await?);
    drop(conn);
    if let End::Left { user_id } = cause {
        for peer in participants.iter().filter(|p| p.user_id != user_id) {
            let data = json!({"chat_id": chat_id, "grace_until_ms": 0});
            presence::announce(app, Some(peer.user_id), "room:peer_left", data).await;
        }
    }
    publish_epoch_changed(app, &mut live, chat_id, epoch, "ended");
    let ended = json!({"chat_id": chat_id, "reason": cause.reason(), "expires_at": Timestamp(deletes_at)});
    for p in &participants {
        presence::announce(app, Some(p.user_id), "room:ended", ended.clone()).await;
    }
    // An archived chat has no key needs (§4.4): nothing is asked for again.
    live.requests.clear();
    live.failed.clear();
    app.rooms.close_room(chat_id, None).await;
    Ok(true)
}

/// `POST /v1/portal/match/leave` (§8.5): ends one of the caller's active direct chats; returns
/// its id.
pub async fn leave(app: &App, user: &UserRow, chat_id: Option<i64>) -> Result<i64, ApiError> {
    let mut conn = app.store.acquire().await?;
    let active = store::matchmaking::active_chats_of(&mut conn, user.id, moments(app, app.now())).await?;
    drop(conn);
    let chat_id = match (chat_id, active.as_slice()) {
        (Some(id), _) if active.contains(&id) => id,
        (None, [only]) => *only,
        (None, [_, _, ..]) => {
            return Err(ApiError::validation(
                "chat_id",
                "chat_id is required when you are in more than one direct chat",
            ))
        }
        _ => return Err(ApiError::NoActiveDirectChat),
    };
    match end(app, chat_id, End::Left { user_id: user.id }).await? {
        true => Ok(chat_id),
        // Another cause ended it between the read and the end.
        false => Err(ApiError::NoActiveDirectChat),
    }
}

/// The caller's direct chat `chat_id` as it exists now (§8.6–8.7), with its two participant
/// records, the caller's first; `ERR_CHAT_NOT_FOUND` otherwise.
pub async fn own_direct_chat(
    app: &App,
    conn: &mut Conn,
    user_id: i64,
    chat_id: i64,
) -> Result<(ChatRow, DirectState, Vec<ParticipantRow>), ApiError> {
    let chat = store::chats::by_id(conn, chat_id)
        .await?
        .filter(ChatRow::is_direct)
        .ok_or(ApiError::ChatNotFound)?;
    let mut participants = store::matchmaking::participants_of(conn, &[chat_id]).await?;
    let state = state_of(app, &chat, &participants, app.now());
    if state == DirectState::Deleted || !participants.iter().any(|p| p.user_id == user_id) {
        return Err(ApiError::ChatNotFound);
    }
    participants.sort_by_key(|p| p.user_id != user_id);
    Ok((chat, state, participants))
}

/// `POST /v1/portal/match/block` (§8.6): never paired with the peer again; an active chat ends as
/// the caller's leave. Returns whether this request ended the chat.
pub async fn block(app: &App, user: &UserRow, chat_id: i64) -> Result<bool, ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let (_, state, participants) = own_direct_chat(app, &mut conn, user.id, chat_id).await?;
    drop(conn);
    let peer = participants.get(1).map(|p| p.user_id);
    let ttl = app.config.matching.block_ttl_s;
    let expires_at = (ttl > 0).then(|| now + ttl * MICROS_PER_SECOND);
    let mut tx = app.store.begin().await?;
    // When the peer's user no longer exists, nothing is written.
    if let Some(peer) = peer {
        if store::users::by_id(&mut tx, peer).await?.is_some() {
            store::matchmaking::block_pair(&mut tx, user.id, peer, now, expires_at).await?;
        }
    }
    tx.commit().await?;
    match state {
        DirectState::Active => end(app, chat_id, End::Left { user_id: user.id }).await,
        _ => Ok(false),
    }
}

/// `room:peer_left` with the participant's reconnect deadline, to the other participant.
pub async fn announce_peer_left(app: &App, peer_of_user: &ParticipantRow, deadline: i64) {
    let data = json!({"chat_id": peer_of_user.chat_id, "grace_until_ms": deadline / 1000});
    presence::announce(app, Some(peer_of_user.user_id), "room:peer_left", data).await;
}

/// `room:peer_returned` to the other participant.
pub async fn announce_peer_returned(app: &App, peer_of_user: &ParticipantRow) {
    let data = json!({"chat_id": peer_of_user.chat_id});
    presence::announce(app, Some(peer_of_user.user_id), "room:peer_returned", data).await;
}

/// Whether `chat` still exists at this moment: a direct chat is gone from its `deletes_at` on,
/// even before the sweep deletes it (§7).
pub async fn still_exists(app: &App, conn: &mut Conn, chat: &ChatRow) -> Result<bool, sqlx::Error> {
    if !chat.is_direct() {
        return Ok(true);
    }
    let participants = store::matchmaking::participants_of(conn, &[chat.id]).await?;
    Ok(state_of(app, chat, &participants, app.now()) != DirectState::Deleted)
}

/// Refuses an act that needs an active chat when `chat` is a direct chat that has ended
/// (91-matchmaking §4.4: joining its room, sending, uploading keys). Group chats pass.
pub async fn refuse_ended(app: &App, conn: &mut Conn, chat: &ChatRow) -> Result<(), ApiError> {
    if !chat.is_direct() {
        return Ok(());
    }
    let participants = store::matchmaking::participants_of(conn, &[chat.id]).await?;
    match state_of(app, chat, &participants, app.now()) {
        DirectState::Active => Ok(()),
        DirectState::Archived { .. } => Err(ApiError::DirectChatEnded),
        DirectState::Deleted => Err(ApiError::ChatNotFound),
    }
}

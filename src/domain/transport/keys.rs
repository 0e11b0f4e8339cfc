//! Device public keys (90-chat-transport §3): one X25519 public key per session, registered by
//! the browser that holds the private half. The server stores and hands it out; it never makes a
//! key pair and never sees a private key.

use serde::Serialize;
use utoipa::ToSchema;

use std::sync::Arc;

use super::{canonical_key, handover};
use crate::domain::app::App;
use crate::domain::chats::room_chat;
use crate::error::ApiError;
use crate::store;
use crate::store::sessions::LiveSession;
use crate::store::transport::BlobRow;
use crate::time::Timestamp;

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRegistered {
    /// `registered` (stored, replacing any earlier key) or `unchanged`.
    pub status: &'static str,
    /// The session's public device name, its `token_suffix`.
    pub device_id: String,
}

/// Stores `public_key` for the caller's session unless it is the key already stored. A replaced
/// key takes every blob made for it along, in the same transaction: they were sealed to the old
/// key and no longer open.
pub async fn register(app: &Arc<App>, session: &LiveSession, public_key: &[u8; 32]) -> Result<KeyRegistered, ApiError> {
    let key = canonical_key(public_key);
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let current = store::transport::public_key(&mut tx, session.session_id, now).await?;
    let status = if current.as_deref() == Some(key.as_str()) {
        "unchanged"
    } else {
        store::transport::replace_public_key(&mut tx, session.session_id, &key, now).await?;
        "registered"
    };
    tx.commit().await?;
    if status == "registered" {
        handover::key_registered(app, session, &key).await?;
    }
    Ok(KeyRegistered {
        status,
        device_id: session.token_suffix.clone(),
    })
}

/// `RoomKeyBlob` (§4.6): a chat key sealed by one device for another; the server cannot open it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomKeyBlob {
    pub chat_id: i64,
    pub epoch: i64,
    /// The device the blob is for.
    pub user_id: i64,
    pub device_id: String,
    /// As uploaded.
    pub blob: String,
    pub from: BlobSender,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl RoomKeyBlob {
    /// The blob stored for the session's device.
    pub fn of(chat_id: i64, epoch: i64, session: &LiveSession, row: BlobRow) -> Self {
        RoomKeyBlob::for_device(chat_id, epoch, session.user.id, &session.token_suffix, row)
    }

    pub fn for_device(chat_id: i64, epoch: i64, user_id: i64, device_id: &str, row: BlobRow) -> Self {
        RoomKeyBlob {
            chat_id,
            epoch,
            user_id,
            device_id: device_id.to_owned(),
            blob: row.blob,
            from: BlobSender {
                user_id: row.from_user_id,
                device_id: row.from_device_id,
                public_key: row.from_public_key,
            },
            created_at: Timestamp(row.created_at),
        }
    }
}

/// The uploading device, with its public key as it was at upload time.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlobSender {
    pub user_id: i64,
    pub device_id: String,
    pub public_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyRoomKey {
    pub chat_id: i64,
    /// The chat's current epoch.
    pub epoch: i64,
    pub device_id: String,
    /// The caller's device's blob at that epoch; `null` when it holds none.
    pub key: Option<RoomKeyBlob>,
}

/// The caller's device's blob at the chat's current epoch (§4.5), for a client that missed a
/// `room:key`: open to whoever may see the chat and is not chat-banned, timed-out users included.
pub async fn mine(app: &App, session: &LiveSession, chat_id: i64) -> Result<MyRoomKey, ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let chat = room_chat(app, &mut conn, chat_id, &session.user).await?;
    if store::chats::is_banned(&mut conn, chat.id, session.user.id, now).await? {
        return Err(ApiError::ChatBanned);
    }
    let transport = store::transport::transport_of(&mut conn, chat.id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    let blob = store::transport::blob_of(&mut conn, chat.id, transport.epoch, session.session_id, now).await?;
    Ok(MyRoomKey {
        chat_id: chat.id,
        epoch: transport.epoch,
        device_id: session.token_suffix.clone(),
        key: blob.map(|row| RoomKeyBlob::of(chat.id, transport.epoch, session, row)),
    })
}

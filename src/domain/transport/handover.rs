//! Handing chat keys from device to device (90-chat-transport §4.3, §4.4): who needs a key, which
//! device is asked to make or pass one, and the upload of the sealed blobs. The server decides who
//! is asked; it never sees a chat key.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::keys::RoomKeyBlob;
use super::rooms::{ChatLive, JoinedDevice, KeyRequest};
use crate::domain::app::App;
use crate::domain::chats::room_chat;
use crate::domain::matchmaking::lifecycle;
use crate::domain::presence::frame;
use crate::error::ApiError;
use crate::store;
use crate::store::sessions::LiveSession;
use crate::store::transport::{BlobRow, NewBlob};

/// A request whose time ran out: `(chat_id, request_id)`.
pub type Expired = (i64, String);

/// Sends `room:epoch_changed` to the room; the requests of the old epoch have failed with it.
pub fn publish_epoch_changed(app: &App, live: &mut ChatLive, chat_id: i64, epoch: i64, reason: &str) {
    live.requests.retain(|r| r.epoch == epoch);
    let event = frame(
        "room:epoch_changed",
        json!({"chat_id": chat_id, "epoch": epoch, "reason": reason}),
    );
    app.rooms.publish(chat_id, &event);
}

/// Connections left the room: the requests sent to those `gone` accepts fail (§4.3).
pub fn requests_lost(live: &mut ChatLive, gone: impl Fn(&KeyRequest) -> bool) {
    let (failed, kept): (Vec<KeyRequest>, Vec<KeyRequest>) = live.requests.drain(..).partition(|r| gone(r));
    live.requests = kept;
    for request in failed {
        fail(live, &request);
    }
}

fn fail(live: &mut ChatLive, request: &KeyRequest) {
    if live.failed_epoch != request.epoch {
        live.failed.clear();
        live.failed_epoch = request.epoch;
    }
    live.failed.push(request.to_session);
}

/// The first candidate, by join time, that has not failed a request at this epoch; the first
/// one when all have.
fn pick<'a>(candidates: &[&'a JoinedDevice], live: &ChatLive) -> &'a JoinedDevice {
    candidates
        .iter()
        .find(|d| !live.failed.contains(&d.session_id))
        .unwrap_or(&candidates[0])
}

/// Decides, under the chat's lock, who is asked for keys (§4.3 rules 1–3) and asks them.
pub async fn decide(app: &Arc<App>, chat_id: i64, live: &mut ChatLive) -> Result<(), ApiError> {
    // A `key_lost` rotation happens at most once: after it nothing is keyed and rule 2 applies.
    for _ in 0..2 {
        let now = app.now();
        let mut conn = app.store.acquire().await?;
        let Some(chat) = store::transport::transport_of(&mut conn, chat_id).await? else {
            live.requests.clear();
            return Ok(());
        };
        let epoch = chat.epoch;
        live.requests.retain(|r| r.epoch == epoch);
        if live.failed_epoch != epoch {
            live.failed.clear();
            live.failed_epoch = epoch;
        }
        // The keys as the database has them: a session that has just ended (logout, deletion) has
        // none, although its connections may not have closed yet.
        let mut devices = app.rooms.devices(chat_id).await;
        let sessions: Vec<i64> = devices.iter().map(|d| d.session_id).collect();
        let keys: HashMap<i64, String> = store::transport::public_keys(&mut conn, &sessions, now)
            .await?
            .into_iter()
            .collect();
        for device in &mut devices {
            device.public_key = keys.get(&device.session_id).cloned();
        }
        let with_key: Vec<&JoinedDevice> = devices.iter().filter(|d| d.public_key.is_some()).collect();
        let holders: HashSet<i64> = store::transport::holders(&mut conn, chat_id, epoch, now)
            .await?
            .into_iter()
            .collect();
        drop(conn);
        let needing: Vec<&JoinedDevice> = with_key
            .iter()
            .copied()
            .filter(|d| !holders.contains(&d.session_id))
            .collect();
        let needing_ids: HashSet<i64> = needing.iter().map(|d| d.session_id).collect();
        for request in &mut live.requests {
            request.devices.retain(|s| needing_ids.contains(s));
        }
        live.requests.retain(|r| !r.devices.is_empty());

        if chat.epoch_keyed == 0 {
            if with_key.is_empty() || live.requests.iter().any(|r| r.generate) {
                return Ok(());
            }
            let generator = pick(&with_key, live);
            let mut conn = app.store.acquire().await?;
            store::transport::set_generator(&mut conn, chat_id, epoch, generator.session_id).await?;
            ask(app, live, chat_id, epoch, true, generator, &with_key);
            return Ok(());
        }
        let joined_holders: Vec<&JoinedDevice> = devices.iter().filter(|d| holders.contains(&d.session_id)).collect();
        if !joined_holders.is_empty() {
            let uncovered: Vec<&JoinedDevice> = needing
                .into_iter()
                .filter(|d| !live.requests.iter().any(|r| r.devices.contains(&d.session_id)))
                .collect();
            if !uncovered.is_empty() {
                let distributor = pick(&joined_holders, live);
                ask(app, live, chat_id, epoch, false, distributor, &uncovered);
            }
            return Ok(());
        }
        if needing.is_empty() {
            return Ok(());
        }
        // Rule 3: nobody present can pass the key on, so a new one is made.
        let mut tx = app.store.begin().await?;
        let Some(locked) = store::transport::lock_chat(&mut tx, chat_id).await? else {
            return Ok(());
        };
        if locked.epoch != epoch {
            continue;
        }
        let next = store::transport::rotate(&mut tx, chat_id).await?;
        tx.commit().await?;
        publish_epoch_changed(app, live, chat_id, next, "key_lost");
    }
    Ok(())
}

/// Sends one `room:key_request` to the device's earliest-joined connection, and arms its timeout.
fn ask(
    app: &App,
    live: &mut ChatLive,
    chat_id: i64,
    epoch: i64,
    generate: bool,
    to: &JoinedDevice,
    devices: &[&JoinedDevice],
) {
    let id = format!("kr_{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
    let listed: Vec<_> = devices
        .iter()
        .map(|d| json!({"user_id": d.user_id, "device_id": d.device_id, "public_key": d.public_key}))
        .collect();
    let event = frame(
        "room:key_request",
        json!({"chat_id": chat_id, "epoch": epoch, "request_id": id, "generate": generate, "devices": listed}),
    );
    app.rooms.send_to_link(chat_id, &to.first, &event);
    live.requests.push(KeyRequest {
        id: id.clone(),
        epoch,
        generate,
        to_session: to.session_id,
        to_link: to.first.clone(),
        devices: devices.iter().map(|d| d.session_id).collect(),
    });
    let expired = app.rooms.expiries();
    let wait = Duration::from_secs(app.config.chats.key_request_timeout_s.max(1));
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        let _ = expired.send((chat_id, id));
    });
}

/// Fails the requests whose time ran out and decides again, for as long as the app lives.
pub async fn follow_expiries(app: Weak<App>, mut expired: mpsc::UnboundedReceiver<Expired>) {
    while let Some((chat_id, id)) = expired.recv().await {
        let Some(app) = app.upgrade() else { return };
        let mut live = app.rooms.lock(chat_id).await;
        if let Some(at) = live.requests.iter().position(|r| r.id == id) {
            let request = live.requests.remove(at);
            fail(&mut live, &request);
            if let Err(err) = decide(&app, chat_id, &mut live).await {
                tracing::warn!(chat_id, error = %err, "re-deciding key requests");
            }
        }
    }
}

/// One item of a key upload (§4.4).
#[derive(Debug, Clone, ToSchema)]
pub struct BlobItem {
    #[schema(minimum = 1)]
    pub user_id: i64,
    #[schema(pattern = r"^[A-Za-z0-9_-]{6}$")]
    pub device_id: String,
    /// The chat key sealed for the device: base64, 1–256 characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^(?:(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?|(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}(?:==)?|[A-Za-z0-9_-]{3}=?)?)$"
    )]
    pub blob: String,
    /// The key the blob was made for (base64 of 32 bytes); stored only if it is still current.
    #[schema(value_type = Option<String>, pattern = r"^(?:[A-Za-z0-9+/]{43}|[A-Za-z0-9_-]{43})=?$")]
    pub public_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedBlob {
    pub user_id: i64,
    pub device_id: String,
    /// `not_joined`, `no_public_key`, `stale_public_key` or `exists`.
    pub reason: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub epoch: i64,
    pub stored: usize,
    pub rejected: Vec<RejectedBlob>,
}

/// `POST /v1/portal/chats/{chat_id}/keys` (§4.4): stores the blobs a holder or the epoch's
/// generator made, item by item, and hands each to its device. The caller is not timed out.
pub async fn upload(
    app: &Arc<App>,
    session: &LiveSession,
    chat_id: i64,
    epoch: i64,
    items: &[BlobItem],
) -> Result<Uploaded, ApiError> {
    let mut conn = app.store.acquire().await?;
    let chat = room_chat(app, &mut conn, chat_id, &session.user).await?;
    lifecycle::refuse_ended(app, &mut conn, &chat).await?;
    drop(conn);
    let rooms = &app.rooms;
    if !rooms.is_joined(chat.id, session.session_id).await {
        return Err(ApiError::RoomNotJoined);
    }
    let mut live = rooms.lock(chat.id).await;
    let joined: HashSet<i64> = rooms.devices(chat.id).await.iter().map(|d| d.session_id).collect();
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let current = store::transport::lock_chat(&mut tx, chat.id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    if epoch != current.epoch {
        return Err(ApiError::EpochMismatch { epoch: current.epoch });
    }
    let holds = store::transport::blob_of(&mut tx, chat.id, epoch, session.session_id, now)
        .await?
        .is_some();
    let lists_itself = items
        .iter()
        .any(|i| i.user_id == session.user.id && i.device_id == session.token_suffix);
    let generating =
        current.epoch_keyed == 0 && current.generator_session_id == Some(session.session_id) && lists_itself;
    let from_key = store::transport::public_key(&mut tx, session.session_id, now).await?;
    let (true, Some(from_key)) = (holds || generating, from_key) else {
        return Err(ApiError::NotKeyDistributor);
    };
    let mut stored: Vec<(i64, &BlobItem)> = Vec::new();
    let mut rejected = Vec::new();
    for item in items {
        let target = store::transport::live_device(&mut tx, item.user_id, &item.device_id, now)
            .await?
            .filter(|session_id| joined.contains(session_id));
        let reason = match target {
            None => Some("not_joined"),
            Some(target) => match store::transport::public_key(&mut tx, target, now).await? {
                None => Some("no_public_key"),
                Some(key) if item.public_key.as_ref().is_some_and(|k| *k != key) => Some("stale_public_key"),
                Some(_) => {
                    let blob = NewBlob {
                        chat_id: chat.id,
                        epoch,
                        session_id: target,
                        blob: &item.blob,
                        from_user_id: session.user.id,
                        from_device_id: &session.token_suffix,
                        from_public_key: &from_key,
                    };
                    if store::transport::insert_blob(&mut tx, &blob, now).await? {
                        stored.push((target, item));
                        None
                    } else {
                        Some("exists")
                    }
                }
            },
        };
        if let Some(reason) = reason {
            rejected.push(RejectedBlob {
                user_id: item.user_id,
                device_id: item.device_id.clone(),
                reason,
            });
        }
    }
    if !stored.is_empty() && current.epoch_keyed == 0 {
        store::transport::mark_keyed(&mut tx, chat.id).await?;
    }
    tx.commit().await?;

    for (target, item) in &stored {
        let row = BlobRow {
            session_id: *target,
            blob: item.blob.clone(),
            from_user_id: session.user.id,
            from_device_id: session.token_suffix.clone(),
            from_public_key: from_key.clone(),
            created_at: now,
        };
        let blob = RoomKeyBlob::for_device(chat.id, epoch, item.user_id, &item.device_id, row);
        rooms.send_to_device(chat.id, *target, &frame("room:key", blob));
    }
    decide(app, chat.id, &mut live).await?;
    Ok(Uploaded {
        epoch,
        stored: stored.len(),
        rejected,
    })
}

/// A device registered a new key (§3.1): each room it has joined learns the key, and the device
/// is then treated like one that just joined.
pub async fn key_registered(app: &Arc<App>, session: &LiveSession, key: &str) -> Result<(), ApiError> {
    for chat_id in app.rooms.rooms_of_session(session.session_id).await {
        let mut live = app.rooms.lock(chat_id).await;
        app.rooms.set_public_key(chat_id, session.session_id, key).await;
        let added = json!({"chat_id": chat_id, "user_id": session.user.id,
                           "device_id": session.token_suffix, "public_key": key});
        app.rooms.publish(chat_id, &frame("portal:key_added", added));
        decide(app, chat_id, &mut live).await?;
    }
    Ok(())
}

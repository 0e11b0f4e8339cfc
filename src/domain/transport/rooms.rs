//! The live state of rooms (90-chat-transport §1.3, §2, §9): which connection of which device of
//! which user is joined to which chat's room, since when, the fan-out of room events to them, and
//! each chat's outstanding key requests.
//!
//! Every node keeps the registry of its own connections. With Redis up, each joined connection is
//! also recorded there, so that every node sees the whole room; events reach the other nodes'
//! connections through Redis, and each chat's lock and key-request state are shared. With Redis
//! out of reach (or not configured), a node serves its own connections from its own registry.
//!
//! Every change to a room, and every event it causes, happens under that chat's lock
//! (`Rooms::lock`), so a joiner's snapshot and the events after it neither miss nor repeat a
//! change (§2.7), and key needs are decided once per chat at a time (§4.3). A node's events leave
//! for Redis in the order they were made, and the shared lock is released only after they have.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, OwnedMutexGuard};

use super::handover::Expired;
use crate::domain::presence::Link;
use crate::ephemeral::{Ephemeral, RemoteEvent, RoomCast};

/// How long a node may hold a chat's shared lock before it lapses (a node that died holding it).
const SHARED_LOCK_TTL_MS: u64 = 10_000;
/// How often a node asks again for a chat's shared lock that another holds. Each message of a busy
/// room waits about half of it on top of the holder's work (bench/README.md, "Chat transport").
const SHARED_LOCK_POLL: Duration = Duration::from_millis(1);
/// How long to wait for a chat's shared lock before going on without it.
const SHARED_LOCK_WAIT: Duration = Duration::from_secs(12);

/// One joined connection of this node.
#[derive(Clone)]
struct Joined {
    link: Arc<Link>,
    /// `"<node>:<number>"`, the connection's name among all nodes.
    key: String,
    entry: RoomEntry,
}

/// A joined connection as every node sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoomEntry {
    user_id: i64,
    session_id: i64,
    device_id: String,
    /// The device's registered public key, in its canonical form, when it has one.
    public_key: Option<String>,
    /// Position in the order of joins.
    order: u64,
}

/// A device joined to a room: its first connection there, by join time.
#[derive(Clone)]
pub struct JoinedDevice {
    pub user_id: i64,
    pub session_id: i64,
    pub device_id: String,
    pub public_key: Option<String>,
    pub order: u64,
    /// The name of its earliest-joined connection.
    pub first: String,
}

/// What a join changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Entered {
    /// The device had no connection in the room before.
    pub new_device: bool,
}

/// A device that left a room: its last connection there is gone.
#[derive(Debug, Clone)]
pub struct Left {
    pub chat_id: i64,
    pub user_id: i64,
    pub session_id: i64,
    pub device_id: String,
    /// The device's public key while it was joined.
    pub public_key: Option<String>,
}

/// A `room:key_request` that is outstanding (§4.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRequest {
    pub id: String,
    pub epoch: i64,
    pub generate: bool,
    /// The device asked, and the one connection of it the request went to.
    pub to_session: i64,
    pub to_link: String,
    /// The sessions the request still covers: listed, joined and not yet holding a blob.
    pub devices: Vec<i64>,
}

/// A chat's key hand-over in progress, guarded by the chat's lock.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ChatLive {
    pub requests: Vec<KeyRequest>,
    /// Devices that let a request of `failed_epoch` fail: asked again only when no other can be.
    pub failed: Vec<i64>,
    pub failed_epoch: i64,
}

impl ChatLive {
    fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.failed.is_empty()
    }
}

/// When a room's next `room:members` after a join may go (§2.6).
pub enum MembersDue {
    Now,
    /// Merged with the changes until then.
    At(tokio::time::Instant),
    /// A merged one is already due.
    AlreadyPending,
}

/// How many member lists a room's joins have sent in the current window, per node.
struct MembersThrottle {
    window_start: tokio::time::Instant,
    sent: u32,
    pending: bool,
}

/// Joins are announced at once, each with its own `room:members`, up to `MEMBERS_BURST` in a
/// window of `MEMBERS_MERGE`; the joins after that share one list at the window's end.
const MEMBERS_MERGE: Duration = Duration::from_millis(500);
const MEMBERS_BURST: u32 = 8;

/// What leaves for Redis, in order.
pub enum Outgoing {
    Event(RemoteEvent),
    /// Answered once everything queued before it has been published.
    Barrier(oneshot::Sender<()>),
}

/// The receiving ends of the background work of `Rooms`.
pub struct RoomTasks {
    pub expired: mpsc::UnboundedReceiver<Expired>,
    pub outbox: mpsc::UnboundedReceiver<Outgoing>,
}

#[derive(Default)]
struct Registry {
    counter: u64,
    /// Per chat, this node's joined connections in join order.
    rooms: HashMap<i64, Vec<Joined>>,
}

pub struct Rooms {
    registry: Mutex<Registry>,
    ephemeral: Arc<Ephemeral>,
    /// Where the timers of key requests report (`handover::follow_expiries`).
    expired: mpsc::UnboundedSender<Expired>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    /// One lock per chat that was ever locked on this node. Entries are never removed, so that
    /// two holders of one chat's lock can never have different locks; an idle one is a few bytes.
    chats: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<ChatLive>>>>,
    members: Mutex<HashMap<i64, MembersThrottle>>,
}

/// A chat's lock, with its key-request state. With Redis up it is also the chat's shared lock,
/// released (after this node's events of the chat have left) when the guard drops.
pub struct ChatGuard {
    live: OwnedMutexGuard<ChatLive>,
    shared: Option<SharedHold>,
}

struct SharedHold {
    chat_id: i64,
    token: String,
    ephemeral: Arc<Ephemeral>,
    outbox: mpsc::UnboundedSender<Outgoing>,
}

impl Deref for ChatGuard {
    type Target = ChatLive;
    fn deref(&self) -> &ChatLive {
        &self.live
    }
}

impl DerefMut for ChatGuard {
    fn deref_mut(&mut self) -> &mut ChatLive {
        &mut self.live
    }
}

impl Drop for ChatGuard {
    fn drop(&mut self) {
        let Some(hold) = self.shared.take() else { return };
        let state = (!self.live.is_empty()).then(|| serde_json::to_string(&*self.live).unwrap_or_default());
        tokio::spawn(async move {
            let (done, published) = oneshot::channel();
            if hold.outbox.send(Outgoing::Barrier(done)).is_ok() {
                let _ = published.await;
            }
            hold.ephemeral.room_live_save(hold.chat_id, state.as_deref()).await;
            hold.ephemeral.room_unlock(hold.chat_id, &hold.token).await;
        });
    }
}

fn lock_registry(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    // Plain bookkeeping that no panic can leave half-done.
    registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Rooms {
    /// The rooms of a node, and the receiving ends of their background work.
    pub fn new(ephemeral: Arc<Ephemeral>) -> (Rooms, RoomTasks) {
        let (expired, expired_rx) = mpsc::unbounded_channel();
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let rooms = Rooms {
            registry: Mutex::default(),
            ephemeral,
            expired,
            outbox,
            chats: Mutex::default(),
            members: Mutex::default(),
        };
        let tasks = RoomTasks {
            expired: expired_rx,
            outbox: outbox_rx,
        };
        (rooms, tasks)
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock_registry(&self.registry)
    }

    pub fn expiries(&self) -> mpsc::UnboundedSender<Expired> {
        self.expired.clone()
    }

    /// The name of a connection of this node among all nodes.
    pub fn link_key(&self, link: &Link) -> String {
        format!("{}:{}", self.ephemeral.node_id(), link.id())
    }

    /// Whether a join's `room:members` goes now, or merged with those of the next moments: a join
    /// storm of N devices would otherwise send N lists of up to N members to N connections.
    pub fn members_due(&self, chat_id: i64) -> MembersDue {
        let now = tokio::time::Instant::now();
        let mut all = self.members.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let throttle = all.entry(chat_id).or_insert(MembersThrottle {
            window_start: now,
            sent: 0,
            pending: false,
        });
        if throttle.pending {
            return MembersDue::AlreadyPending;
        }
        if now >= throttle.window_start + MEMBERS_MERGE {
            throttle.window_start = now;
            throttle.sent = 0;
        }
        if throttle.sent < MEMBERS_BURST {
            throttle.sent += 1;
            return MembersDue::Now;
        }
        throttle.pending = true;
        MembersDue::At(throttle.window_start + MEMBERS_MERGE)
    }

    /// A merged member list went out: a new window starts with it.
    pub fn members_sent(&self, chat_id: i64) {
        let mut all = self.members.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        all.insert(
            chat_id,
            MembersThrottle {
                window_start: tokio::time::Instant::now(),
                sent: 1,
                pending: false,
            },
        );
    }

    /// Waits for the chat's lock: changes to its room and their events happen under it.
    pub async fn lock(&self, chat_id: i64) -> ChatGuard {
        let lock = {
            let mut chats = self.chats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            chats.entry(chat_id).or_default().clone()
        };
        let mut live = lock.lock_owned().await;
        let mut shared = None;
        if self.ephemeral.presence_is_shared() {
            let token = uuid::Uuid::new_v4().simple().to_string();
            let deadline = tokio::time::Instant::now() + SHARED_LOCK_WAIT;
            loop {
                match self.ephemeral.room_lock(chat_id, &token, SHARED_LOCK_TTL_MS).await {
                    Some(true) => {
                        let state = self.ephemeral.room_live_load(chat_id).await.flatten();
                        *live = state.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
                        shared = Some(SharedHold {
                            chat_id,
                            token,
                            ephemeral: self.ephemeral.clone(),
                            outbox: self.outbox.clone(),
                        });
                        break;
                    }
                    Some(false) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(SHARED_LOCK_POLL).await;
                    }
                    Some(false) => {
                        tracing::warn!(
                            chat_id,
                            "a chat's shared lock was not released in time; going on without it"
                        );
                        break;
                    }
                    None => break,
                }
            }
        }
        ChatGuard { live, shared }
    }

    /// Every joined connection of the room, on every node when Redis is up, by join time.
    async fn entries(&self, chat_id: i64) -> Vec<(String, RoomEntry)> {
        let shared = match self.ephemeral.presence_is_shared() {
            true => self.ephemeral.room_entries(chat_id).await,
            false => None,
        };
        let mut entries: Vec<(String, RoomEntry)> = match shared {
            Some(raw) => raw
                .into_iter()
                .filter_map(|(key, entry)| Some((key, serde_json::from_str(&entry).ok()?)))
                .collect(),
            None => self
                .registry()
                .rooms
                .get(&chat_id)
                .into_iter()
                .flatten()
                .map(|j| (j.key.clone(), j.entry.clone()))
                .collect(),
        };
        entries.sort_by_key(|(_, entry)| entry.order);
        entries
    }

    /// Rooms this connection is joined to.
    pub fn rooms_of(&self, link: &Link) -> Vec<i64> {
        let registry = self.registry();
        let mut rooms: Vec<i64> = registry
            .rooms
            .iter()
            .filter(|(_, joined)| joined.iter().any(|j| j.link.id() == link.id()))
            .map(|(chat_id, _)| *chat_id)
            .collect();
        rooms.sort_unstable();
        rooms
    }

    /// Rooms a connection of the session is joined to, on any node.
    pub async fn rooms_of_session(&self, session_id: i64) -> Vec<i64> {
        let mut rooms: Vec<i64> = self
            .registry()
            .rooms
            .iter()
            .filter(|(_, joined)| joined.iter().any(|j| j.entry.session_id == session_id))
            .map(|(chat_id, _)| *chat_id)
            .collect();
        if self.ephemeral.presence_is_shared() {
            rooms.extend(self.ephemeral.rooms_of_session(session_id).await.unwrap_or_default());
        }
        rooms.sort_unstable();
        rooms.dedup();
        rooms
    }

    /// Records the device's new public key in the room.
    pub async fn set_public_key(&self, chat_id: i64, session_id: i64, key: &str) {
        let mut changed = Vec::new();
        {
            let mut registry = self.registry();
            for joined in registry.rooms.get_mut(&chat_id).into_iter().flatten() {
                if joined.entry.session_id == session_id {
                    joined.entry.public_key = Some(key.to_owned());
                    changed.push((joined.key.clone(), joined.entry.clone()));
                }
            }
        }
        if !self.ephemeral.presence_is_shared() {
            return;
        }
        for (link, entry) in self.entries(chat_id).await {
            if entry.session_id == session_id && !changed.iter().any(|(k, _)| *k == link) {
                let entry = RoomEntry {
                    public_key: Some(key.to_owned()),
                    ..entry
                };
                changed.push((link, entry));
            }
        }
        for (link, entry) in changed {
            self.share(chat_id, &link, &entry).await;
        }
    }

    async fn share(&self, chat_id: i64, link: &str, entry: &RoomEntry) {
        if let Ok(text) = serde_json::to_string(entry) {
            self.ephemeral.room_put(chat_id, link, entry.session_id, &text).await;
        }
    }

    /// Adds the connection to the room (it is not joined yet).
    pub async fn join(&self, chat_id: i64, link: &Arc<Link>, device_id: &str, public_key: Option<&str>) -> Entered {
        let session_id = link.session_id;
        let new_device = !self.is_joined(chat_id, session_id).await;
        let shared_order = match self.ephemeral.presence_is_shared() {
            true => self.ephemeral.room_next_order().await,
            false => None,
        };
        let key = self.link_key(link);
        let entry = {
            let mut registry = self.registry();
            registry.counter += 1;
            let entry = RoomEntry {
                user_id: link.user_id,
                session_id,
                device_id: device_id.to_owned(),
                public_key: public_key.map(str::to_owned),
                order: shared_order.unwrap_or(registry.counter),
            };
            registry.rooms.entry(chat_id).or_default().push(Joined {
                link: link.clone(),
                key: key.clone(),
                entry: entry.clone(),
            });
            entry
        };
        if shared_order.is_some() {
            self.share(chat_id, &key, &entry).await;
        }
        Entered { new_device }
    }

    /// Takes the connections `chosen` accepts out of the room, from this node's registry and the
    /// shared one, with one read of the room; returns the devices left with no connection there.
    async fn remove_where(&self, chat_id: i64, chosen: impl Fn(&str, &RoomEntry) -> bool) -> Vec<Left> {
        let mut entries = self.entries(chat_id).await;
        // A connection of this node not (yet) in the shared registry, as while Redis comes back.
        let local: Vec<(String, RoomEntry)> = self
            .registry()
            .rooms
            .get(&chat_id)
            .into_iter()
            .flatten()
            .map(|j| (j.key.clone(), j.entry.clone()))
            .collect();
        for (key, entry) in local {
            if entries.iter().all(|(known, _)| *known != key) {
                entries.push((key, entry));
            }
        }
        let (gone, remaining): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(key, e)| chosen(key, e));
        let links: Vec<String> = gone.iter().map(|(key, _)| key.clone()).collect();
        self.forget(chat_id, &links).await;
        let mut left: Vec<Left> = Vec::new();
        for (_, entry) in gone {
            let still = remaining.iter().any(|(_, e)| e.session_id == entry.session_id);
            if !still && left.iter().all(|l| l.session_id != entry.session_id) {
                left.push(Left {
                    chat_id,
                    user_id: entry.user_id,
                    session_id: entry.session_id,
                    device_id: entry.device_id,
                    public_key: entry.public_key,
                });
            }
        }
        let sessions: Vec<i64> = left.iter().map(|l| l.session_id).collect();
        if !sessions.is_empty() && self.ephemeral.presence_is_shared() {
            self.ephemeral.room_remove(chat_id, &[], &sessions).await;
        }
        left
    }

    /// Removes connections from this node's registry and from the shared one.
    async fn forget(&self, chat_id: i64, links: &[String]) {
        if links.is_empty() {
            return;
        }
        {
            let mut registry = self.registry();
            if let Some(joined) = registry.rooms.get_mut(&chat_id) {
                joined.retain(|j| !links.contains(&j.key));
                if joined.is_empty() {
                    registry.rooms.remove(&chat_id);
                }
            }
        }
        if self.ephemeral.presence_is_shared() {
            self.ephemeral.room_remove(chat_id, links, &[]).await;
        }
    }

    /// Takes the connection out of the room; `None` when it was not joined, else the device that
    /// left with it, if it was the device's last connection there.
    pub async fn leave(&self, chat_id: i64, link: &Link) -> Option<Option<Left>> {
        if !self.has_link(chat_id, link) {
            return None;
        }
        let key = self.link_key(link);
        Some(self.remove_where(chat_id, |k, _| k == key).await.pop())
    }

    /// Takes every connection of the user out of the room, on every node, after `frame` (§8):
    /// returns the devices that left.
    pub async fn remove_user(&self, chat_id: i64, user_id: i64, frame: &Arc<str>) -> Vec<Left> {
        self.send_where(chat_id, frame, |j| j.entry.user_id == user_id);
        self.cast(RoomCast::Remove { chat_id, user_id }, frame);
        self.remove_where(chat_id, |_, e| e.user_id == user_id).await
    }

    /// The connections of a node that stopped without closing them (found by `keep_shared_rooms`):
    /// forgotten, as if they had closed (§2.4). Returns the devices that left.
    pub async fn forget_node(&self, chat_id: i64, node: &str) -> Vec<Left> {
        let prefix = format!("{node}:");
        self.remove_where(chat_id, |key, _| key.starts_with(&prefix)).await
    }

    /// Puts this node's joined connections back into the shared registry (Redis came back).
    pub async fn share_all(&self) -> Vec<i64> {
        let mine: Vec<(i64, Joined)> = {
            let registry = self.registry();
            registry
                .rooms
                .iter()
                .flat_map(|(chat_id, joined)| joined.iter().map(|j| (*chat_id, j.clone())))
                .collect()
        };
        let mut chats = Vec::new();
        for (chat_id, joined) in mine {
            self.share(chat_id, &joined.key, &joined.entry).await;
            chats.push(chat_id);
        }
        chats.sort_unstable();
        chats.dedup();
        chats
    }

    /// The devices joined to the room, by join time.
    pub async fn devices(&self, chat_id: i64) -> Vec<JoinedDevice> {
        let mut devices: Vec<JoinedDevice> = Vec::new();
        for (key, entry) in self.entries(chat_id).await {
            if devices.iter().all(|d| d.session_id != entry.session_id) {
                devices.push(JoinedDevice {
                    user_id: entry.user_id,
                    session_id: entry.session_id,
                    device_id: entry.device_id,
                    public_key: entry.public_key,
                    order: entry.order,
                    first: key,
                });
            }
        }
        devices
    }

    /// The users present in the room.
    pub async fn present_users(&self, chat_id: i64) -> Vec<i64> {
        let mut users: Vec<i64> = self
            .entries(chat_id)
            .await
            .into_iter()
            .map(|(_, e)| e.user_id)
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Whether a connection of the user is joined to the room.
    pub async fn user_present(&self, chat_id: i64, user_id: i64) -> bool {
        self.entries(chat_id).await.iter().any(|(_, e)| e.user_id == user_id)
    }

    /// Whether a connection of the session is joined to the room.
    pub async fn is_joined(&self, chat_id: i64, session_id: i64) -> bool {
        self.entries(chat_id)
            .await
            .iter()
            .any(|(_, e)| e.session_id == session_id)
    }

    /// Whether this connection is joined to the room.
    pub fn has_link(&self, chat_id: i64, link: &Link) -> bool {
        self.registry()
            .rooms
            .get(&chat_id)
            .is_some_and(|joined| joined.iter().any(|j| j.link.id() == link.id()))
    }

    /// Sends `frame`, if any, to every connection of the room and empties it (the chat is gone,
    /// or a direct chat ended).
    pub async fn close_room(&self, chat_id: i64, frame: Option<&Arc<str>>) {
        let gone = self.registry().rooms.remove(&chat_id).unwrap_or_default();
        let frame = frame.cloned().unwrap_or_else(|| Arc::from(""));
        if !frame.is_empty() {
            for joined in gone {
                joined.link.queue(&frame);
            }
        }
        self.cast(RoomCast::Close { chat_id }, &frame);
        if self.ephemeral.presence_is_shared() {
            self.ephemeral.room_drop(chat_id).await;
        }
    }

    /// Queues `frame` on every connection joined to the room.
    pub fn publish(&self, chat_id: i64, frame: &Arc<str>) {
        self.send_where(chat_id, frame, |_| true);
        self.cast(RoomCast::Room { chat_id }, frame);
    }

    /// Queues `frame` on every connection joined to the room but `except`, one of this node's.
    pub fn publish_to_others(&self, chat_id: i64, except: &Link, frame: &Arc<str>) {
        self.send_where(chat_id, frame, |j| j.link.id() != except.id());
        self.cast(RoomCast::Room { chat_id }, frame);
    }

    /// Queues `frame` on every joined connection of one device.
    pub fn send_to_device(&self, chat_id: i64, session_id: i64, frame: &Arc<str>) {
        self.send_where(chat_id, frame, |j| j.entry.session_id == session_id);
        self.cast(RoomCast::Device { chat_id, session_id }, frame);
    }

    /// Queues `frame` on one joined connection, on whichever node it is.
    pub fn send_to_link(&self, chat_id: i64, link: &str, frame: &Arc<str>) {
        let local = self.send_where(chat_id, frame, |j| j.key == link);
        if !local {
            let link = link.to_owned();
            self.cast(RoomCast::Link { chat_id, link }, frame);
        }
    }

    /// Delivers a room event another node published to this node's connections.
    pub fn deliver(&self, cast: &RoomCast, frame: &Arc<str>) {
        match cast {
            RoomCast::Room { chat_id } => {
                self.send_where(*chat_id, frame, |_| true);
            }
            RoomCast::Device { chat_id, session_id } => {
                self.send_where(*chat_id, frame, |j| j.entry.session_id == *session_id);
            }
            RoomCast::Link { chat_id, link } => {
                self.send_where(*chat_id, frame, |j| j.key == *link);
            }
            RoomCast::Remove { chat_id, user_id } => {
                self.send_where(*chat_id, frame, |j| j.entry.user_id == *user_id);
                // The acting node has already taken them out of the shared registry.
                let mut registry = self.registry();
                if let Some(joined) = registry.rooms.get_mut(chat_id) {
                    joined.retain(|j| j.entry.user_id != *user_id);
                }
            }
            RoomCast::Close { chat_id } => {
                // An empty frame closes the room without a word (a direct chat's end, whose
                // `room:ended` reaches the participants' connections directly).
                if !frame.is_empty() {
                    self.send_where(*chat_id, frame, |_| true);
                }
                self.registry().rooms.remove(chat_id);
            }
        }
    }

    /// Queues the frame on this node's connections of the room that `to` accepts; `true` when
    /// there was one.
    fn send_where(&self, chat_id: i64, frame: &Arc<str>, to: impl Fn(&Joined) -> bool) -> bool {
        let registry = self.registry();
        let mut sent = false;
        for joined in registry.rooms.get(&chat_id).into_iter().flatten().filter(|j| to(j)) {
            joined.link.queue(frame);
            sent = true;
        }
        sent
    }

    /// Hands a room event to the other nodes, after every earlier one of this node.
    fn cast(&self, cast: RoomCast, frame: &Arc<str>) {
        if !self.ephemeral.presence_is_shared() {
            return;
        }
        let event = RemoteEvent {
            user_id: None,
            frame: frame.to_string(),
            seq: None,
            room: Some(cast),
        };
        let _ = self.outbox.send(Outgoing::Event(event));
    }
}

/// Publishes this node's room events to Redis in the order they were made. Ends with the app.
pub async fn follow_outbox(ephemeral: Arc<Ephemeral>, mut outbox: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(item) = outbox.recv().await {
        match item {
            Outgoing::Event(event) => ephemeral.publish_event(event).await,
            Outgoing::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }
}

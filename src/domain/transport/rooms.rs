//! The live state of rooms on one node (90-chat-transport §1.3, §2): which connection of which
//! device of which user is joined to which chat's room, since when, the fan-out of room events to
//! them, and each chat's outstanding key requests. A device is a session; its join time is its
//! earliest connection's, a user's presence in the room starts with their earliest device's.
//!
//! Every change to a room, and every event it causes, happens under that chat's lock
//! (`Rooms::lock`), so a joiner's snapshot and the events after it neither miss nor repeat a
//! change (§2.7), and key needs are decided once per chat at a time (§4.3).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::handover::Expired;
use crate::domain::presence::Link;

/// One joined connection.
#[derive(Clone)]
pub struct Joined {
    pub link: Arc<Link>,
    pub user_id: i64,
    pub session_id: i64,
    pub device_id: String,
    /// The device's registered public key, in its canonical form, when it has one.
    pub public_key: Option<Arc<str>>,
    /// Position in the order of joins on this node.
    pub order: u64,
}

/// A device joined to a room: its first connection there, by join time.
#[derive(Clone)]
pub struct JoinedDevice {
    pub user_id: i64,
    pub session_id: i64,
    pub device_id: String,
    pub public_key: Option<Arc<str>>,
    pub order: u64,
    pub first: Arc<Link>,
}

/// What a join changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Entered {
    /// The connection was already joined: nothing changed.
    pub already: bool,
    /// The device had no connection in the room before.
    pub new_device: bool,
    /// The user had no device in the room before (an entry, §1.1).
    pub new_user: bool,
}

/// What a connection's leave changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Left {
    pub chat_id: i64,
    pub user_id: i64,
    pub session_id: i64,
    pub device_id: String,
    /// It was the device's last connection in the room.
    pub device_left: bool,
    /// It was the user's last device in the room.
    pub user_left: bool,
    /// The device's public key while it was joined.
    pub public_key: Option<Arc<str>>,
}

/// A `room:key_request` that is outstanding (§4.3).
pub struct KeyRequest {
    pub id: String,
    pub epoch: i64,
    pub generate: bool,
    /// The device asked, and the one connection of it the request went to.
    pub to_session: i64,
    pub to_link: u64,
    /// The sessions the request still covers: listed, joined and not yet holding a blob.
    pub devices: Vec<i64>,
}

/// A chat's key hand-over in progress on this node, guarded by the chat's lock.
#[derive(Default)]
pub struct ChatLive {
    pub requests: Vec<KeyRequest>,
    /// Devices that let a request of `failed_epoch` fail: asked again only when no other can be.
    pub failed: Vec<i64>,
    pub failed_epoch: i64,
}

#[derive(Default)]
struct Registry {
    counter: u64,
    /// Per chat, its joined connections in join order.
    rooms: HashMap<i64, Vec<Joined>>,
}

pub struct Rooms {
    registry: Mutex<Registry>,
    /// Where the timers of key requests report (`handover::follow_expiries`).
    expired: mpsc::UnboundedSender<Expired>,
    /// One lock per chat that was ever joined on this node. Entries are never removed, so that
    /// two holders of one chat's lock can never have different locks; an idle one is a few bytes.
    chats: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<ChatLive>>>>,
}

impl Rooms {
    /// The rooms of a node, and the receiving end of its key requests' timers.
    pub fn new() -> (Rooms, mpsc::UnboundedReceiver<Expired>) {
        let (expired, receiver) = mpsc::unbounded_channel();
        let rooms = Rooms {
            registry: Mutex::default(),
            expired,
            chats: Mutex::default(),
        };
        (rooms, receiver)
    }

    pub fn expiries(&self) -> mpsc::UnboundedSender<Expired> {
        self.expired.clone()
    }

    /// Waits for the chat's lock: changes to its room and their events happen under it.
    pub async fn lock(&self, chat_id: i64) -> tokio::sync::OwnedMutexGuard<ChatLive> {
        let lock = {
            let mut chats = self.chats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            chats.entry(chat_id).or_default().clone()
        };
        lock.lock_owned().await
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Plain bookkeeping that no panic can leave half-done.
        self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Rooms the connection is joined to.
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

    /// Rooms a connection of the session is joined to.
    pub fn rooms_of_session(&self, session_id: i64) -> Vec<i64> {
        let registry = self.registry();
        let mut rooms: Vec<i64> = registry
            .rooms
            .iter()
            .filter(|(_, joined)| joined.iter().any(|j| j.session_id == session_id))
            .map(|(chat_id, _)| *chat_id)
            .collect();
        rooms.sort_unstable();
        rooms
    }

    /// Records the device's new public key in the room.
    pub fn set_public_key(&self, chat_id: i64, session_id: i64, key: &str) {
        let key: Arc<str> = key.into();
        let mut registry = self.registry();
        for joined in registry.rooms.get_mut(&chat_id).into_iter().flatten() {
            if joined.session_id == session_id {
                joined.public_key = Some(key.clone());
            }
        }
    }

    /// Adds the connection to the room.
    pub fn join(&self, chat_id: i64, link: &Arc<Link>, device_id: &str, public_key: Option<&str>) -> Entered {
        let session_id = link.session_id;
        let mut registry = self.registry();
        registry.counter += 1;
        let order = registry.counter;
        let joined = registry.rooms.entry(chat_id).or_default();
        if joined.iter().any(|j| j.link.id() == link.id()) {
            return Entered {
                already: true,
                new_device: false,
                new_user: false,
            };
        }
        let new_device = !joined.iter().any(|j| j.session_id == session_id);
        let new_user = !joined.iter().any(|j| j.user_id == link.user_id);
        joined.push(Joined {
            link: link.clone(),
            user_id: link.user_id,
            session_id,
            device_id: device_id.to_owned(),
            public_key: public_key.map(Arc::from),
            order,
        });
        Entered {
            already: false,
            new_device,
            new_user,
        }
    }

    /// Takes the connection out of the room; `None` when it was not joined.
    pub fn leave(&self, chat_id: i64, link: &Link) -> Option<Left> {
        let mut registry = self.registry();
        let joined = registry.rooms.get_mut(&chat_id)?;
        let at = joined.iter().position(|j| j.link.id() == link.id())?;
        let gone = joined.remove(at);
        let left = Left {
            chat_id,
            user_id: gone.user_id,
            session_id: gone.session_id,
            device_id: gone.device_id.clone(),
            device_left: !joined.iter().any(|j| j.session_id == gone.session_id),
            user_left: !joined.iter().any(|j| j.user_id == gone.user_id),
            public_key: gone.public_key,
        };
        if joined.is_empty() {
            registry.rooms.remove(&chat_id);
        }
        Some(left)
    }

    /// Takes the connection out of every room it joined (it closed).
    pub fn leave_all(&self, link: &Link) -> Vec<Left> {
        self.rooms_of(link)
            .into_iter()
            .filter_map(|chat_id| self.leave(chat_id, link))
            .collect()
    }

    /// The devices joined to the room, by join time.
    pub fn devices(&self, chat_id: i64) -> Vec<JoinedDevice> {
        let registry = self.registry();
        let mut devices: Vec<JoinedDevice> = Vec::new();
        for joined in registry.rooms.get(&chat_id).into_iter().flatten() {
            if devices.iter().all(|d| d.session_id != joined.session_id) {
                devices.push(JoinedDevice {
                    user_id: joined.user_id,
                    session_id: joined.session_id,
                    device_id: joined.device_id.clone(),
                    public_key: joined.public_key.clone(),
                    order: joined.order,
                    first: joined.link.clone(),
                });
            }
        }
        devices
    }

    /// Whether a connection of the user is joined to the room.
    pub fn user_present(&self, chat_id: i64, user_id: i64) -> bool {
        self.registry()
            .rooms
            .get(&chat_id)
            .is_some_and(|joined| joined.iter().any(|j| j.user_id == user_id))
    }

    /// Whether a connection of the session is joined to the room on this node.
    pub fn is_joined(&self, chat_id: i64, session_id: i64) -> bool {
        self.registry()
            .rooms
            .get(&chat_id)
            .is_some_and(|joined| joined.iter().any(|j| j.session_id == session_id))
    }

    /// The user's connections joined to the room.
    pub fn links_of_user(&self, chat_id: i64, user_id: i64) -> Vec<Arc<Link>> {
        let registry = self.registry();
        registry
            .rooms
            .get(&chat_id)
            .into_iter()
            .flatten()
            .filter(|j| j.user_id == user_id)
            .map(|j| j.link.clone())
            .collect()
    }

    /// The users present in the room.
    pub fn present_users(&self, chat_id: i64) -> Vec<i64> {
        let registry = self.registry();
        let mut users: Vec<i64> = registry
            .rooms
            .get(&chat_id)
            .into_iter()
            .flatten()
            .map(|j| j.user_id)
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Sends `frame` to every connection of the room and empties it (the chat is gone).
    pub fn close_room(&self, chat_id: i64, frame: &Arc<str>) {
        let gone = self.registry().rooms.remove(&chat_id).unwrap_or_default();
        for joined in gone {
            joined.link.queue(frame);
        }
    }

    /// Whether the connection is joined to the room.
    pub fn has_link(&self, chat_id: i64, link: &Link) -> bool {
        self.registry()
            .rooms
            .get(&chat_id)
            .is_some_and(|joined| joined.iter().any(|j| j.link.id() == link.id()))
    }

    /// Queues `frame` on every connection joined to the room.
    pub fn publish(&self, chat_id: i64, frame: &Arc<str>) {
        self.send_where(chat_id, frame, |_| true);
    }

    /// Queues `frame` on every connection joined to the room but `except`.
    pub fn publish_to_others(&self, chat_id: i64, except: &Link, frame: &Arc<str>) {
        self.send_where(chat_id, frame, |j| j.link.id() != except.id());
    }

    /// Queues `frame` on every joined connection of one device.
    pub fn send_to_device(&self, chat_id: i64, session_id: i64, frame: &Arc<str>) {
        self.send_where(chat_id, frame, |j| j.session_id == session_id);
    }

    fn send_where(&self, chat_id: i64, frame: &Arc<str>, to: impl Fn(&Joined) -> bool) {
        let registry = self.registry();
        for joined in registry.rooms.get(&chat_id).into_iter().flatten().filter(|j| to(j)) {
            joined.link.queue(frame);
        }
    }
}

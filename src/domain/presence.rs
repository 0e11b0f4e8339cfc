//! Presence (80-notifications-portal §2, §3.4): who is online, the realtime connections that make
//! them so, and the events those connections receive.
//!
//! Alone, a node keeps presence itself: all bookkeeping and every event go through one lock, so
//! each connection sees the events in the order they were produced and a snapshot taken at
//! registration is followed by exactly the events after it. With Redis, the node keeps its own
//! connections and users here and reports its users' coming and going to the shared state
//! (`ephemeral::redis_presence`), whose numbered changes every node delivers; a connection drops
//! those its snapshot already holds. Sessions that end and timeouts that start are found by one
//! query after every write (`follow_writes`), so no write path has to remember to close
//! connections, and a write on another node reaches this one through the broadcast invalidation.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, Notify};
use utoipa::ToSchema;

use crate::config::PresenceConfig;
use crate::domain::app::App;
use crate::domain::views::avatar_url;
use crate::ephemeral::{Ephemeral, RemoteEvent};
use crate::error::ApiError;
use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::time::{Timestamp, MICROS_PER_SECOND};
use crate::user_kind::UserKind;

/// Outgoing events a connection may have waiting before it counts as a slow reader (§3.4).
const QUEUE_LEN: usize = 256;
/// How often connections are checked against the database even when no write was seen.
const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// The least time between two checks: under a stream of writes, one check covers all the writes
/// of its interval instead of one check running after another.
const RECHECK_GAP: Duration = Duration::from_millis(250);

/// WebSocket close codes the server chooses (§3.6).
pub mod close {
    pub const SHUTTING_DOWN: u16 = 1001;
    pub const SLOW_READER: u16 = 1013;
    pub const SESSION_ENDED: u16 = 4001;
    pub const TIMED_OUT: u16 = 4003;
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresenceUser {
    pub id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
    pub permission_level: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresenceEntry {
    pub user: PresenceUser,
    /// 12 random characters of `[A-Za-z0-9]`, kept while the user stays online.
    pub session_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalStatus {
    /// Number of online users (the length of `users`).
    pub online: i64,
    /// Online users, earliest to come online first.
    pub users: Vec<PresenceEntry>,
    /// Whether the caller is under a hard mute in force.
    pub muted: bool,
    /// End of the caller's hard mute; `null` when not muted or muted indefinitely.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub muted_until: Option<Timestamp>,
}

/// The portal status as `viewer` sees it at `now`, with profile fields read now.
pub async fn status(app: &App, viewer: &UserRow) -> Result<PortalStatus, sqlx::Error> {
    let mut conn = app.store.acquire().await?;
    let (_, online) = app.presence.current_online().await;
    status_of(&mut conn, online, viewer, app.now()).await
}

async fn status_of(
    conn: &mut Conn,
    online: Vec<(i64, String)>,
    viewer: &UserRow,
    now: i64,
) -> Result<PortalStatus, sqlx::Error> {
    let mute = store::users::restrictions(conn, viewer.id, now).await?.mute;
    let ids: Vec<i64> = online.iter().map(|(id, _)| *id).collect();
    let mut profiles = profiles(conn, &ids).await?;
    // A user deleted during their leave grace has no profile left to show.
    let users: Vec<PresenceEntry> = online
        .into_iter()
        .filter_map(|(id, session_id)| {
            Some(PresenceEntry {
                user: profiles.remove(&id)?,
                session_id,
            })
        })
        .collect();
    Ok(portal_status(users, mute))
}

/// `mute`: the viewer's hard mute in force, if any, with its end when it has one.
fn portal_status(users: Vec<PresenceEntry>, mute: Option<Option<i64>>) -> PortalStatus {
    PortalStatus {
        online: users.len() as i64,
        users,
        muted: mute.is_some(),
        muted_until: mute.flatten().map(Timestamp),
    }
}

/// The presence fields of each of `ids` that still exists.
pub(crate) async fn profiles(conn: &mut Conn, ids: &[i64]) -> Result<HashMap<i64, PresenceUser>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let users = store::users::by_ids(conn, ids).await?;
    let links = store::users::links_of(conn, ids).await?;
    Ok(users
        .into_iter()
        .map(|user| {
            let own: Vec<_> = links.iter().filter(|l| l.user_id == user.id).collect();
            let profile = PresenceUser {
                id: user.id,
                avatar_url: avatar_url(user.avatar_source.as_deref(), &own),
                username: user.username,
                permission_level: user.permission_level.as_i64(),
            };
            (profile.id, profile)
        })
        .collect())
}

/// The shared half of one realtime connection: what the bookkeeping needs to reach it.
pub struct Link {
    id: u64,
    pub user_id: i64,
    /// The database session the connection was opened with.
    pub session_id: i64,
    /// When the connection opened, on the server clock: a timeout that starts later closes it.
    pub opened_at: i64,
    /// A stranger's connection (91-matchmaking §2.3): it never makes its user online and receives
    /// only the events addressed to its user, none of those sent to every connection.
    pub stranger: bool,
    expires_at: AtomicI64,
    close_code: AtomicU16,
    wake: Notify,
    events: mpsc::Sender<Queued>,
    /// The sequence number of the shared presence state the connection's snapshot was taken at:
    /// presence changes numbered up to it are already in the snapshot.
    snapshot_seq: AtomicU64,
}

/// An event waiting for a connection, with its sequence number when it is a shared presence change.
pub struct Queued {
    pub seq: Option<u64>,
    pub frame: Arc<str>,
}

impl Link {
    /// The connection's number on this node.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queues an event for the connection; a full queue closes it as a slow reader (§3.4).
    pub fn queue(&self, frame: &Arc<str>) {
        self.queue_numbered(None, frame);
    }

    fn queue_numbered(&self, seq: Option<u64>, frame: &Arc<str>) {
        let queued = Queued {
            seq,
            frame: frame.clone(),
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.events.try_send(queued) {
            self.close(close::SLOW_READER);
        }
    }

    /// Asks the connection to close with `code`; the first code asked for wins.
    pub fn close(&self, code: u16) {
        let _ = self
            .close_code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.wake.notify_one();
    }

    /// The code the connection was asked to close with, if it was.
    pub fn close_code(&self) -> Option<u16> {
        Some(self.close_code.load(Ordering::Acquire)).filter(|c| *c != 0)
    }

    /// When the session behind the connection expires, on the server clock.
    pub fn expires_at(&self) -> i64 {
        self.expires_at.load(Ordering::Acquire)
    }

    /// Whether the connection's snapshot already holds this event.
    pub fn already_seen(&self, event: &Queued) -> bool {
        event
            .seq
            .is_some_and(|seq| seq <= self.snapshot_seq.load(Ordering::Acquire))
    }

    /// Resolves when `close` was called or the expiry moved.
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    fn set_expires_at(&self, at: i64) {
        if self.expires_at.swap(at, Ordering::AcqRel) != at {
            self.wake.notify_one();
        }
    }
}

/// A registered connection. Dropping it is the disconnect.
pub struct Registration {
    presence: Arc<Presence>,
    pub link: Arc<Link>,
    pub events: mpsc::Receiver<Queued>,
    /// Who was online at the moment of registration (the connection's user included), in order;
    /// every change after it arrives through `events`.
    pub online: Vec<(i64, String)>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.presence.disconnect(&self.link);
    }
}

struct OnlineUser {
    session_id: String,
    /// Position in the order users came online.
    order: u64,
    /// As of the connect or the last write seen, for `user:left`.
    profile: PresenceUser,
    open: usize,
    /// The leave grace running for the user, if any (its number).
    grace: Option<u64>,
}

#[derive(Default)]
struct Hub {
    counter: u64,
    connections: HashMap<u64, Arc<Link>>,
    online: HashMap<i64, OnlineUser>,
    /// The open connections of each stranger, who is never online (for the per-user limit).
    strangers: HashMap<i64, usize>,
    shutting_down: bool,
}

impl Hub {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn online_in_order(&self) -> Vec<(i64, String)> {
        let mut users: Vec<(&i64, &OnlineUser)> = self.online.iter().collect();
        users.sort_by_key(|(_, u)| u.order);
        users.into_iter().map(|(id, u)| (*id, u.session_id.clone())).collect()
    }

    /// Queues `frame` on every connection `to` accepts; a full queue closes its connection.
    fn send(&self, seq: Option<u64>, frame: &Arc<str>, to: impl Fn(&Link) -> bool) {
        for link in self.connections.values().filter(|l| to(l)) {
            link.queue_numbered(seq, frame);
        }
    }

    /// Sends `event` (joined or left) about `user` to every connection but strangers', with the
    /// count as it is now.
    fn announce_about(&self, event: &str, user: &OnlineUser) {
        let frame = frame(
            event,
            json!({"user": user.profile, "session_id": user.session_id, "online": self.online.len()}),
        );
        self.send(None, &frame, |link| !link.stranger);
    }

    fn announce_change(&self, event: &str, user_id: i64) {
        if let Some(user) = self.online.get(&user_id) {
            self.announce_about(event, user);
        }
    }
}

/// One text frame: `{"event": …, "data": …}` (§3.2).
pub fn frame(event: &str, data: impl Serialize) -> Arc<str> {
    json!({"event": event, "data": data}).to_string().into()
}

/// Presence on this node, and its part in the presence shared through Redis when there is one.
pub struct Presence {
    hub: Mutex<Hub>,
    config: PresenceConfig,
    ephemeral: Arc<Ephemeral>,
    /// One user coming online or going offline on this node at a time, so that the shared state
    /// and this node's view change in the same order.
    transitions: tokio::sync::Mutex<()>,
    /// Wakes `shutdown` when the last connection is gone.
    drained: Notify,
}

impl Presence {
    pub fn new(config: PresenceConfig, ephemeral: Arc<Ephemeral>) -> Arc<Presence> {
        Arc::new(Presence {
            hub: Mutex::new(Hub::default()),
            config,
            ephemeral,
            transitions: tokio::sync::Mutex::new(()),
            drained: Notify::new(),
        })
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        // The lock guards plain bookkeeping that no panic can leave half-done.
        self.hub.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Online users in the order they came online, with their presence ids: everywhere, with
    /// the sequence number of the last shared change, or, without the shared state, on this node
    /// (sequence 0).
    async fn current_online(&self) -> (u64, Vec<(i64, String)>) {
        let shared = match self.ephemeral.presence_is_shared() {
            true => self.ephemeral.presence_snapshot().await,
            false => None,
        };
        shared.unwrap_or_else(|| (0, self.hub().online_in_order()))
    }

    /// Registers a connection of `profile`'s user opened with session `session_id` (§3.4), and
    /// says whether the user came online on this node with it (a stranger never does). `announce`:
    /// send `user:joined` from here (the shared state sends it otherwise).
    fn connect(
        self: &Arc<Self>,
        profile: PresenceUser,
        stranger: bool,
        session_id: i64,
        expires_at: i64,
        now: i64,
        announce: bool,
    ) -> Result<(Registration, bool), ApiError> {
        let mut hub = self.hub();
        if hub.shutting_down {
            return Err(ApiError::Unavailable);
        }
        let user_id = profile.id;
        let open = match stranger {
            true => hub.strangers.get(&user_id).copied().unwrap_or(0),
            false => hub.online.get(&user_id).map_or(0, |u| u.open),
        };
        if open as u64 >= self.config.max_connections_per_user {
            return Err(ApiError::TooManyConnections);
        }
        let (sender, events) = mpsc::channel(QUEUE_LEN);
        let link = Arc::new(Link {
            id: hub.next(),
            user_id,
            session_id,
            opened_at: now,
            stranger,
            expires_at: AtomicI64::new(expires_at),
            close_code: AtomicU16::new(0),
            wake: Notify::new(),
            events: sender,
            snapshot_seq: AtomicU64::new(0),
        });
        if stranger {
            *hub.strangers.entry(user_id).or_default() += 1;
            hub.connections.insert(link.id, link.clone());
            let registration = Registration {
                presence: self.clone(),
                link,
                events,
                online: Vec::new(),
            };
            return Ok((registration, false));
        }
        let came_online = !hub.online.contains_key(&user_id);
        match hub.online.get_mut(&user_id) {
            Some(user) => {
                user.open += 1;
                user.grace = None;
                user.profile = profile;
            }
            None => {
                let order = hub.next();
                let user = OnlineUser {
                    session_id: rand::thread_rng()
                        .sample_iter(&Alphanumeric)
                        .take(12)
                        .map(char::from)
                        .collect(),
                    order,
                    profile,
                    open: 1,
                    grace: None,
                };
                hub.online.insert(user_id, user);
                if announce {
                    hub.announce_change("user:joined", user_id);
                }
            }
        }
        hub.connections.insert(link.id, link.clone());
        let registration = Registration {
            presence: self.clone(),
            link,
            events,
            online: hub.online_in_order(),
        };
        Ok((registration, came_online))
    }

    /// The user's presence id and order are those of the shared state.
    fn adopt(&self, user_id: i64, session_id: String, order: u64) {
        if let Some(user) = self.hub().online.get_mut(&user_id) {
            user.session_id = session_id;
            user.order = order;
        }
    }

    /// Brings a user this node hosts online in the shared state, and takes their presence id and
    /// order from it; `false` when the shared state could not be reached.
    async fn report_online(&self, profile: &PresenceUser, sid: &str) -> bool {
        let json = serde_json::to_string(profile).unwrap_or_default();
        match self.ephemeral.presence_come_online(profile.id, sid, &json).await {
            Some((sid, order)) => {
                self.adopt(profile.id, sid, order);
                true
            }
            None => false,
        }
    }

    /// `user:joined` from this node alone, when the shared state could not be reached.
    fn announce_joined_here(&self, user_id: i64) {
        self.hub().announce_change("user:joined", user_id);
    }

    /// Each of `online` with the profile this node keeps for it, `None` for a user it does not host.
    fn known_profiles(&self, online: Vec<(i64, String)>) -> Vec<(i64, String, Option<PresenceUser>)> {
        let hub = self.hub();
        online
            .into_iter()
            .map(|(id, sid)| {
                let profile = hub.online.get(&id).map(|u| u.profile.clone());
                (id, sid, profile)
            })
            .collect()
    }

    fn presence_id(&self, user_id: i64) -> Option<String> {
        self.hub().online.get(&user_id).map(|u| u.session_id.clone())
    }

    fn disconnect(self: &Arc<Self>, link: &Link) {
        if self.ephemeral.presence_is_shared() {
            let ephemeral = self.ephemeral.clone();
            let user_id = link.user_id;
            tokio::spawn(async move { ephemeral.presence_release(user_id).await });
        }
        let mut hub = self.hub();
        hub.connections.remove(&link.id);
        if link.stranger {
            if let Some(open) = hub.strangers.get_mut(&link.user_id) {
                *open -= 1;
                if *open == 0 {
                    hub.strangers.remove(&link.user_id);
                }
            }
            if hub.shutting_down && hub.connections.is_empty() {
                self.drained.notify_one();
            }
            return;
        }
        if hub.shutting_down {
            hub.online.remove(&link.user_id);
            if hub.connections.is_empty() {
                self.drained.notify_one();
            }
            return;
        }
        let grace = hub.next();
        let Some(user) = hub.online.get_mut(&link.user_id) else {
            return;
        };
        user.open -= 1;
        if user.open > 0 {
            return;
        }
        user.grace = Some(grace);
        let presence = self.clone();
        let user_id = link.user_id;
        let wait = Duration::from_secs(self.config.leave_grace_s);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            presence.grace_over(user_id, grace).await;
        });
    }

    /// The user goes offline on this node unless they came back, or left again, during the grace;
    /// with shared presence, offline everywhere when no other node hosts them.
    async fn grace_over(&self, user_id: i64, grace: u64) {
        let _transition = self.transitions.lock().await;
        let shared = self.ephemeral.presence_is_shared();
        let gone = {
            let mut hub = self.hub();
            if hub.online.get(&user_id).is_none_or(|u| u.grace != Some(grace)) {
                return;
            }
            let gone = hub.online.remove(&user_id);
            if let (false, Some(user)) = (shared, &gone) {
                hub.announce_about("user:left", user);
            }
            gone
        };
        let Some(user) = gone.filter(|_| shared) else { return };
        let profile = serde_json::to_string(&user.profile).unwrap_or_default();
        if self.ephemeral.presence_go_offline(user_id, &profile).await.is_none() {
            self.hub().announce_about("user:left", &user);
        }
    }

    /// Queues `frame` for the connections of `user_id` on this node, or for all of them but
    /// strangers' (91-matchmaking §2.3: presence changes, hard mutes and broadcasts are not theirs).
    fn deliver(&self, user_id: Option<i64>, seq: Option<u64>, frame: &Arc<str>) {
        self.hub().send(seq, frame, |link| {
            user_id.map_or(!link.stranger, |id| link.user_id == id)
        });
    }

    fn hosts_connections(&self) -> bool {
        !self.hub().connections.is_empty()
    }

    /// Whether the user has a realtime connection open on this node (a user in their leave grace
    /// here has none).
    pub fn has_open_here(&self, user_id: i64) -> bool {
        let hub = self.hub();
        hub.strangers.contains_key(&user_id) || hub.online.get(&user_id).is_some_and(|u| u.open > 0)
    }

    fn links(&self) -> Vec<Arc<Link>> {
        self.hub().connections.values().cloned().collect()
    }

    fn refresh_profiles(&self, mut profiles: HashMap<i64, PresenceUser>) {
        for (id, user) in self.hub().online.iter_mut() {
            if let Some(profile) = profiles.remove(id) {
                user.profile = profile;
            }
        }
    }

    /// The users this node hosts (connected here, or in their leave grace here), with their
    /// presence ids and open connections here.
    fn hosted(&self) -> Vec<(PresenceUser, String, usize)> {
        let hub = self.hub();
        hub.online
            .values()
            .map(|u| (u.profile.clone(), u.session_id.clone(), u.open))
            .collect()
    }

    /// How long a node may be silent before the others take its users offline: three beats.
    fn node_dead_after_ms(&self) -> i64 {
        3 * 1000 * self.config.node_beat_s.max(1) as i64
    }

    /// Closes every connection with 1001 and waits, up to `limit`, until they are gone; with
    /// shared presence, this node's users then leave it.
    pub async fn shutdown(&self, limit: Duration) {
        self.close_all(limit).await;
        if self.ephemeral.presence_is_shared() {
            let _transition = self.transitions.lock().await;
            self.ephemeral
                .presence_beat(wall_clock_ms(), self.node_dead_after_ms(), Some(&[]))
                .await;
        }
    }

    async fn close_all(&self, limit: Duration) {
        let drained = self.drained.notified();
        {
            let mut hub = self.hub();
            hub.shutting_down = true;
            if hub.connections.is_empty() {
                return;
            }
            for link in hub.connections.values() {
                link.close(close::SHUTTING_DOWN);
            }
        }
        let _ = tokio::time::timeout(limit, drained).await;
    }
}

/// Sends `event` to the open connections of `user_id`, or to every open connection when `None`,
/// on this node and, through Redis, on the others.
pub async fn announce(app: &App, user_id: Option<i64>, event: &str, data: impl Serialize) {
    let frame = frame(event, data);
    app.presence.deliver(user_id, None, &frame);
    app.ephemeral
        .publish_event(RemoteEvent {
            user_id,
            frame: frame.to_string(),
            seq: None,
            room: None,
        })
        .await;
}

/// Delivers the events other nodes announce to this node's connections. Ends with the app.
pub async fn follow_other_nodes(app: Weak<App>) {
    let Some(mut events) = app.upgrade().map(|a| a.ephemeral.remote_events()) else {
        return;
    };
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "realtime events from other nodes were dropped: too many at once"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(app) = app.upgrade() else { return };
        match event.room {
            Some(cast) => app.rooms.deliver(&cast, &event.frame.into()),
            None => app.presence.deliver(event.user_id, event.seq, &event.frame.into()),
        }
    }
}

pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// With Redis: this node's beat every `presence.node_beat_s`, which also takes offline the users
/// of nodes silent for three beats; when the shared state was out of reach before (or at start),
/// this node's users are put back into it first. Ends with the app.
pub async fn keep_shared_presence(app: Weak<App>) {
    let mut was_shared = false;
    loop {
        let Some(app_now) = app.upgrade() else { return };
        let (presence, ephemeral) = (&app_now.presence, &app_now.ephemeral);
        let beat = Duration::from_secs(presence.config.node_beat_s.max(1));
        let shared = ephemeral.presence_is_shared();
        if shared {
            let _transition = presence.transitions.lock().await;
            let hosted = presence.hosted();
            let counts: Vec<(i64, usize)> = hosted.iter().map(|(profile, _, open)| (profile.id, *open)).collect();
            let rejoin = !was_shared;
            let beaten = ephemeral
                .presence_beat(
                    wall_clock_ms(),
                    presence.node_dead_after_ms(),
                    rejoin.then_some(&counts[..]),
                )
                .await
                .is_some();
            if beaten && rejoin {
                for (profile, sid, _) in hosted {
                    presence.report_online(&profile, &sid).await;
                }
            }
            was_shared = beaten;
        } else {
            was_shared = false;
        }
        drop(app_now);
        tokio::time::sleep(beat).await;
    }
}

/// Registers a connection for the session's user; the caller's profile is read now. A stranger's
/// connection counts toward the per-user limit but never brings its user online.
pub async fn connect(app: &App, user: &UserRow, session_id: i64, expires_at: i64) -> Result<Registration, ApiError> {
    let mut conn = app.store.acquire().await?;
    let profile = profiles(&mut conn, &[user.id])
        .await?
        .remove(&user.id)
        .ok_or(ApiError::AuthRequired("Authentication required"))?;
    drop(conn);
    let presence = &app.presence;
    let _transition = presence.transitions.lock().await;
    let shared = app.ephemeral.presence_is_shared();
    // With the shared state the limit counts every node's connections; when it is out of reach,
    // this node's alone (checked by the registration either way).
    let limit = presence.config.max_connections_per_user;
    let counted = match shared {
        true => match app.ephemeral.presence_admit(user.id, limit).await {
            Some(false) => return Err(ApiError::TooManyConnections),
            Some(true) => true,
            None => false,
        },
        false => false,
    };
    let stranger = user.kind == UserKind::Stranger;
    let registered = presence.connect(profile.clone(), stranger, session_id, expires_at, app.now(), !shared);
    if registered.is_err() && counted {
        app.ephemeral.presence_release(user.id).await;
    }
    let (mut registration, came_online) = registered?;
    if !shared || stranger {
        return Ok(registration);
    }
    if came_online {
        let sid = presence.presence_id(profile.id).unwrap_or_default();
        if !presence.report_online(&profile, &sid).await {
            presence.announce_joined_here(profile.id);
        }
    }
    let (seq, online) = presence.current_online().await;
    registration.link.snapshot_seq.store(seq, Ordering::Release);
    registration.online = online;
    Ok(registration)
}

/// The first frame of a connection: its user's `presence:snapshot` (§3.5). The profiles of the
/// users this node hosts are those it keeps for `user:left` (read at their connect and after every
/// write seen), so that a connection opening among thousands reads the store only for its own
/// mute and for users hosted by other nodes.
pub async fn snapshot(app: &App, registration: &mut Registration) -> Result<Arc<str>, ApiError> {
    let online = std::mem::take(&mut registration.online);
    let known = app.presence.known_profiles(online);
    let elsewhere: Vec<i64> = known
        .iter()
        .filter(|(_, _, profile)| profile.is_none())
        .map(|(id, _, _)| *id)
        .collect();
    let mut conn = app.store.acquire().await?;
    let mut read = profiles(&mut conn, &elsewhere).await?;
    let mute = store::users::restrictions(&mut conn, registration.link.user_id, app.now())
        .await?
        .mute;
    drop(conn);
    let users = known
        .into_iter()
        .filter_map(|(id, session_id, profile)| {
            Some(PresenceEntry {
                user: profile.or_else(|| read.remove(&id))?,
                session_id,
            })
        })
        .collect();
    Ok(frame("presence:snapshot", portal_status(users, mute)))
}

/// Checks every connection of this node after each write seen here or broadcast by another node,
/// (`follow_store` finds those of writers it does not hear from), and every `RECHECK_EVERY`, at
/// most once per `RECHECK_GAP`: a connection whose session ended
/// closes with 4001, one whose user's timeout began after it opened closes with 4003, and the
/// profiles of online users are refreshed for `user:left`. Ends with the app.
pub async fn follow_writes(app: Weak<App>) {
    loop {
        let Some(ephemeral) = app.upgrade().map(|a| a.ephemeral.clone()) else {
            return;
        };
        let _ = tokio::time::timeout(RECHECK_EVERY, ephemeral.changes.notified()).await;
        let Some(app) = app.upgrade() else {
            return;
        };
        if let Err(err) = recheck(&app).await {
            tracing::warn!(cause = %err, "realtime connections could not be checked; trying again after the next write");
        }
        drop(app);
        tokio::time::sleep(RECHECK_GAP).await;
    }
}

/// How often a node that does not hear other writers looks for their session ends in the store,
/// and how far back: the look-back covers a transaction that commits late and clocks a few seconds
/// apart.
const STORE_POLL: Duration = Duration::from_secs(1);
const STORE_LOOK_BACK_S: i64 = 10;

/// While this node does not hear other writers (no Redis, or Redis out of reach), looks in the store
/// every `STORE_POLL` for what they may have done to its connections: sessions ended and users
/// acted on by another node or by the command-line tool. Anything new wakes `follow_writes`, so a
/// session ended by any means closes its connections here within two seconds. Ends with the app.
pub async fn follow_store(app: Weak<App>) {
    let mut seen: HashSet<(i64, i64)> = HashSet::new();
    loop {
        tokio::time::sleep(STORE_POLL).await;
        let Some(app) = app.upgrade() else { return };
        if app.ephemeral.hears_other_writers() || !app.presence.hosts_connections() {
            seen.clear();
            continue;
        }
        let since = app.now() - STORE_LOOK_BACK_S * MICROS_PER_SECOND;
        let recent = match app.store.acquire().await {
            Ok(mut conn) => store::sessions::recent_endings(&mut conn, since).await,
            Err(err) => Err(err),
        };
        match recent {
            Ok(recent) => {
                let recent: HashSet<(i64, i64)> = recent.into_iter().collect();
                if !recent.is_subset(&seen) {
                    app.ephemeral.changes.notify_one();
                }
                seen = recent;
            }
            Err(err) => tracing::warn!(cause = %err, "the store could not be searched for session ends"),
        }
    }
}

async fn recheck(app: &App) -> Result<(), sqlx::Error> {
    let links = app.presence.links();
    if links.is_empty() {
        return Ok(());
    }
    let now = app.now();
    let session_ids: Vec<i64> = links.iter().map(|l| l.session_id).collect();
    let mut conn = app.store.acquire().await?;
    let live = store::sessions::live_with_timeout_start(&mut conn, &session_ids, now).await?;
    for link in &links {
        match live.get(&link.session_id) {
            None => link.close(close::SESSION_ENDED),
            Some(&(_, Some(timeout_began))) if timeout_began > link.opened_at => link.close(close::TIMED_OUT),
            Some(&(expires_at, _)) => link.set_expires_at(expires_at),
        }
    }
    let ids: Vec<i64> = app
        .presence
        .hosted()
        .into_iter()
        .map(|(profile, _, _)| profile.id)
        .collect();
    app.presence.refresh_profiles(profiles(&mut conn, &ids).await?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_state() -> Arc<Ephemeral> {
        Arc::new(Ephemeral::new(None, "test:").unwrap())
    }

    fn alice() -> PresenceUser {
        PresenceUser {
            id: 7,
            username: "alice".into(),
            avatar_url: None,
            permission_level: 0,
        }
    }

    #[tokio::test]
    async fn a_connection_that_falls_256_events_behind_is_closed_as_a_slow_reader() {
        let presence = Presence::new(PresenceConfig::default(), local_state());
        let (mut reader, _) = presence.connect(alice(), false, 1, i64::MAX, 0, true).unwrap();
        let (idle, _) = presence.connect(alice(), false, 2, i64::MAX, 0, true).unwrap();
        for n in 0..QUEUE_LEN {
            presence.deliver(Some(7), None, &frame("notification:new", json!({"n": n})));
            reader.events.recv().await.unwrap();
        }
        assert_eq!(idle.link.close_code(), None);
        presence.deliver(None, None, &frame("user:hard_unmuted", json!({"user_id": 7})));
        assert_eq!(idle.link.close_code(), Some(close::SLOW_READER));
        assert_eq!(reader.link.close_code(), None);
    }

    #[tokio::test]
    async fn the_per_user_limit_counts_open_connections_only() {
        let config = PresenceConfig {
            max_connections_per_user: 1,
            ..PresenceConfig::default()
        };
        let presence = Presence::new(config, local_state());
        let (first, came_online) = presence.connect(alice(), false, 1, i64::MAX, 0, true).unwrap();
        assert!(came_online);
        assert!(matches!(
            presence.connect(alice(), false, 1, i64::MAX, 0, true),
            Err(ApiError::TooManyConnections)
        ));
        drop(first);
        let (again, came_online) = presence.connect(alice(), false, 1, i64::MAX, 0, true).unwrap();
        assert!(!came_online, "within the leave grace the user is still online here");
        assert_eq!(again.online.len(), 1);
    }
}

//! Live state that is not worth a database row: rate-limit buckets, login-failure windows, the
//! short-lived caches of sessions and user views with their invalidation, and the relay of realtime
//! events. In-process by default; with `REDIS_URL`, buckets, windows and the online set of presence
//! live in Redis so that every node sees the same, and invalidations and events are broadcast.
//! While Redis is unreachable each node falls back to its own in-process state and reports degraded.

mod cache;
mod local;
mod redis_presence;
mod redis_rooms;
mod redis_state;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use cache::{Audience, BotCache, SessionCache, Ticket, ViewCache};
pub use local::{Decision, LocalState};
use redis_state::RedisState;

/// How long any Redis operation may take before the node falls back to local state.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

pub struct Ephemeral {
    local: LocalState,
    redis: Option<RedisState>,
    pub sessions: SessionCache,
    pub bots: BotCache,
    /// Public cards and own records: small, one per user and audience.
    views: ViewCache,
    /// Staff records with their lists: up to a few hundred kilobytes each, so fewer are kept.
    staff_views: ViewCache,
    /// Signalled whenever the caches are cleared, that is after every write on any node: the
    /// realtime connections follow it to notice ended sessions and started timeouts.
    pub changes: tokio::sync::Notify,
    /// Realtime events published by other nodes, for this node's connections.
    remote_events: tokio::sync::broadcast::Sender<RemoteEvent>,
    /// Tells this node's own published events apart from the others'.
    node_id: String,
    started: Instant,
}

/// A realtime event from another node: its audience (one user, or everyone) and its frame. A
/// presence change from the shared state carries its sequence number instead (and goes to everyone).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteEvent {
    pub user_id: Option<i64>,
    pub frame: String,
    #[serde(skip)]
    pub seq: Option<u64>,
    /// A room event: which of the room's connections it is for (then `user_id` is `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomCast>,
}

/// The audience of a room event from another node (90-chat-transport §9). Connections are named
/// `"<node>:<number>"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum RoomCast {
    /// Every joined connection of the room.
    Room { chat_id: i64 },
    /// The joined connections of one device.
    Device { chat_id: i64, session_id: i64 },
    /// One connection.
    Link { chat_id: i64, link: String },
    /// The user's joined connections, which are out of the room after this frame.
    Remove { chat_id: i64, user_id: i64 },
    /// Every joined connection; the room is empty after this frame.
    Close { chat_id: i64 },
}

#[derive(Deserialize)]
struct PresenceChange {
    seq: u64,
    frame: String,
}

#[derive(Serialize, Deserialize)]
struct Published {
    node: String,
    #[serde(flatten)]
    event: RemoteEvent,
}

/// An attempt counted by `admit_attempt`, which `release_attempt` can take back.
pub struct Attempt {
    key: String,
    id: AttemptId,
}

enum AttemptId {
    Local(u64),
    Shared(String),
}

/// Statistics for `GET /v1/admin/health`.
pub struct CacheStats {
    pub memory_usage_bytes: u64,
    pub total_keys: u64,
    pub connected_clients: u64,
    pub uptime_seconds: u64,
    pub evicted_keys: u64,
    pub hit_rate: f64,
    pub total_commands_processed: u64,
    pub latency_ms: f64,
}

impl Ephemeral {
    /// In-process only, or backed by Redis at `redis_url` (keys under `prefix`).
    pub fn new(redis_url: Option<&str>, prefix: &str) -> Result<Ephemeral, String> {
        let redis = match redis_url.filter(|u| !u.is_empty()) {
            Some(url) => Some(RedisState::new(url, prefix)?),
            None => None,
        };
        Ok(Ephemeral {
            local: LocalState::default(),
            redis,
            sessions: SessionCache::new(100_000),
            bots: BotCache::new(10_000),
            views: ViewCache::new(50_000),
            staff_views: ViewCache::new(256),
            changes: tokio::sync::Notify::new(),
            remote_events: tokio::sync::broadcast::channel(1024).0,
            node_id: uuid::Uuid::new_v4().simple().to_string(),
            started: Instant::now(),
        })
    }

    pub fn uses_redis(&self) -> bool {
        self.redis.is_some()
    }

    /// Whether writes on other nodes and by the command-line tool reach this node now: with Redis
    /// up they are broadcast; otherwise the node has to look for them in the store.
    pub fn hears_other_writers(&self) -> bool {
        self.redis.as_ref().is_some_and(RedisState::is_up)
    }

    /// Starts the background work: keeping the Redis connection up and listening for invalidations.
    pub fn start(self: &std::sync::Arc<Self>) {
        if let Some(redis) = &self.redis {
            redis.start(self.clone());
        }
    }

    /// Takes one token from bucket `key` (capacity `limit`, refilled over `window_s`).
    pub async fn take(&self, key: &str, limit: u32, window_s: i64, now: i64) -> Decision {
        match self.in_redis(|r| r.take(key, limit, window_s, now)).await {
            Some(decision) => decision,
            None => self.local.take(key, limit, window_s, now),
        }
    }

    /// Charges one token to each of `buckets` (key, limit) or to none (`LocalState::take_together`).
    pub async fn take_together(&self, buckets: &[(&str, u32)], window_s: i64, now: i64) -> Result<(), i64> {
        match self.in_redis(|r| r.take_together(buckets, window_s, now)).await {
            Some(decision) => decision,
            None => self.local.take_together(buckets, window_s, now),
        }
    }

    /// Failures of `key` within the window, and when the oldest leaves it.
    pub async fn failures(&self, key: &str, window_s: i64, now: i64) -> (usize, Option<i64>) {
        match self.in_redis(|r| r.failures(key, window_s, now)).await {
            Some(found) => found,
            None => self.local.failures(key, window_s, now),
        }
    }

    /// Counts one attempt of `key` unless `max` are already counted within `window_s`, atomically
    /// on one node or (with Redis) across all of them. `Err` holds the seconds-since-epoch time, in
    /// microseconds, at which the oldest counted attempt leaves the window.
    pub async fn admit_attempt(&self, key: &str, max: usize, window_s: i64, now: i64) -> Result<Attempt, i64> {
        let admitted = match self.in_redis(|r| r.admit_attempt(key, max, window_s, now)).await {
            Some(admitted) => admitted.map(AttemptId::Shared),
            None => self.local.admit_attempt(key, max, window_s, now).map(AttemptId::Local),
        }?;
        Ok(Attempt {
            key: key.to_owned(),
            id: admitted,
        })
    }

    /// Counts `attempt` again as made `now`, so that it stays in the window: how a counted entry
    /// that lasts (an open screen connection) is kept as a lease. Without Redis, or when it does
    /// not answer, an entry counted there simply runs out.
    pub async fn renew_attempt(&self, attempt: &Attempt, window_s: i64, now: i64) {
        match &attempt.id {
            AttemptId::Local(id) => self.local.renew_attempt(&attempt.key, *id, now),
            AttemptId::Shared(member) => {
                self.in_redis(|r| r.renew_attempt(&attempt.key, member, window_s, now))
                    .await;
            }
        }
    }

    /// Takes back an attempt that was not a failure after all.
    pub async fn release_attempt(&self, attempt: &Attempt) {
        match &attempt.id {
            AttemptId::Local(id) => self.local.release_attempt(&attempt.key, *id),
            AttemptId::Shared(member) => {
                self.in_redis(|r| r.release_attempt(&attempt.key, member)).await;
            }
        }
    }

    /// Runs one Redis operation within `REDIS_TIMEOUT`. `None` without Redis, or when the
    /// operation failed or ran out of time, which marks Redis down: the node then works from its
    /// own state until the connection is back.
    async fn in_redis<'a, T, F>(&'a self, operation: impl FnOnce(&'a RedisState) -> F) -> Option<T>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let redis = self.redis.as_ref()?;
        match tokio::time::timeout(REDIS_TIMEOUT, operation(redis)).await {
            Ok(Ok(value)) => Some(value),
            _ => {
                redis.mark_down();
                None
            }
        }
    }

    /// Waits up to `limit` for the Redis connection (the command-line tool publishes right away).
    pub async fn wait_connected(&self, limit: Duration) -> bool {
        let Some(redis) = &self.redis else { return true };
        let deadline = Instant::now() + limit;
        while !redis.is_up() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// The cache that keeps views for `audience`.
    pub fn views(&self, audience: Audience) -> &ViewCache {
        match audience {
            Audience::Public | Audience::Own => &self.views,
            Audience::Admin | Audience::Owner => &self.staff_views,
        }
    }

    /// Drops the cached views of one user, on this node: after a write that only this node's
    /// requests can observe sooner than in a second (the activity time).
    pub fn forget_views_of(&self, user_id: i64) {
        for audience in Audience::ALL {
            self.views(audience).remove(&(user_id, audience));
        }
    }

    /// Drops every cached session, bot and view on this node.
    pub fn clear_local_caches(&self) {
        self.sessions.clear();
        self.bots.clear();
        self.views.clear();
        self.staff_views.clear();
        self.changes.notify_one();
    }

    /// Drops every cached session, bot and view here and, with Redis, on every other node.
    pub async fn invalidate_caches(&self) {
        self.clear_local_caches();
        self.in_redis(|r| r.publish_invalidation()).await;
    }

    /// Sends a realtime event to the other nodes (with Redis; alone, there are none). Delivery is
    /// best effort: while Redis is down the other nodes' connections miss it.
    pub async fn publish_event(&self, event: RemoteEvent) {
        if self.redis.is_none() {
            return;
        }
        let Ok(payload) = serde_json::to_string(&Published {
            node: self.node_id.clone(),
            event,
        }) else {
            return;
        };
        self.in_redis(|r| r.publish_event(&payload)).await;
    }

    /// This node's name among the nodes sharing Redis.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Takes a chat's shared room lock (`None`: Redis is out of reach).
    pub async fn room_lock(&self, chat_id: i64, token: &str, ttl_ms: u64) -> Option<bool> {
        self.in_redis(|r| r.room_lock(chat_id, token, ttl_ms)).await
    }

    pub async fn room_unlock(&self, chat_id: i64, token: &str) {
        self.in_redis(|r| r.room_unlock(chat_id, token)).await;
    }

    /// A chat's shared key-request state: `None` when out of reach, `Some(None)` when there is none.
    pub async fn room_live_load(&self, chat_id: i64) -> Option<Option<String>> {
        self.in_redis(|r| r.room_live_load(chat_id)).await
    }

    pub async fn room_live_save(&self, chat_id: i64, state: Option<&str>) {
        self.in_redis(|r| r.room_live_save(chat_id, state)).await;
    }

    pub async fn room_next_order(&self) -> Option<u64> {
        self.in_redis(|r| r.room_next_order()).await
    }

    pub async fn room_put(&self, chat_id: i64, link: &str, session_id: i64, entry: &str) -> Option<()> {
        self.in_redis(|r| r.room_put(chat_id, &self.node_id, link, session_id, entry))
            .await
    }

    pub async fn room_remove(&self, chat_id: i64, links: &[String], sessions_gone: &[i64]) -> Option<()> {
        self.in_redis(|r| r.room_remove(chat_id, links, sessions_gone)).await
    }

    pub async fn room_entries(&self, chat_id: i64) -> Option<Vec<(String, String)>> {
        self.in_redis(|r| r.room_entries(chat_id)).await
    }

    pub async fn room_drop(&self, chat_id: i64) {
        self.in_redis(|r| r.room_drop(chat_id)).await;
    }

    pub async fn rooms_of_session(&self, session_id: i64) -> Option<Vec<i64>> {
        self.in_redis(|r| r.rooms_of_session(session_id)).await
    }

    /// This node's room beat; the dead nodes handed to this one, with their chats.
    pub async fn room_beat(&self, now_ms: i64, dead_after_ms: i64) -> Option<Vec<(String, Vec<i64>)>> {
        self.in_redis(|r| r.room_beat(&self.node_id, now_ms, dead_after_ms))
            .await
    }

    /// Whether presence is shared with other nodes right now: Redis is configured and answering.
    pub fn presence_is_shared(&self) -> bool {
        self.redis.as_ref().is_some_and(|r| r.is_up())
    }

    /// Brings `user_id` online on this node in the shared state; their presence id and order there.
    pub async fn presence_come_online(&self, user_id: i64, sid: &str, profile: &str) -> Option<(String, u64)> {
        self.in_redis(|r| r.presence_come_online(&self.node_id, user_id, sid, profile))
            .await
    }

    /// Takes `user_id` off this node in the shared state.
    pub async fn presence_go_offline(&self, user_id: i64, profile: &str) -> Option<()> {
        self.in_redis(|r| r.presence_go_offline(&self.node_id, user_id, profile))
            .await
    }

    /// This node's beat; takes dead nodes' users offline and, given the users this node `hosted`
    /// with their open connections here, sets their counts and takes off it the ones the shared
    /// state still has it host.
    pub async fn presence_beat(&self, now_ms: i64, dead_after_ms: i64, hosted: Option<&[(i64, usize)]>) -> Option<()> {
        self.in_redis(|r| r.presence_beat(&self.node_id, now_ms, dead_after_ms, hosted))
            .await
    }

    /// Counts a connection of `user_id` on this node unless they have `limit` open over every node
    /// (`Some(false)`); `None` when the shared state is out of reach.
    pub async fn presence_admit(&self, user_id: i64, limit: u64) -> Option<bool> {
        self.in_redis(|r| r.presence_admit(&self.node_id, user_id, limit)).await
    }

    /// A connection of `user_id` on this node closed.
    pub async fn presence_release(&self, user_id: i64) -> Option<()> {
        self.in_redis(|r| r.presence_release(&self.node_id, user_id)).await
    }

    /// Whether the user has a connection open on another node; `None` without the shared state.
    pub async fn presence_connected_elsewhere(&self, user_id: i64) -> Option<bool> {
        self.in_redis(|r| r.presence_connected_elsewhere(&self.node_id, user_id))
            .await
    }

    /// Of `user_ids`, those with a connection open on any node; `None` without the shared state.
    pub async fn presence_connected_of(&self, user_ids: &[i64]) -> Option<Vec<i64>> {
        self.in_redis(|r| r.presence_connected_of(user_ids)).await
    }

    /// The shared online users in order, with the sequence number of the last presence change.
    pub async fn presence_snapshot(&self) -> Option<(u64, Vec<(i64, String)>)> {
        self.in_redis(|r| r.presence_snapshot()).await
    }

    /// Events other nodes published, from now on.
    pub fn remote_events(&self) -> tokio::sync::broadcast::Receiver<RemoteEvent> {
        self.remote_events.subscribe()
    }

    fn receive_event(&self, payload: &str, presence_change: bool) {
        if presence_change {
            match serde_json::from_str::<PresenceChange>(payload) {
                Ok(change) => {
                    let _ = self.remote_events.send(RemoteEvent {
                        user_id: None,
                        frame: change.frame,
                        seq: Some(change.seq),
                        room: None,
                    });
                }
                Err(err) => tracing::warn!(cause = %err, "unreadable presence change"),
            }
            return;
        }
        match serde_json::from_str::<Published>(payload) {
            Ok(published) if published.node != self.node_id => {
                // No receiver means no realtime connection follows events yet: nothing to do.
                let _ = self.remote_events.send(published.event);
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(cause = %err, "unreadable realtime event from another node"),
        }
    }

    /// The health read: `true` when the live-state store answered within a second.
    pub async fn healthy(&self) -> bool {
        match &self.redis {
            None => true,
            Some(redis) => matches!(
                tokio::time::timeout(Duration::from_secs(1), redis.ping()).await,
                Ok(Ok(()))
            ),
        }
    }

    pub async fn stats(&self) -> Option<CacheStats> {
        let started = Instant::now();
        match &self.redis {
            None => {
                let caches = [
                    (self.sessions.len(), self.sessions.lookups(), self.sessions.hits()),
                    (self.bots.len(), self.bots.lookups(), self.bots.hits()),
                    (self.views.len(), self.views.lookups(), self.views.hits()),
                    (
                        self.staff_views.len(),
                        self.staff_views.lookups(),
                        self.staff_views.hits(),
                    ),
                ];
                let keys = (self.local.key_count() + caches.iter().map(|c| c.0).sum::<usize>()) as u64;
                let lookups: u64 = caches.iter().map(|c| c.1).sum();
                let hits: u64 = caches.iter().map(|c| c.2).sum();
                Some(CacheStats {
                    // A rough per-entry estimate: key text, bucket and map overhead.
                    memory_usage_bytes: keys * 128,
                    total_keys: keys,
                    connected_clients: 1,
                    uptime_seconds: self.started.elapsed().as_secs(),
                    evicted_keys: 0,
                    hit_rate: if lookups == 0 {
                        0.0
                    } else {
                        hits as f64 * 100.0 / lookups as f64
                    },
                    total_commands_processed: self.local.operations(),
                    latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                })
            }
            Some(redis) => {
                let mut stats = tokio::time::timeout(Duration::from_secs(1), redis.stats())
                    .await
                    .ok()?
                    .ok()?;
                stats.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                Some(stats)
            }
        }
    }
}

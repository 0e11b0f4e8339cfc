//! The Redis implementation: token buckets in a Lua script (atomic across nodes), failure windows
//! in sorted sets, and session invalidations and realtime events over pub/sub.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, Script};

use super::redis_presence::PresenceScripts;
use super::redis_rooms::RoomScripts;
use super::{CacheStats, Decision, Ephemeral};
use crate::time::MICROS_PER_SECOND;

/// GCRA (50-bots §5.1) on the stored theoretical arrival time, in whole microseconds, exactly as
/// `LocalState::take`: a changed limit applies from the next request. Answers whether the request
/// was allowed and the tokens left.
const TOKEN_BUCKET: &str = r#"
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local per_request = window / math.max(limit, 1)
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local next_tat = tat + per_request
if next_tat - now > window then
  return {0, tostring((window - (tat - now)) / per_request)}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return {1, tostring((window - (next_tat - now)) / per_request)}
"#;

/// Several GCRA buckets of one window charged together: one token from each when every one has
/// it, none otherwise. Answers whether it was charged, and else the microseconds until it would be.
const TOKEN_BUCKETS_TOGETHER: &str = r#"
local window = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local next_tats = {}
local wait = 0
for i = 1, #KEYS do
  local per_request = window / math.max(tonumber(ARGV[2 + i]), 1)
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then tat = now end
  next_tats[i] = tat + per_request
  wait = math.max(wait, next_tats[i] - now - window)
end
if wait > 0 then return {0, tostring(wait)} end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.0f', next_tats[i]), 'PX', math.ceil((next_tats[i] - now) / 1000) + 1000)
end
return {1, '0'}
"#;

/// The verify lockout's check and count in one step (10-auth §3.5): drop what left the window,
/// refuse at `max` with the oldest's time, else add this attempt.
const ADMIT_ATTEMPT: &str = r#"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2])}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, 0}
"#;

pub struct RedisState {
    client: Client,
    prefix: String,
    manager: RwLock<Option<ConnectionManager>>,
    up: AtomicBool,
    script: Script,
    together: Script,
    attempts: Script,
    pub(super) presence: PresenceScripts,
    pub(super) rooms: RoomScripts,
}

type Result<T> = redis::RedisResult<T>;

impl RedisState {
    pub fn new(url: &str, prefix: &str) -> std::result::Result<RedisState, String> {
        let client = Client::open(url).map_err(|e| format!("REDIS_URL is not usable: {e}"))?;
        Ok(RedisState {
            client,
            prefix: prefix.to_owned(),
            manager: RwLock::new(None),
            up: AtomicBool::new(false),
            script: Script::new(TOKEN_BUCKET),
            together: Script::new(TOKEN_BUCKETS_TOGETHER),
            attempts: Script::new(ADMIT_ATTEMPT),
            presence: PresenceScripts::new(),
            rooms: RoomScripts::new(),
        })
    }

    pub(super) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn channel(&self) -> String {
        self.key("invalidate")
    }

    fn events_channel(&self) -> String {
        self.key("events")
    }

    pub(super) fn presence_channel(&self) -> String {
        self.key("presence")
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn connection(&self) -> Result<ConnectionManager> {
        let guard = self.manager.read().unwrap_or_else(|p| p.into_inner());
        match (&*guard, self.up.load(Ordering::Relaxed)) {
            (Some(manager), true) => Ok(manager.clone()),
            _ => Err(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "redis is not connected",
            ))),
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn mark_down(&self) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!("redis unreachable: falling back to per-node live state");
        }
    }

    /// Keeps a connection up and the invalidation subscription alive, retrying every second.
    pub fn start(&self, ephemeral: Arc<Ephemeral>) {
        tokio::spawn(async move {
            let Some(redis) = ephemeral.redis.as_ref() else { return };
            loop {
                if let Err(err) = redis.connect_and_listen(&ephemeral).await {
                    redis.mark_down();
                    tracing::debug!(cause = %err, "redis connection attempt failed");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    async fn connect_and_listen(&self, ephemeral: &Ephemeral) -> Result<()> {
        let timeout = Duration::from_secs(1);
        let connect = async {
            let manager = self.client.get_connection_manager().await?;
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub
                .subscribe(&[self.channel(), self.events_channel(), self.presence_channel()])
                .await?;
            Ok::<_, redis::RedisError>((manager, pubsub))
        };
        let (manager, pubsub) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::IoError, "connect timed out")))??;
        *self.manager.write().unwrap_or_else(|p| p.into_inner()) = Some(manager);
        self.up.store(true, Ordering::Relaxed);
        // Whatever was cached while we were cut off may have missed an invalidation.
        ephemeral.clear_local_caches();
        tracing::info!("redis connected");
        let (events_channel, presence_channel) = (self.events_channel(), self.presence_channel());
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let channel = message.get_channel_name();
            if channel == events_channel || channel == presence_channel {
                if let Ok(payload) = message.get_payload::<String>() {
                    ephemeral.receive_event(&payload, channel == presence_channel);
                }
            } else {
                ephemeral.clear_local_caches();
            }
        }
        Err(redis::RedisError::from((
            redis::ErrorKind::IoError,
            "subscription ended",
        )))
    }

    pub async fn take(&self, key: &str, limit: u32, window_s: i64, now: i64) -> Result<Decision> {
        let mut conn = self.connection()?;
        let (allowed, tokens): (i64, String) = self
            .script
            .key(self.key(&format!("gcra:{key}")))
            .arg(limit)
            .arg(window_s * MICROS_PER_SECOND)
            .arg(now)
            .invoke_async(&mut conn)
            .await?;
        let tokens: f64 = tokens.parse().unwrap_or(0.0);
        Ok(Decision::from_tokens(allowed == 1, tokens, limit, window_s))
    }

    /// `LocalState::take_together` across nodes.
    pub async fn take_together(
        &self,
        buckets: &[(&str, u32)],
        window_s: i64,
        now: i64,
    ) -> Result<std::result::Result<(), i64>> {
        let mut conn = self.connection()?;
        let mut invocation = self.together.prepare_invoke();
        for (key, _) in buckets {
            invocation.key(self.key(&format!("gcra:{key}")));
        }
        invocation.arg(window_s * MICROS_PER_SECOND).arg(now);
        for (_, limit) in buckets {
            invocation.arg(*limit);
        }
        let (charged, wait): (i64, String) = invocation.invoke_async(&mut conn).await?;
        let wait = wait.parse::<f64>().unwrap_or(0.0).ceil() as i64;
        Ok(if charged == 1 { Ok(()) } else { Err(wait) })
    }

    pub async fn failures(&self, key: &str, window_s: i64, now: i64) -> Result<(usize, Option<i64>)> {
        let mut conn = self.connection()?;
        let key = self.key(&format!("fail:{key}"));
        let window = window_s * MICROS_PER_SECOND;
        let (_, count, oldest): ((), usize, Vec<(String, i64)>) = redis::pipe()
            .atomic()
            .zrembyscore(&key, "-inf", now - window)
            .zcard(&key)
            .zrange_withscores(&key, 0, 0)
            .query_async(&mut conn)
            .await?;
        Ok((count, oldest.first().map(|(_, at)| at + window)))
    }

    /// Counts an attempt unless `max` are counted within the window, in one script: of any number
    /// sent at once to any nodes, at most `max` pass. `Ok` holds the attempt's member.
    pub async fn admit_attempt(
        &self,
        key: &str,
        max: usize,
        window_s: i64,
        now: i64,
    ) -> Result<std::result::Result<String, i64>> {
        let mut conn = self.connection()?;
        let member = format!("{now}:{}", uuid::Uuid::new_v4().simple());
        let window = window_s * MICROS_PER_SECOND;
        let (admitted, oldest): (i64, i64) = self
            .attempts
            .key(self.key(&format!("fail:{key}")))
            .arg(now)
            .arg(window)
            .arg(max)
            .arg(&member)
            .arg(window_s * 1000 + 1000)
            .invoke_async(&mut conn)
            .await?;
        Ok(if admitted == 1 {
            Ok(member)
        } else {
            Err(oldest + window)
        })
    }

    /// `ZADD XX`: only a member still counted is renewed; one that ran out stays out. The key
    /// lives as long as its newest member's window.
    pub async fn renew_attempt(&self, key: &str, member: &str, window_s: i64, now: i64) -> Result<()> {
        let mut conn = self.connection()?;
        let key = self.key(&format!("fail:{key}"));
        redis::pipe()
            .cmd("ZADD")
            .arg(&key)
            .arg("XX")
            .arg(now)
            .arg(member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(window_s * 1000 + 1000)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
    }

    pub async fn release_attempt(&self, key: &str, member: &str) -> Result<()> {
        let mut conn = self.connection()?;
        conn.zrem::<_, _, ()>(self.key(&format!("fail:{key}")), member).await
    }

    pub async fn publish_invalidation(&self) -> Result<()> {
        let mut conn = self.connection()?;
        conn.publish::<_, _, ()>(self.channel(), "sessions").await
    }

    pub async fn publish_event(&self, payload: &str) -> Result<()> {
        let mut conn = self.connection()?;
        conn.publish::<_, _, ()>(self.events_channel(), payload).await
    }

    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.connection()?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ())
    }

    pub async fn stats(&self) -> Result<CacheStats> {
        let mut conn = self.connection()?;
        let info: String = redis::cmd("INFO").query_async(&mut conn).await?;
        let keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
        let field = |name: &str| -> u64 {
            info.lines()
                .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let (hits, misses) = (field("keyspace_hits"), field("keyspace_misses"));
        Ok(CacheStats {
            memory_usage_bytes: field("used_memory"),
            total_keys: keys,
            connected_clients: field("connected_clients"),
            uptime_seconds: field("uptime_in_seconds"),
            evicted_keys: field("evicted_keys"),
            hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 * 100.0 / (hits + misses) as f64
            },
            total_commands_processed: field("total_commands_processed"),
            latency_ms: 0.0,
        })
    }
}

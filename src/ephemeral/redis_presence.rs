//! Presence shared by the nodes (80-notifications-portal §2): who is online anywhere, each user's
//! presence id and their order of coming online, kept in Redis by Lua scripts so that every change
//! and its event are one atomic step.
//!
//! A node reports users, not connections: a user comes online on a node with their first connection
//! there and leaves it when the node's leave grace ends. The user is online while any node hosts
//! them. `user:joined` and `user:left` are published on the presence channel with a sequence
//! number from the same counter that the snapshot reports, so a connection can drop the events its
//! snapshot already holds. Nodes beat every few seconds; the users of a node that stopped beating are
//! taken offline by the next beat of any other node.
//!
//! The per-user limit of open connections counts every node's: a node admits a connection only while
//! the user's count over all nodes is under it, and the count of a node that leaves a user (at the
//! end of its grace, or when it died or stopped) goes with it.
//!
//! Keys (under the prefix): `presence:users` (hash: user id → `{"sid","order","user"}`),
//! `presence:on:<user>` (set of nodes hosting the user), `presence:hosted:<node>` (set of users),
//! `presence:conns:<user>` (hash: node → the user's open connections there), `presence:beats`
//! (sorted set: node → last beat in ms), `presence:seq` (counter). The scripts name the per-user and
//! per-node keys themselves, which a single Redis allows (Redis Cluster would not).

use redis::Script;

use super::redis_state::RedisState;

/// Takes `uid` off `node`; when no node hosts them any more, they go offline and `user:left` is
/// published with `fresh` (their profile now) or, when empty, the profile stored at their join.
const LEAVE: &str = r#"
local function leave(prefix, channel, uid, node, fresh)
  local users = prefix .. 'presence:users'
  local on = prefix .. 'presence:on:' .. uid
  redis.call('SREM', on, node)
  redis.call('SREM', prefix .. 'presence:hosted:' .. node, uid)
  redis.call('HDEL', prefix .. 'presence:conns:' .. uid, node)
  if redis.call('SCARD', on) > 0 then return 0 end
  local entry = redis.call('HGET', users, uid)
  if not entry then return 0 end
  redis.call('HDEL', users, uid)
  local e = cjson.decode(entry)
  local user = e.user
  if fresh ~= '' then user = fresh end
  local online = redis.call('HLEN', users)
  local seq = redis.call('INCR', prefix .. 'presence:seq')
  local frame = '{"event":"user:left","data":{"user":' .. user .. ',"session_id":"' .. e.sid ..
    '","online":' .. online .. '}}'
  redis.call('PUBLISH', channel, cjson.encode({seq = seq, frame = frame}))
  return 1
end
"#;

/// ARGV: prefix, channel, user id, node, presence id to use if the user is new, profile JSON.
/// Returns the user's presence id and order.
const COME_ONLINE: &str = r#"
local prefix, channel, uid, node, sid, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local users = prefix .. 'presence:users'
redis.call('SADD', prefix .. 'presence:on:' .. uid, node)
redis.call('SADD', prefix .. 'presence:hosted:' .. node, uid)
local entry = redis.call('HGET', users, uid)
if entry then
  local e = cjson.decode(entry)
  return {e.sid, tostring(e.order)}
end
local order = redis.call('INCR', prefix .. 'presence:seq')
redis.call('HSET', users, uid, cjson.encode({sid = sid, order = order, user = user}))
local online = redis.call('HLEN', users)
local seq = redis.call('INCR', prefix .. 'presence:seq')
local frame = '{"event":"user:joined","data":{"user":' .. user .. ',"session_id":"' .. sid ..
  '","online":' .. online .. '}}'
redis.call('PUBLISH', channel, cjson.encode({seq = seq, frame = frame}))
return {sid, tostring(order)}
"#;

/// ARGV: prefix, channel, user id, node, profile JSON.
const GO_OFFLINE: &str = "return leave(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])";

/// ARGV: prefix, channel, node, now (ms), silence after which a node is dead (ms), and either ``
/// or a JSON array of `[user id, open connections]` of the users this node hosts: their counts are
/// set to those, and the ones the shared state has it host beyond them are taken off it (after Redis
/// was out of reach, or `[]` when the node stops). Records the node's beat.
const BEAT: &str = r#"
local prefix, channel, node, now, dead_after = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local beats = prefix .. 'presence:beats'
redis.call('ZADD', beats, now, node)
local gone = redis.call('ZRANGEBYSCORE', beats, '-inf', now - dead_after)
for _, dead in ipairs(gone) do
  for _, uid in ipairs(redis.call('SMEMBERS', prefix .. 'presence:hosted:' .. dead)) do
    leave(prefix, channel, uid, dead, '')
  end
  redis.call('ZREM', beats, dead)
end
if ARGV[6] ~= '' then
  local keep = {}
  for _, hosted in ipairs(cjson.decode(ARGV[6])) do
    local uid, open = tostring(hosted[1]), hosted[2]
    keep[uid] = true
    local conns = prefix .. 'presence:conns:' .. uid
    if open > 0 then redis.call('HSET', conns, node, open) else redis.call('HDEL', conns, node) end
  end
  for _, uid in ipairs(redis.call('SMEMBERS', prefix .. 'presence:hosted:' .. node)) do
    if not keep[uid] then leave(prefix, channel, uid, node, '') end
  end
end
return #gone
"#;

/// ARGV: prefix, user id, node, limit. Counts a connection of the user on the node unless they have
/// `limit` open over all nodes; 1 when counted.
const ADMIT: &str = r#"
local conns = ARGV[1] .. 'presence:conns:' .. ARGV[2]
local open = 0
for _, n in ipairs(redis.call('HVALS', conns)) do open = open + tonumber(n) end
if open >= tonumber(ARGV[4]) then return 0 end
redis.call('HINCRBY', conns, ARGV[3], 1)
return 1
"#;

/// ARGV: prefix, user id, node. One connection of the user on the node closed.
const RELEASE: &str = r#"
local conns = ARGV[1] .. 'presence:conns:' .. ARGV[2]
if redis.call('HINCRBY', conns, ARGV[3], -1) <= 0 then redis.call('HDEL', conns, ARGV[3]) end
return 0
"#;

/// Returns the current sequence number and every online user's entry.
const SNAPSHOT: &str = r#"
return {redis.call('GET', ARGV[1] .. 'presence:seq') or '0', redis.call('HGETALL', ARGV[1] .. 'presence:users')}
"#;

pub(super) struct PresenceScripts {
    come_online: Script,
    go_offline: Script,
    beat: Script,
    admit: Script,
    release: Script,
    snapshot: Script,
}

impl PresenceScripts {
    pub(super) fn new() -> PresenceScripts {
        PresenceScripts {
            come_online: Script::new(COME_ONLINE),
            go_offline: Script::new(&format!("{LEAVE}\n{GO_OFFLINE}")),
            beat: Script::new(&format!("{LEAVE}\n{BEAT}")),
            admit: Script::new(ADMIT),
            release: Script::new(RELEASE),
            snapshot: Script::new(SNAPSHOT),
        }
    }
}

/// One online user as the shared state holds them.
#[derive(serde::Deserialize)]
struct Entry {
    sid: String,
    order: u64,
}

type Result<T> = redis::RedisResult<T>;

impl RedisState {
    pub(super) async fn presence_come_online(
        &self,
        node: &str,
        user_id: i64,
        sid: &str,
        profile: &str,
    ) -> Result<(String, u64)> {
        let mut conn = self.connection()?;
        let (sid, order): (String, String) = self
            .presence
            .come_online
            .arg(self.prefix())
            .arg(self.presence_channel())
            .arg(user_id)
            .arg(node)
            .arg(sid)
            .arg(profile)
            .invoke_async(&mut conn)
            .await?;
        Ok((sid, order.parse().unwrap_or(0)))
    }

    pub(super) async fn presence_go_offline(&self, node: &str, user_id: i64, profile: &str) -> Result<()> {
        let mut conn = self.connection()?;
        self.presence
            .go_offline
            .arg(self.prefix())
            .arg(self.presence_channel())
            .arg(user_id)
            .arg(node)
            .arg(profile)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
    }

    pub(super) async fn presence_beat(
        &self,
        node: &str,
        now_ms: i64,
        dead_after_ms: i64,
        hosted: Option<&[(i64, usize)]>,
    ) -> Result<()> {
        let hosted = hosted.map_or_else(String::new, |ids| serde_json::to_string(ids).unwrap_or_default());
        let mut conn = self.connection()?;
        self.presence
            .beat
            .arg(self.prefix())
            .arg(self.presence_channel())
            .arg(node)
            .arg(now_ms)
            .arg(dead_after_ms)
            .arg(hosted)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
    }

    pub(super) async fn presence_admit(&self, node: &str, user_id: i64, limit: u64) -> Result<bool> {
        let mut conn = self.connection()?;
        let counted: i64 = self
            .presence
            .admit
            .arg(self.prefix())
            .arg(user_id)
            .arg(node)
            .arg(limit)
            .invoke_async(&mut conn)
            .await?;
        Ok(counted == 1)
    }

    pub(super) async fn presence_release(&self, node: &str, user_id: i64) -> Result<()> {
        let mut conn = self.connection()?;
        self.presence
            .release
            .arg(self.prefix())
            .arg(user_id)
            .arg(node)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
    }

    /// Whether the user has a connection open on a node other than `node`.
    pub(super) async fn presence_connected_elsewhere(&self, node: &str, user_id: i64) -> Result<bool> {
        let mut conn = self.connection()?;
        let open: std::collections::HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(format!("{}presence:conns:{user_id}", self.prefix()))
            .query_async(&mut conn)
            .await?;
        Ok(open.iter().any(|(other, count)| other != node && *count > 0))
    }

    /// Of `user_ids`, those with a connection open on some node, in one round trip.
    pub(super) async fn presence_connected_of(&self, user_ids: &[i64]) -> Result<Vec<i64>> {
        let mut conn = self.connection()?;
        let mut pipe = redis::pipe();
        for user_id in user_ids {
            pipe.cmd("HVALS")
                .arg(format!("{}presence:conns:{user_id}", self.prefix()));
        }
        let counts: Vec<Vec<i64>> = pipe.query_async(&mut conn).await?;
        Ok(user_ids
            .iter()
            .zip(counts)
            .filter(|(_, open)| open.iter().any(|count| *count > 0))
            .map(|(user_id, _)| *user_id)
            .collect())
    }

    /// The sequence number of the last event, and the online users (id, presence id) in order.
    pub(super) async fn presence_snapshot(&self) -> Result<(u64, Vec<(i64, String)>)> {
        let mut conn = self.connection()?;
        let (seq, flat): (String, Vec<String>) = self
            .presence
            .snapshot
            .arg(self.prefix())
            .invoke_async(&mut conn)
            .await?;
        let mut users: Vec<(u64, i64, String)> = flat
            .chunks(2)
            .filter_map(|pair| {
                let entry: Entry = serde_json::from_str(pair.get(1)?).ok()?;
                Some((entry.order, pair[0].parse().ok()?, entry.sid))
            })
            .collect();
        users.sort_unstable_by_key(|(order, _, _)| *order);
        Ok((
            seq.parse().unwrap_or(0),
            users.into_iter().map(|(_, id, sid)| (id, sid)).collect(),
        ))
    }
}

//! Chat rooms shared by the nodes (90-chat-transport §9): the registry of joined connections of
//! every node, the per-chat lock under which room changes and key decisions are made, the state of
//! outstanding key requests, and the nodes' beats that let the others clean up after one that died.
//!
//! Keys under the prefix: `room:<chat>` (hash: connection "node:id" → entry JSON),
//! `room:order` (counter of joins), `room:node:<node>` (set of chats with a connection of the
//! node), `room:session:<session>` (set of chats with a connection of the session),
//! `room:lock:<chat>` (lock token), `room:live:<chat>` (outstanding key requests, JSON),
//! `room:beats` (sorted set: node → last beat in ms).

use redis::Script;

use super::redis_state::RedisState;

type Result<T> = redis::RedisResult<T>;

/// Deletes the lock only when it is still the caller's.
const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

pub(super) struct RoomScripts {
    unlock: Script,
}

impl RoomScripts {
    pub(super) fn new() -> RoomScripts {
        RoomScripts {
            unlock: Script::new(UNLOCK),
        }
    }
}

impl RedisState {
    fn room_key(&self, chat_id: i64) -> String {
        self.key(&format!("room:{chat_id}"))
    }

    /// Takes the chat's lock for `ttl_ms` unless another holder has it; `true` when taken.
    pub(super) async fn room_lock(&self, chat_id: i64, token: &str, ttl_ms: u64) -> Result<bool> {
        let mut conn = self.connection()?;
        let taken: Option<String> = redis::cmd("SET")
            .arg(self.key(&format!("room:lock:{chat_id}")))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut conn)
            .await?;
        Ok(taken.is_some())
    }

    pub(super) async fn room_unlock(&self, chat_id: i64, token: &str) -> Result<()> {
        let mut conn = self.connection()?;
        self.rooms
            .unlock
            .key(self.key(&format!("room:lock:{chat_id}")))
            .arg(token)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
    }

    pub(super) async fn room_live_load(&self, chat_id: i64) -> Result<Option<String>> {
        let mut conn = self.connection()?;
        redis::cmd("GET")
            .arg(self.key(&format!("room:live:{chat_id}")))
            .query_async(&mut conn)
            .await
    }

    /// Stores the chat's key-request state; an empty one is deleted.
    pub(super) async fn room_live_save(&self, chat_id: i64, state: Option<&str>) -> Result<()> {
        let mut conn = self.connection()?;
        let key = self.key(&format!("room:live:{chat_id}"));
        match state {
            Some(state) => redis::cmd("SET").arg(key).arg(state).query_async(&mut conn).await,
            None => redis::cmd("DEL")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
                .map(|_| ()),
        }
    }

    /// The next position in the order of joins.
    pub(super) async fn room_next_order(&self) -> Result<u64> {
        let mut conn = self.connection()?;
        redis::cmd("INCR")
            .arg(self.key("room:order"))
            .query_async(&mut conn)
            .await
    }

    /// Records a joined connection.
    pub(super) async fn room_put(
        &self,
        chat_id: i64,
        node: &str,
        link: &str,
        session_id: i64,
        entry: &str,
    ) -> Result<()> {
        let mut conn = self.connection()?;
        redis::pipe()
            .atomic()
            .hset(self.room_key(chat_id), link, entry)
            .sadd(self.key(&format!("room:node:{node}")), chat_id)
            .sadd(self.key(&format!("room:session:{session_id}")), chat_id)
            .query_async(&mut conn)
            .await
    }

    /// Forgets joined connections of the chat; `sessions_gone` are sessions left without one there.
    pub(super) async fn room_remove(&self, chat_id: i64, links: &[String], sessions_gone: &[i64]) -> Result<()> {
        let mut conn = self.connection()?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        if !links.is_empty() {
            pipe.hdel(self.room_key(chat_id), links).ignore();
        }
        for session_id in sessions_gone {
            pipe.srem(self.key(&format!("room:session:{session_id}")), chat_id)
                .ignore();
        }
        pipe.query_async(&mut conn).await
    }

    /// Every entry of the chat's room, as (connection, entry JSON).
    pub(super) async fn room_entries(&self, chat_id: i64) -> Result<Vec<(String, String)>> {
        let mut conn = self.connection()?;
        redis::cmd("HGETALL")
            .arg(self.room_key(chat_id))
            .query_async(&mut conn)
            .await
    }

    /// Forgets the whole room (the chat is gone).
    pub(super) async fn room_drop(&self, chat_id: i64) -> Result<()> {
        let mut conn = self.connection()?;
        redis::pipe()
            .del(self.room_key(chat_id))
            .del(self.key(&format!("room:live:{chat_id}")))
            .query_async(&mut conn)
            .await
    }

    pub(super) async fn rooms_of_session(&self, session_id: i64) -> Result<Vec<i64>> {
        let mut conn = self.connection()?;
        redis::cmd("SMEMBERS")
            .arg(self.key(&format!("room:session:{session_id}")))
            .query_async(&mut conn)
            .await
    }

    /// Records the node's beat; returns the nodes silent for `dead_after_ms` with the chats they
    /// had connections in, and forgets them (each dead node is handed to one caller only).
    pub(super) async fn room_beat(
        &self,
        node: &str,
        now_ms: i64,
        dead_after_ms: i64,
    ) -> Result<Vec<(String, Vec<i64>)>> {
        let mut conn = self.connection()?;
        let beats = self.key("room:beats");
        let _: () = redis::cmd("ZADD")
            .arg(&beats)
            .arg(now_ms)
            .arg(node)
            .query_async(&mut conn)
            .await?;
        let dead: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&beats)
            .arg("-inf")
            .arg(now_ms - dead_after_ms)
            .query_async(&mut conn)
            .await?;
        let mut handed = Vec::new();
        for gone in dead {
            let removed: i64 = redis::cmd("ZREM").arg(&beats).arg(&gone).query_async(&mut conn).await?;
            if removed == 0 {
                continue;
            }
            let chats_key = self.key(&format!("room:node:{gone}"));
            let chats: Vec<i64> = redis::cmd("SMEMBERS").arg(&chats_key).query_async(&mut conn).await?;
            let _: i64 = redis::cmd("DEL").arg(&chats_key).query_async(&mut conn).await?;
            handed.push((gone, chats));
        }
        Ok(handed)
    }
}

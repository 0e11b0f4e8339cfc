//! Matchmaking (91-matchmaking): callers queued on interest tags, paired into direct chats that
//! they talk in end to end encrypted, and the life of those chats — driven as clients drive it,
//! over HTTP and the realtime WebSocket, with the deadlines moved by the test clock and the sweep
//! run as each node runs it every second.

mod direct;
mod nodes;
mod pairing;
mod races;
mod safety;
mod staff;

use crate::common::e2e::Device;
use crate::common::{keys, People, TestApp, TestResponse, SECOND};
use portal::domain::matchmaking::liveness;
use portal::store::match_reports::{NewReport, ReportParty};
use serde_json::{json, Value};

/// The fields of a `MatchStatus` (§6.1), sorted.
const STATUS_FIELDS: [&str; 6] = ["archived", "chats", "expires_at", "interests", "state", "token"];
/// The fields of an `ActiveDirectChat` (§6.3), sorted.
const DIRECT_CHAT_FIELDS: [&str; 6] = [
    "chat_id",
    "expires_at",
    "matched_on",
    "peer",
    "peer_grace_until_ms",
    "token",
];
/// The fields of a `MatchPeer` (§6.2), sorted.
const PEER_FIELDS: [&str; 4] = ["avatar_url", "country_code", "is_stranger", "username"];

async fn enqueue(t: &TestApp, token: &str, interests: Value) -> TestResponse {
    t.post("/v1/portal/match")
        .cookie(token)
        .json(json!({ "interests": interests }))
        .send()
        .await
}

async fn status(t: &TestApp, token: &str) -> Value {
    let r = t.get("/v1/portal/match/status").cookie(token).send().await;
    let body = r.assert_ok().clone();
    assert_eq!(keys(&body), STATUS_FIELDS, "{body}");
    body
}

/// The one direct chat of a `matched` status, checked field by field.
fn only_chat(status: &Value) -> &Value {
    let chats = status["chats"].as_array().expect("chats");
    assert_eq!(chats.len(), 1, "{status}");
    let chat = &chats[0];
    assert_eq!(keys(chat), DIRECT_CHAT_FIELDS, "{chat}");
    assert_eq!(keys(&chat["peer"]), PEER_FIELDS, "{chat}");
    chat
}

/// Runs one pass of the timed transitions, as every node does each second.
async fn sweep(t: &TestApp) {
    liveness::sweep(&t.app).await.expect("sweep");
}

/// How the direct chat ended, as the store records it (`None` while active).
async fn end_reason(t: &TestApp, chat_id: i64) -> Option<String> {
    let (reason,): (Option<String>,) = sqlx::query_as("SELECT end_reason FROM chats WHERE id = $1")
        .bind(chat_id)
        .fetch_one(&mut *t.conn().await)
        .await
        .unwrap();
    reason
}

/// Waits until the server has recorded the user as away (the close of their last connection is
/// counted after the socket is gone).
async fn recorded_away(t: &TestApp, user_id: i64) {
    for _ in 0..200 {
        let away = t
            .count(&format!(
                "SELECT COUNT(*) FROM direct_participants WHERE user_id = {user_id} AND away_since IS NOT NULL"
            ))
            .await
            + t.count(&format!(
                "SELECT COUNT(*) FROM match_entries WHERE user_id = {user_id} AND away_since IS NOT NULL"
            ))
            .await;
        if away > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("user {user_id} was never recorded away");
}

/// Alice and Bob, each with a registered device and an open connection, paired on `music`:
/// (chat id, Alice's device, Bob's device). Alice waited; Bob's enqueue made the pair.
async fn paired<'a>(t: &'a TestApp, p: &People<'a>, addr: std::net::SocketAddr) -> (i64, Device<'a>, Device<'a>) {
    let (alice_id, alice_token) = p.at("alice", 0).await;
    let (bob_id, bob_token) = p.at("bob", 0).await;
    let alice = Device::ready(t, addr, alice_id, &alice_token).await;
    let bob = Device::ready(t, addr, bob_id, &bob_token).await;
    assert_eq!(
        enqueue(t, &alice_token, json!(["music"])).await.assert_ok()["state"],
        "searching"
    );
    let r = enqueue(t, &bob_token, json!(["music"])).await;
    assert_eq!(r.assert_ok()["state"], "matched");
    let chat_id = only_chat(r.assert_ok())["chat_id"].as_i64().unwrap();
    (chat_id, alice, bob)
}

// Fixtures of the staff tests, written in the store as matchmaking writes them.

/// The address group every fixture stranger was created from: it must never reach staff.
pub const STRANGER_GROUP: &str = "198.51.100.77";

/// A stranger with a live session: (id, token): a logged-in user whose kind is then changed in the
/// store, before the session's first request.
pub async fn stranger(people: &People<'_>, username: &str) -> (i64, String) {
    let (id, token) = people.at(&format!("stranger-{username}"), 0).await;
    make_stranger(people.t, id, username).await;
    (id, token)
}

/// Turns user `id` into a stranger named `username`, created from `STRANGER_GROUP`.
pub async fn make_stranger(t: &TestApp, id: i64, username: &str) {
    let mut conn = t.conn().await;
    sqlx::query(
        "UPDATE users SET kind = 'stranger', created_from_group = $2, username = $3, username_lower = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(STRANGER_GROUP)
    .bind(username)
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// A queue entry of `user_id` on `tags`, written `t`'s now, with its deadline `expires_in_s`
/// seconds away; `away_since_s_ago` `Some` when its caller has no open connection.
pub async fn queue_entry(t: &TestApp, user_id: i64, tags: &[&str], expires_in_s: i64, away_since_s_ago: Option<i64>) {
    let now = t.app.now();
    let mut conn = t.conn().await;
    let (entry,): (i64,) = sqlx::query_as(
        "INSERT INTO match_entries (user_id, session_id, interests, country_code, enqueued_at, expires_at, away_since) \
         VALUES ($1, 1, $2, NULL, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(serde_json::to_string(tags).unwrap())
    .bind(now)
    .bind(now + expires_in_s * SECOND)
    .bind(away_since_s_ago.map(|ago| now - ago * SECOND))
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    for tag in tags {
        sqlx::query("INSERT INTO match_entry_tags (tag, entry_id) VALUES ($1, $2)")
            .bind(*tag)
            .bind(entry)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

/// How a fixture direct chat stands, in seconds from `t`'s now.
pub struct DirectChat {
    pub expires_in_s: i64,
    /// `Some((ended_s_ago, deletes_in_s))` once written as ended.
    pub ended: Option<(i64, i64)>,
    /// How long ago each of the two participants went away, `None` while connected.
    pub away_s_ago: [Option<i64>; 2],
}

/// A direct chat between `users`, written in the store as a pairing and its end would write it;
/// its id.
pub async fn direct_chat(t: &TestApp, users: [i64; 2], chat: DirectChat) -> i64 {
    let now = t.app.now();
    let at = |s: i64| now + s * SECOND;
    let mut conn = t.conn().await;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO chats (chat_type, name, owner_id, visibility, is_archived, last_activity_at, created_at, \
         updated_at, matched_on, expires_at, ended_at, end_reason, deletes_at) \
         VALUES ('direct', 'neon-wanderer', NULL, 'direct', $1, $2, $2, $2, '[\"music\"]', $3, $4, $5, $6) RETURNING id",
    )
    .bind(i64::from(chat.ended.is_some()))
    .bind(now)
    .bind(at(chat.expires_in_s))
    .bind(chat.ended.map(|(ago, _)| at(-ago)))
    .bind(chat.ended.map(|_| "left"))
    .bind(chat.ended.map(|(_, deletes_in)| at(deletes_in)))
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    for (position, (user_id, away)) in users.iter().zip(chat.away_s_ago).enumerate() {
        sqlx::query(
            "INSERT INTO direct_participants (chat_id, user_id, position, token, username, avatar_url, \
             is_stranger, country_code, away_since) VALUES ($1, $2, $3, $4, $5, NULL, 0, NULL, $6)",
        )
        .bind(id)
        .bind(*user_id)
        .bind(position as i64)
        .bind(format!("token{id}x{position}"))
        .bind(format!("participant-{user_id}"))
        .bind(away.map(|ago| at(-ago)))
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    id
}

/// One participant's snapshot as a report records it.
pub fn party(user_id: i64, username: &str, is_stranger: bool, country_code: Option<&str>) -> ReportParty {
    ReportParty {
        user_id,
        username: username.to_owned(),
        is_stranger,
        country_code: country_code.map(str::to_owned),
    }
}

/// Stores a report through the store function the report endpoint uses; its id.
pub async fn report(t: &TestApp, chat_id: i64, reporter: &ReportParty, reported: &ReportParty, reason: &str) -> i64 {
    let now = t.app.now();
    let mut conn = t.conn().await;
    portal::store::match_reports::insert(
        &mut conn,
        &NewReport {
            chat_id,
            reporter,
            reported,
            reason,
            matched_on: &["music".to_owned(), "gaming".to_owned()],
            chat_created_at: now - 60 * SECOND,
            created_at: now,
        },
    )
    .await
    .unwrap()
}

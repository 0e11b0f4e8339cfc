//! Matchmaking (91-matchmaking): callers queued on interest tags, paired into direct chats that
//! they talk in end to end encrypted, and the life of those chats — driven as clients drive it,
//! over HTTP and the realtime WebSocket, with the deadlines moved by the test clock and the sweep
//! run as each node runs it every second.

mod direct;
mod pairing;
mod races;

use crate::common::e2e::Device;
use crate::common::{keys, People, TestApp, TestResponse};
use portal::domain::matchmaking::liveness;
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

//! The end-to-end-encrypted chat transport (90-chat-transport), driven by real client devices
//! (`common::e2e::Device`): they make X25519 key pairs, hand chat keys to each other as sealed
//! boxes through the server, and encrypt and decrypt messages, talking to the server only through
//! HTTP and the realtime WebSocket, as browsers do.

mod handover;
mod history;
mod keys;
mod keys_in_rooms;
mod lifecycle;
mod moderation;
mod nodes;
mod people;
mod rooms;
mod scenarios;
mod send;
mod uploads;

use crate::common::chats::{create_official, create_private, new_invite};
use crate::common::e2e::{
    b64, bundle_of, chat_path, Device, CHAT_MESSAGE_FIELDS, KEY_REQUEST_FIELDS, ROOM_JOINED_FIELDS,
    ROOM_KEY_BLOB_FIELDS,
};
use crate::common::{assert_error_fields, keys, People, TestApp, TestResponse, HOUR};
use serde_json::{json, Value};

/// A private chat owned by the holder of `owner` (who needs a subscription or Admin+), with the
/// holders of `members` invited and joined as members; returns its id.
async fn private_chat(t: &TestApp, owner: &str, members: &[&str]) -> i64 {
    let chat = create_private(t, owner, "transport").await;
    let chat_id = chat["id"].as_i64().unwrap();
    for member in members {
        let code = new_invite(t, owner, chat_id, json!({})).await;
        let r = t
            .post(&format!("/v1/portal/resolve/{code}"))
            .cookie(member)
            .send()
            .await;
        assert_eq!(r.assert_ok()["joined"], true);
    }
    chat_id
}

/// The people of most tests: Alice (Premium, so she may own a private chat) and Bob, with a
/// private chat of Alice's that Bob is a member of. Returns (chat, (alice id, token), (bob id, token)).
async fn alice_and_bob(p: &People<'_>) -> (i64, (i64, String), (i64, String)) {
    let alice = p.premium("alice", 24 * HOUR).await;
    let bob = p.at("bob", 0).await;
    let chat_id = private_chat(p.t, &alice.1, &[&bob.1]).await;
    (chat_id, alice, bob)
}

/// A room member list reduced to what the tests compare: user id, membership and devices, in
/// order, after checking the fields of each entry (§2.6).
fn roster(members: &Value) -> Value {
    members
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            assert_eq!(keys(m), ["devices", "membership", "user"], "member {m}");
            assert_eq!(
                keys(&m["user"]),
                ["avatar_url", "id", "permission_level", "username"],
                "member {m}"
            );
            json!({"id": m["user"]["id"], "membership": m["membership"], "devices": m["devices"]})
        })
        .collect()
}

/// One roster entry as `roster` gives it.
fn entry(user_id: i64, membership: &str, devices: &[&Device<'_>]) -> Value {
    let devices: Vec<Value> = devices.iter().map(|d| d.member_entry()).collect();
    json!({"id": user_id, "membership": membership, "devices": devices})
}

/// A system message (§5.6) of `chat_id` with `content`.
#[track_caller]
fn assert_system(message: &Value, chat_id: i64, content: &str) {
    assert_eq!(keys(message), CHAT_MESSAGE_FIELDS, "{message}");
    assert_eq!(message["chat_id"], chat_id);
    assert_eq!(message["type"], "system");
    assert_eq!(message["sender"], Value::Null);
    assert_eq!(message["permission_level"], Value::Null);
    assert_eq!(message["epoch"], 0);
    assert_eq!(message["content"], content, "{message}");
}

/// The `devices` of a key request or upload, sorted by device id (their order is not specified).
fn sorted_devices(devices: &Value) -> Vec<Value> {
    let mut devices = devices.as_array().expect("devices").clone();
    devices.sort_by(|a, b| a["device_id"].as_str().cmp(&b["device_id"].as_str()));
    devices
}

/// A validation failure naming `field` with `message`.
#[track_caller]
fn assert_validation(r: &TestResponse, field: &str, message: &str) {
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["error"], message, "body: {}", r.body);
    assert_eq!(r.body["field"], field, "body: {}", r.body);
}

/// A random `ct` of `n` bytes: a bundle nobody can open, for the checks that come before keys.
fn noise(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 37 % 251) as u8).collect()
}

/// A message id as a comparable pair (§1.4).
fn id_key(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').expect("a message id");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

/// The ids of a list of messages.
fn ids(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

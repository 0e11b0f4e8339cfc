//! Deleting messages and clearing (§6), chat settings and the auto-wipe timer (§7), and what
//! moderation and the chat's lifecycle do to its room (§8), with their audit rows (§12). The
//! shared set-ups are here; the scenarios are in the files below.

mod acts;
mod deletion;
mod settings;

use super::*;
use crate::common::chats::CHAT_SUMMARY_FIELDS;
use crate::common::{audits, rfc3339, SECOND};
use portal::domain::transport::deletion::wipe_due;

/// The holder of `token` joins the chat through a fresh invite of its owner's.
async fn join_by_invite(t: &TestApp, owner_token: &str, chat_id: i64, token: &str) {
    let code = new_invite(t, owner_token, chat_id, json!({})).await;
    let r = t.post(&format!("/v1/portal/resolve/{code}")).cookie(token).send().await;
    assert_eq!(r.assert_ok()["joined"], true);
}

/// The first device of a new chat joins and makes the key of epoch 1.
async fn open(chat_id: i64, first: &mut Device<'_>) {
    first.join(chat_id).await;
    let request = first.serve_key_request().await;
    assert_eq!(request["generate"], true);
    first.next("room:key").await;
}

/// `joiner` joins the room and is handed the current key by `holder`, the earliest-joined holder.
async fn enter(chat_id: i64, holder: &mut Device<'_>, joiner: &mut Device<'_>) {
    joiner.join(chat_id).await;
    let request = holder.serve_key_request().await;
    assert_eq!(request["devices"], json!([joiner.named()]));
    joiner.next("room:key").await;
}

/// The devices join a new chat's room in order, all end up holding the key of epoch 1, and what
/// the set-up sent is read and forgotten.
async fn seat(chat_id: i64, devices: &mut [&mut Device<'_>]) {
    let (first, rest) = devices.split_first_mut().expect("a device");
    open(chat_id, first).await;
    for joiner in rest.iter_mut() {
        enter(chat_id, first, joiner).await;
    }
    first.drain().await;
    for device in rest {
        device.drain().await;
    }
}

/// The chat as the caller's chat list shows it.
async fn chat_of(t: &TestApp, token: &str, chat_id: i64) -> Value {
    let r = t.get("/v1/portal/chats").cookie(token).send().await;
    r.assert_ok()
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["id"] == chat_id)
        .cloned()
        .unwrap_or_else(|| panic!("chat {chat_id} not listed: {}", r.body))
}

/// `POST /v1/admin/chats/{chat_id}/update` with `body`; returns the ChatAdmin.
async fn admin_update(t: &TestApp, token: &str, chat_id: i64, body: Value) -> Value {
    let r = t
        .post_as(token, &format!("/v1/admin/chats/{chat_id}/update"), body)
        .await;
    r.assert_ok().clone()
}

/// The stored messages of the chat the device may see, oldest first.
async fn stored(device: &Device<'_>, chat_id: i64) -> Vec<Value> {
    let r = device.history(chat_id, "limit=100").await;
    r.assert_ok()["messages"].as_array().unwrap().clone()
}

/// The id of a message.
fn id_of(message: &Value) -> String {
    message["id"].as_str().expect("an id").to_owned()
}

/// Values sorted by their JSON text, for lists whose order is not specified.
fn unordered(values: &[Value]) -> Vec<Value> {
    let mut values = values.to_vec();
    values.sort_by_key(|v| v.to_string());
    values
}

/// A `portal:key_removed` of `device` in `chat_id`.
fn key_removed(chat_id: i64, device: &Device<'_>) -> Value {
    json!({"chat_id": chat_id, "user_id": device.user_id, "device_id": device.device_id})
}

/// Events of the room that a removed connection must no longer get.
const ROOM_EVENTS: [&str; 7] = [
    "portal:key_removed",
    "room:members",
    "room:epoch_changed",
    "room:config",
    "message:new",
    "message:bulk_deleted",
    "room:key_request",
];

// ---- §6.2 messages/delete ----

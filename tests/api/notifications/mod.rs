//! Notifications, the portal status, the hard mute and moderation inside a chat
//! (80-notifications-portal), through HTTP on both backends, and the fixtures its modules share.

mod chat_moderation;
mod hard_mute;
mod inbox;

use crate::common::chats::{create_official, create_private, new_invite};
use crate::common::{audits, keys, rfc3339, People, TestApp, HOUR, NOTIFICATION_FIELDS, SECOND};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn now_text(t: &TestApp) -> String {
    rfc3339(t.app.now())
}

async fn get(t: &TestApp, token: &str, path: &str) -> Value {
    t.get(path).cookie(token).send().await.assert_ok().clone()
}

/// The rows a refusal must leave alone.
async fn footprint(t: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "notifications",
        "notification_reads",
        "moderation_actions",
        "audit_log",
        "chat_members",
    ] {
        out.push(t.count(&format!("SELECT COUNT(*) FROM {table}")).await);
    }
    out
}

/// A user's moderation actions as an Owner sees them in the elevated view, newest first.
async fn actions_of(t: &TestApp, owner: &str, user_id: i64) -> Vec<Value> {
    get(t, owner, &format!("/v1/users/{user_id}")).await["moderation_actions"]
        .as_array()
        .unwrap()
        .clone()
}

/// A private chat owned by `owner_id` (made a Lifetime subscriber first); returns its id.
async fn private_chat(t: &TestApp, owner_id: i64, owner: &str, name: &str) -> i64 {
    t.set_subscription(owner_id, 3, None).await;
    create_private(t, owner, name).await["id"].as_i64().unwrap()
}

/// A public chat owned by a non-staff user: their private chat given a slug by an Admin.
async fn public_chat(t: &TestApp, owner_id: i64, owner: &str, admin: &str, slug: &str) -> i64 {
    let id = private_chat(t, owner_id, owner, slug).await;
    let r = t
        .post_as(admin, &format!("/v1/admin/chats/{id}/update"), json!({"slug": slug}))
        .await;
    assert_eq!(r.assert_ok()["visibility"], "public");
    id
}

/// Lets every token join the chat through one invite of its manager.
async fn join(t: &TestApp, manager: &str, chat_id: i64, members: &[&str]) {
    let code = new_invite(t, manager, chat_id, json!({})).await;
    for token in members {
        t.post(&format!("/v1/portal/resolve/{code}"))
            .cookie(token)
            .send()
            .await
            .assert_ok();
    }
}

async fn is_member(t: &TestApp, chat_id: i64, user_id: i64) -> bool {
    t.count(&format!(
        "SELECT COUNT(*) FROM chat_members WHERE chat_id = {chat_id} AND user_id = {user_id}"
    ))
    .await
        == 1
}

fn chat_path(chat_id: i64, action: &str) -> String {
    format!("/v1/portal/chats/{chat_id}/{action}")
}

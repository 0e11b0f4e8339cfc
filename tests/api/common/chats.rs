//! Chats made through the API, for the tests of chats and of moderation inside them.

use serde_json::{json, Value};

use super::TestApp;

/// A private chat of the caller (who needs a subscription or Admin+); returns the chat.
pub async fn create_private(t: &TestApp, token: &str, name: &str) -> Value {
    t.post_as(token, "/v1/portal/chats", json!({"name": name}))
        .await
        .assert_ok()
        .clone()
}

/// An official chat owned by the Admin+ who creates it; returns its id.
pub async fn create_official(t: &TestApp, token: &str, name: &str, slug: &str) -> i64 {
    t.post_as(token, "/v1/admin/chats", json!({"name": name, "slug": slug}))
        .await
        .assert_ok()["chat_id"]
        .as_i64()
        .unwrap()
}

/// A new invite to the chat, made by its manager with `body`; returns its code.
pub async fn new_invite(t: &TestApp, token: &str, chat_id: i64, body: Value) -> String {
    t.post_as(token, &format!("/v1/portal/chats/{chat_id}/invites"), body)
        .await
        .assert_ok()["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The fields of a `ChatSummary` with the settings of §7.1 (60-chats §5.1), sorted.
pub const CHAT_SUMMARY_FIELDS: [&str; 22] = [
    "allow_control_requests",
    "archived",
    "avatar_url",
    "chat_type",
    "description",
    "expires_at",
    "history_visible",
    "id",
    "implicit_hosting",
    "inactive_cursors",
    "label",
    "locked_controls",
    "name",
    "next_wipe_at",
    "owner",
    "peer",
    "running",
    "secrets",
    "slug",
    "viewer_count",
    "visibility",
    "wipe_preset",
];

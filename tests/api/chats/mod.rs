//! Chats as owned records (60-chats): creation with slots, invites, membership, the owner's and
//! the staff's chat operations, and the fixtures its modules share.

mod creation;
mod invites;
mod management;

use crate::common::chats::{create_official, create_private, new_invite, CHAT_SUMMARY_FIELDS};
use crate::common::{audits, keys, rfc3339, Kind, People, TestApp, HOUR, SECOND};
use serde_json::{json, Value};

async fn my_chat_names(t: &TestApp, token: &str) -> Vec<String> {
    let r = t.get("/v1/users/me/chats").cookie(token).send().await;
    r.assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn visible_ids(t: &TestApp, token: &str) -> Vec<i64> {
    let r = t.get("/v1/portal/chats").cookie(token).send().await;
    let ids: Vec<i64> = r
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(r.header("x-total-count"), Some(ids.len().to_string().as_str()));
    ids
}

async fn member_ids(t: &TestApp, admin: &str, chat_id: i64) -> Vec<i64> {
    let r = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(admin).send().await;
    r.assert_ok()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["id"].as_i64().unwrap())
        .collect()
}

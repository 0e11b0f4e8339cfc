//! The three login flows, login-code rules, sessions and their cookie, through HTTP only.

mod login;
mod operator_code;
mod sessions;

use crate::common::{rfc3339, Kind, TestApp};
use portal::store;
use serde_json::{json, Value};

fn report(id: &str) -> Value {
    json!({"platform": "discord", "platform_user_id": id, "platform_username": format!("name-{id}"),
           "platform_avatar_url": format!("https://cdn.example.org/{id}.png")})
}

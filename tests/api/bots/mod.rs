//! Bots (50-bots), through HTTP on both backends, and the fixtures its modules share.

mod listing;
mod management;
mod quota;
mod reports;
mod validation;

use std::collections::BTreeMap;

use crate::common::{keys, rfc3339, TestApp, TestResponse};
use portal::config::Config;
use portal::store::users::UserRow;
use portal::time::MICROS_PER_SECOND;
use serde_json::{json, Value};

const PRIVATE_FIELDS: [&str; 17] = [
    "api_key_created_at",
    "api_key_prefix",
    "avatar_url",
    "bot_type",
    "created_at",
    "groups",
    "id",
    "is_active",
    "is_verified",
    "last_activity_at",
    "latency_ms",
    "name",
    "owner_id",
    "platform",
    "rate_limit_per_hour",
    "updated_at",
    "users",
];

const PUBLIC_FIELDS: [&str; 10] = [
    "avatar_url",
    "created_at",
    "groups",
    "id",
    "is_verified",
    "last_activity_at",
    "latency_ms",
    "name",
    "updated_at",
    "users",
];

/// A staff member with a live session.
struct Staff {
    user: UserRow,
    token: String,
}

async fn staff(t: &TestApp, login_key: &str, platform_user_id: &str, level: i64) -> Staff {
    let (user, token) = t.staff(login_key, platform_user_id, level).await;
    Staff { user, token }
}

async fn register(t: &TestApp, by: &Staff, body: Value) -> TestResponse {
    t.post("/v1/admin/bots").cookie(&by.token).json(body).send().await
}

/// Registers a bot through the API and returns (id, key).
async fn registered(t: &TestApp, by: &Staff, name: &str, owner_id: i64, rate_limit_per_hour: i64) -> (i64, String) {
    let r = register(
        t,
        by,
        json!({"name": name, "owner_id": owner_id, "platform": "discord", "rate_limit_per_hour": rate_limit_per_hour}),
    )
    .await;
    let body = r.assert_ok();
    (
        body["bot"]["id"].as_i64().unwrap(),
        body["api_key"].as_str().unwrap().to_owned(),
    )
}

async fn audit_events(t: &TestApp, bot_id: i64) -> Vec<(String, Value)> {
    let mut conn = t.conn().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_type, metadata FROM audit_log WHERE target_type = 'bot' AND target_id = $1 ORDER BY id",
    )
    .bind(bot_id)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(event, metadata)| (event, serde_json::from_str(&metadata).unwrap()))
        .collect()
}

fn sorted(fields: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Every refusal is a 400 naming the field, and leaves the bot as it was.
#[track_caller]
fn refused(r: &TestResponse, field: &str, message: &str) {
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], field, "body: {}", r.body);
    assert_eq!(r.body["error"], message, "body: {}", r.body);
}

//! Staff actions under the rank ladder (30-admin-moderation, 40-subscriptions), and the fixtures
//! its modules share.

mod audit;
mod moderation;
mod permissions;
mod subscriptions;
mod validation;

use crate::common::{rfc3339, TestApp, TestResponse, SECOND as MICROS};
use serde_json::{json, Value};

const DAY: i64 = 86_400;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn scalar(t: &TestApp, sql: &str, bind: Option<i64>) -> i64 {
    let mut conn = t.conn().await;
    let query = sqlx::query_as::<_, (i64,)>(sql);
    let query = match bind {
        Some(v) => query.bind(v),
        None => query,
    };
    query.fetch_one(&mut *conn).await.unwrap().0
}

async fn audit_count(t: &TestApp) -> i64 {
    scalar(t, "SELECT COUNT(*) FROM audit_log", None).await
}

async fn moderation_count(t: &TestApp) -> i64 {
    scalar(t, "SELECT COUNT(*) FROM moderation_actions", None).await
}

/// Rows of the user's history tables and live sessions, to show that a refusal changed nothing.
async fn footprint(t: &TestApp, user_id: i64) -> Vec<i64> {
    let mut out = vec![audit_count(t).await, moderation_count(t).await];
    for sql in [
        "SELECT COUNT(*) FROM subscription_history WHERE user_id = $1",
        "SELECT COUNT(*) FROM permission_history WHERE user_id = $1",
        "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND ended_at IS NULL",
        "SELECT permission_level FROM users WHERE id = $1",
        "SELECT subscription_tier FROM users WHERE id = $1",
    ] {
        out.push(scalar(t, sql, Some(user_id)).await);
    }
    out
}

/// The staff record of a user, as an Owner sees it.
async fn detail(t: &TestApp, owner_token: &str, user_id: i64) -> Value {
    t.get(&format!("/v1/users/{user_id}"))
        .cookie(owner_token)
        .send()
        .await
        .assert_ok()
        .clone()
}

fn user_path(user_id: i64, act: &str) -> String {
    format!("/v1/admin/users/{user_id}/{act}")
}

async fn grant(t: &TestApp, token: &str, body: Value) -> TestResponse {
    t.post_as(token, "/v1/admin/subscriptions/grant", body).await
}

async fn revoke(t: &TestApp, token: &str, user_id: i64) -> TestResponse {
    t.post_as(
        token,
        "/v1/admin/subscriptions/revoke",
        json!({"user_id": user_id, "reason": "chargeback"}),
    )
    .await
}

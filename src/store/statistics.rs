//! The counting queries behind the public statistics (70-statistics-health §1). Each is one pass
//! over its table; `COALESCE` because `SUM` over no rows is `NULL`.

use sqlx::FromRow;

use super::Conn;
use crate::time::MICROS_PER_SECOND;

#[derive(Debug, Clone, FromRow)]
pub struct UserCounts {
    pub total: i64,
    pub trial: i64,
    pub premium: i64,
    pub lifetime: i64,
    pub active_24h: i64,
}

/// Registered users only (strangers are in no user count, 91-matchmaking §2.3). Tiers are
/// effective: a Trial or Premium whose expiry has passed counts as Basic.
pub async fn user_counts(conn: &mut Conn, now: i64) -> Result<UserCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*) AS total, \
         CAST(COALESCE(SUM(CASE WHEN subscription_tier = 1 AND subscription_expires_at > $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS trial, \
         CAST(COALESCE(SUM(CASE WHEN subscription_tier = 2 AND subscription_expires_at > $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS premium, \
         CAST(COALESCE(SUM(CASE WHEN subscription_tier = 3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS lifetime, \
         CAST(COALESCE(SUM(CASE WHEN last_activity_at >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS active_24h \
         FROM users WHERE kind = 'registered'",
    )
    .bind(now)
    .bind(now - 24 * 3600 * MICROS_PER_SECOND)
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct BotCounts {
    pub total: i64,
    pub official: i64,
    pub verified_only: i64,
    pub active: i64,
}

pub async fn bot_counts(conn: &mut Conn) -> Result<BotCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*) AS total, \
         CAST(COALESCE(SUM(CASE WHEN bot_type = 1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS official, \
         CAST(COALESCE(SUM(CASE WHEN bot_type = 2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS verified_only, \
         CAST(COALESCE(SUM(CASE WHEN is_active = 1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS active \
         FROM bots",
    )
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct ChatCounts {
    pub total: i64,
    pub private_count: i64,
}

pub async fn chat_counts(conn: &mut Conn) -> Result<ChatCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*) AS total, \
         CAST(COALESCE(SUM(CASE WHEN visibility = 'private' THEN 1 ELSE 0 END), 0) AS BIGINT) AS private_count \
         FROM chats WHERE chat_type = 'group'",
    )
    .fetch_one(conn)
    .await
}

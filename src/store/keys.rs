//! API credentials: public keys made by the command-line tool, and bots looked up by key digest.

use sqlx::FromRow;

use super::Conn;
use crate::bot_type::BotType;

#[derive(Debug, Clone, FromRow)]
pub struct BotRow {
    pub id: i64,
    pub name: String,
    pub platform: String,
    pub owner_id: i64,
    #[sqlx(try_from = "i64")]
    pub bot_type: BotType,
    pub is_active: i64,
    pub rate_limit_per_hour: i64,
    pub groups: i64,
    pub users: i64,
    pub avatar_url: Option<String>,
    pub latency_ms: Option<f64>,
    pub last_activity_at: Option<i64>,
    pub api_key_prefix: String,
    pub api_key_created_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const BOT_COLUMNS: &str = "id, name, platform, owner_id, bot_type, is_active, rate_limit_per_hour, \
    groups, users, avatar_url, latency_ms, last_activity_at, api_key_prefix, api_key_created_at, \
    created_at, updated_at";

pub async fn bot_by_key_hash(conn: &mut Conn, key_hash: &str) -> Result<Option<BotRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BOT_COLUMNS} FROM bots WHERE api_key_hash = $1"))
        .bind(key_hash)
        .fetch_optional(conn)
        .await
}

pub async fn bots_of_owner(conn: &mut Conn, owner_id: i64, limit: i64) -> Result<Vec<BotRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {BOT_COLUMNS} FROM bots WHERE owner_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(owner_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub struct NewBot<'a> {
    pub name: &'a str,
    pub platform: &'a str,
    pub owner_id: i64,
    pub bot_type: BotType,
    pub rate_limit_per_hour: i64,
    pub key_hash: &'a str,
    pub key_prefix: &'a str,
    pub now: i64,
}

pub async fn insert_bot(conn: &mut Conn, bot: NewBot<'_>) -> Result<BotRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO bots (name, name_lower, platform, owner_id, bot_type, is_active, rate_limit_per_hour, \
         api_key_hash, api_key_prefix, api_key_created_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $9, $9) RETURNING {BOT_COLUMNS}"
    ))
    .bind(bot.name)
    .bind(bot.name.to_lowercase())
    .bind(bot.platform)
    .bind(bot.owner_id)
    .bind(bot.bot_type.as_i64())
    .bind(bot.rate_limit_per_hour)
    .bind(bot.key_hash)
    .bind(bot.key_prefix)
    .bind(bot.now)
    .fetch_one(conn)
    .await
}

pub async fn bot_name_taken(conn: &mut Conn, platform: &str, name: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM bots WHERE platform = $1 AND name_lower = $2")
        .bind(platform)
        .bind(name.to_lowercase())
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// A public key made by the command-line tool that has not been revoked.
pub async fn public_key_exists(conn: &mut Conn, key_hash: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM public_api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(key_hash)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

/// A public key made by the command-line tool, as the tool lists it (never the key itself).
#[derive(Debug, Clone, FromRow)]
pub struct PublicKeyRow {
    pub id: i64,
    pub label: Option<String>,
    pub key_prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn public_keys(conn: &mut Conn) -> Result<Vec<PublicKeyRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, label, key_prefix, created_at, revoked_at FROM public_api_keys ORDER BY id")
        .fetch_all(conn)
        .await
}

/// Revokes the key `id` unless it is revoked already; the row when this call revoked it.
pub async fn revoke_public_key(conn: &mut Conn, id: i64, now: i64) -> Result<Option<PublicKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE public_api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
         RETURNING id, label, key_prefix, created_at, revoked_at",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

pub async fn insert_public_key(
    conn: &mut Conn,
    label: Option<&str>,
    key_hash: &str,
    key_prefix: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO public_api_keys (label, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(label)
    .bind(key_hash)
    .bind(key_prefix)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

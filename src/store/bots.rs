//! The bot registry: listing, search, staff changes, self-reports and hourly command aggregates.
//! The row shape and the key lookup live in `keys`.

use sqlx::FromRow;

use super::keys::{BotRow, BOT_COLUMNS};
use super::users::escape_like;
use super::Conn;
use crate::bot_type::BotType;

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<BotRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BOT_COLUMNS} FROM bots WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A page of bots by id ascending, and how many there are; inactive ones only when asked.
pub async fn list(
    conn: &mut Conn,
    include_inactive: bool,
    offset: i64,
    limit: i64,
) -> Result<(Vec<BotRow>, i64), sqlx::Error> {
    let filter = "($1 = 1 OR is_active = 1)";
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM bots WHERE {filter}"))
        .bind(super::flag(include_inactive))
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {BOT_COLUMNS} FROM bots WHERE {filter} ORDER BY id ASC LIMIT $2 OFFSET $3"
    ))
    .bind(super::flag(include_inactive))
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

pub struct BotSearch<'a> {
    pub q: &'a str,
    pub owner_id: Option<i64>,
    pub bot_type: Option<BotType>,
    pub include_inactive: bool,
    pub offset: i64,
    pub limit: i64,
}

/// 50-bots §7.3: name contains `q` (case-insensitive) or `q` is the id; the id match first.
pub async fn search(conn: &mut Conn, s: BotSearch<'_>) -> Result<(Vec<BotRow>, i64), sqlx::Error> {
    let lowered = s.q.to_lowercase();
    let id = if !s.q.is_empty() && s.q.bytes().all(|b| b.is_ascii_digit()) {
        s.q.parse::<i64>().unwrap_or(-1)
    } else {
        -1
    };
    let contains = format!("%{}%", escape_like(&lowered));
    let filter = "($1 = '' OR name_lower LIKE $2 ESCAPE '\\' OR id = $3) \
                  AND ($4 IS NULL OR owner_id = $4) AND ($5 IS NULL OR bot_type = $5) \
                  AND ($6 = 1 OR is_active = 1)";
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM bots WHERE {filter}"))
        .bind(&lowered)
        .bind(&contains)
        .bind(id)
        .bind(s.owner_id)
        .bind(s.bot_type.map(BotType::as_i64))
        .bind(super::flag(s.include_inactive))
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {BOT_COLUMNS} FROM bots WHERE {filter} \
         ORDER BY CASE WHEN id = $3 THEN 0 ELSE 1 END, id ASC LIMIT $7 OFFSET $8"
    ))
    .bind(&lowered)
    .bind(&contains)
    .bind(id)
    .bind(s.owner_id)
    .bind(s.bot_type.map(BotType::as_i64))
    .bind(super::flag(s.include_inactive))
    .bind(s.limit)
    .bind(s.offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

/// Whether another bot on `platform` has `name` (compared case-insensitively).
pub async fn name_taken_by_other(
    conn: &mut Conn,
    platform: &str,
    name: &str,
    except_id: i64,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM bots WHERE platform = $1 AND name_lower = $2 AND id <> $3")
            .bind(platform)
            .bind(name.to_lowercase())
            .bind(except_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

/// The fields staff may change; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct StaffChanges<'a> {
    pub name: Option<&'a str>,
    pub owner_id: Option<i64>,
    pub rate_limit_per_hour: Option<i64>,
    pub bot_type: Option<BotType>,
    pub is_active: Option<bool>,
}

pub async fn apply_staff_changes(
    conn: &mut Conn,
    id: i64,
    changes: &StaffChanges<'_>,
    now: i64,
) -> Result<BotRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE bots SET name = COALESCE($2, name), name_lower = COALESCE($3, name_lower), \
         owner_id = COALESCE($4, owner_id), rate_limit_per_hour = COALESCE($5, rate_limit_per_hour), \
         bot_type = COALESCE($6, bot_type), is_active = COALESCE($7, is_active), updated_at = $8 \
         WHERE id = $1 RETURNING {BOT_COLUMNS}"
    ))
    .bind(id)
    .bind(changes.name)
    .bind(changes.name.map(str::to_lowercase))
    .bind(changes.owner_id)
    .bind(changes.rate_limit_per_hour)
    .bind(changes.bot_type.map(BotType::as_i64))
    .bind(changes.is_active.map(super::flag))
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Deactivates the active bots of `owner_id` (only those of `bot_type`, when given) and returns
/// their ids: a ban stops every bot of its target, a demotion from Owner its Official bots.
pub async fn deactivate_owned(
    conn: &mut Conn,
    owner_id: i64,
    bot_type: Option<BotType>,
    now: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "UPDATE bots SET is_active = 0, updated_at = $3 \
         WHERE owner_id = $1 AND is_active = 1 AND ($2 IS NULL OR bot_type = $2) RETURNING id",
    )
    .bind(owner_id)
    .bind(bot_type.map(BotType::as_i64))
    .bind(now)
    .fetch_all(conn)
    .await?;
    let mut ids: Vec<i64> = rows.into_iter().map(|(id,)| id).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// What a bot reports about itself; `None` leaves a field alone, `Some(None)` clears the avatar.
#[derive(Debug, Default)]
pub struct SelfReport<'a> {
    pub name: Option<&'a str>,
    pub avatar_url: Option<Option<&'a str>>,
    pub groups: Option<i64>,
    pub users: Option<i64>,
    pub latency_ms: Option<f64>,
}

/// Applies a self-report; every call, even an empty one, is a heartbeat. The latency is bound
/// as a number with a separate "given" flag, never as a NULL: sqlx 0.8's `Any` driver sends a
/// NULL `f64` as `float4`, and PostgreSQL then keeps that type for the prepared statement, so a
/// later real value on the same connection would be refused.
pub async fn apply_self_report(
    conn: &mut Conn,
    id: i64,
    report: &SelfReport<'_>,
    now: i64,
) -> Result<BotRow, sqlx::Error> {
    let (set_avatar, avatar) = match report.avatar_url {
        Some(value) => (1, value),
        None => (0, None),
    };
    sqlx::query_as(&format!(
        "UPDATE bots SET name = COALESCE($2, name), name_lower = COALESCE($3, name_lower), \
         avatar_url = CASE WHEN $4 = 1 THEN $5 ELSE avatar_url END, groups = COALESCE($6, groups), \
         users = COALESCE($7, users), latency_ms = CASE WHEN $8 = 1 THEN $9 ELSE latency_ms END, \
         last_activity_at = $10, updated_at = $10 WHERE id = $1 RETURNING {BOT_COLUMNS}"
    ))
    .bind(id)
    .bind(report.name)
    .bind(report.name.map(str::to_lowercase))
    .bind(set_avatar)
    .bind(avatar)
    .bind(report.groups)
    .bind(report.users)
    .bind(super::flag(report.latency_ms.is_some()))
    .bind(report.latency_ms.unwrap_or(0.0))
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Replaces the key; the old digest matches nothing from this commit on.
pub async fn replace_key(
    conn: &mut Conn,
    id: i64,
    key_hash: &str,
    key_prefix: &str,
    now: i64,
) -> Result<BotRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE bots SET api_key_hash = $2, api_key_prefix = $3, api_key_created_at = $4, updated_at = $4 \
         WHERE id = $1 RETURNING {BOT_COLUMNS}"
    ))
    .bind(id)
    .bind(key_hash)
    .bind(key_prefix)
    .bind(now)
    .fetch_one(conn)
    .await
}

pub async fn key_hash_exists(conn: &mut Conn, key_hash: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM bots WHERE api_key_hash = $1")
        .bind(key_hash)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

pub async fn reset_stats(conn: &mut Conn, id: i64, now: i64) -> Result<BotRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE bots SET groups = 0, users = 0, latency_ms = NULL, updated_at = $2 \
         WHERE id = $1 RETURNING {BOT_COLUMNS}"
    ))
    .bind(id)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Deletes the bot with its command aggregates (explicitly, so no backend depends on cascades).
pub async fn delete(conn: &mut Conn, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM bot_command_stats WHERE bot_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM bot_groups WHERE bot_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM bots WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// One hourly bucket of reported commands, already summed over a batch.
#[derive(Debug, Clone)]
pub struct CommandBucket {
    pub command: String,
    pub hour_start_at: i64,
    pub count: i64,
    pub first_at: i64,
    pub last_at: i64,
}

/// Adds a bucket to the stored aggregate, widening its first and last times.
pub async fn add_command_bucket(conn: &mut Conn, bot_id: i64, bucket: &CommandBucket) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bot_command_stats (bot_id, command, hour_start_at, count, first_at, last_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (bot_id, command, hour_start_at) DO UPDATE SET \
         count = bot_command_stats.count + excluded.count, \
         first_at = CASE WHEN excluded.first_at < bot_command_stats.first_at \
                    THEN excluded.first_at ELSE bot_command_stats.first_at END, \
         last_at = CASE WHEN excluded.last_at > bot_command_stats.last_at \
                   THEN excluded.last_at ELSE bot_command_stats.last_at END",
    )
    .bind(bot_id)
    .bind(&bucket.command)
    .bind(bucket.hour_start_at)
    .bind(bucket.count)
    .bind(bucket.first_at)
    .bind(bucket.last_at)
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, FromRow)]
pub struct CommandTotal {
    pub command: String,
    pub count: i64,
    pub first_at: i64,
    pub last_at: i64,
}

/// Per command, the buckets with `from_hour <= hour_start_at < until`, added up.
pub async fn command_totals(
    conn: &mut Conn,
    bot_id: i64,
    from_hour: i64,
    until: i64,
) -> Result<Vec<CommandTotal>, sqlx::Error> {
    sqlx::query_as(
        "SELECT command, CAST(SUM(count) AS BIGINT) AS count, MIN(first_at) AS first_at, MAX(last_at) AS last_at \
         FROM bot_command_stats WHERE bot_id = $1 AND hour_start_at >= $2 AND hour_start_at < $3 \
         GROUP BY command",
    )
    .bind(bot_id)
    .bind(from_hour)
    .bind(until)
    .fetch_all(conn)
    .await
}

//! Sessions: live ones and, once ended, their history rows (the same table).

use std::collections::HashMap;

use sqlx::FromRow;

use super::users::UserRow;
use super::{transport, Conn};

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub token_suffix: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub client_ip: String,
    pub user_agent: Option<String>,
    pub geo: Option<String>,
}

const SESSION_COLUMNS: &str =
    "id, user_id, token_suffix, created_at, expires_at, ended_at, end_reason, client_ip, user_agent, geo";

/// A live session and its user, as one request sees them.
#[derive(Debug, Clone, FromRow)]
pub struct LiveSession {
    pub session_id: i64,
    pub token_suffix: String,
    pub session_created_at: i64,
    pub session_expires_at: i64,
    #[sqlx(flatten)]
    pub user: UserRow,
}

pub async fn live_by_hash(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<LiveSession>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id AS session_id, s.token_suffix, s.created_at AS session_created_at, s.expires_at AS session_expires_at, \
         u.id, u.username, u.avatar_source, u.permission_level, u.permission_since, u.subscription_tier, \
         u.subscription_expires_at, u.subscription_granted_by, u.is_trial_used, u.bot_login_count, \
         u.last_activity_at, u.created_at, u.updated_at, u.kind \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// The live session of a user named by its suffix, and its user: the viewer of a relayed screen
/// (92-browser-rooms §10.3).
pub async fn live_by_suffix(
    conn: &mut Conn,
    user_id: i64,
    token_suffix: &str,
    now: i64,
) -> Result<Option<LiveSession>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id AS session_id, s.token_suffix, s.created_at AS session_created_at, s.expires_at AS session_expires_at, \
         u.id, u.username, u.avatar_source, u.permission_level, u.permission_since, u.subscription_tier, \
         u.subscription_expires_at, u.subscription_granted_by, u.is_trial_used, u.bot_login_count, \
         u.last_activity_at, u.created_at, u.updated_at, u.kind \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.user_id = $1 AND s.token_suffix = $2 AND s.ended_at IS NULL AND s.expires_at > $3",
    )
    .bind(user_id)
    .bind(token_suffix)
    .bind(now)
    .fetch_optional(conn)
    .await
}

pub struct NewSession<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub token_suffix: &'a str,
    pub expires_at: i64,
    pub client_ip: &'a str,
    pub user_agent: Option<&'a str>,
    pub geo: Option<String>,
    pub now: i64,
}

/// Inserts the session unless a live session of the user already uses its suffix; `true` when
/// inserted.
pub async fn insert_unless_suffix_live(conn: &mut Conn, s: NewSession<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO sessions (user_id, token_hash, token_suffix, created_at, expires_at, client_ip, user_agent, geo) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS (SELECT 1 FROM sessions \
         WHERE user_id = $1 AND token_suffix = $3 AND ended_at IS NULL AND expires_at > $4)",
    )
    .bind(s.user_id)
    .bind(s.token_hash)
    .bind(s.token_suffix)
    .bind(s.now)
    .bind(s.expires_at)
    .bind(s.client_ip)
    .bind(s.user_agent)
    .bind(s.geo)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Live sessions of a user, newest first.
pub async fn live_of(conn: &mut Conn, user_id: i64, now: i64) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Whether the session has neither ended nor expired.
pub async fn is_live(conn: &mut Conn, session_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM sessions WHERE id = $1 AND ended_at IS NULL AND expires_at > $2")
            .bind(session_id)
            .bind(now)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// The stored geolocation (JSON) of a session.
pub async fn geo_of(conn: &mut Conn, session_id: i64) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as("SELECT geo FROM sessions WHERE id = $1")
        .bind(session_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(|(geo,)| geo))
}

/// Ended sessions, most recently ended first. An expired session counts as ended at its expiry.
pub async fn history_of(conn: &mut Conn, user_id: i64, now: i64, limit: i64) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, token_suffix, created_at, expires_at, \
         CASE WHEN ended_at IS NULL THEN expires_at ELSE ended_at END AS ended_at, \
         CASE WHEN ended_at IS NULL THEN 'expired' ELSE end_reason END AS end_reason, \
         client_ip, user_agent, geo FROM sessions \
         WHERE user_id = $1 AND (ended_at IS NOT NULL OR expires_at <= $2) \
         ORDER BY CASE WHEN ended_at IS NULL THEN expires_at ELSE ended_at END DESC, id DESC LIMIT $3",
    )
    .bind(user_id)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// When the next of the user's live sessions expires.
pub async fn next_expiry_of(conn: &mut Conn, user_id: i64, now: i64) -> Result<Option<i64>, sqlx::Error> {
    let (at,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(expires_at) FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2",
    )
    .bind(user_id)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(at)
}

/// Of `session_ids`, those still live at `now`: their expiry, and when the latest timeout in force
/// of their user began (for the realtime connections, 80-notifications-portal §3.4).
pub async fn live_with_timeout_start(
    conn: &mut Conn,
    session_ids: &[i64],
    now: i64,
) -> Result<HashMap<i64, (i64, Option<i64>)>, sqlx::Error> {
    let rows: Vec<(i64, i64, Option<i64>)> = super::fetch_for_ids(
        conn,
        "SELECT s.id, s.expires_at, (SELECT MAX(m.created_at) FROM moderation_actions m \
         WHERE m.user_id = s.user_id AND m.action_type = 'PLATFORM_TIMEOUT' AND m.is_lifted = 0 \
         AND (m.expires_at IS NULL OR m.expires_at > {after})) \
         FROM sessions s WHERE s.id IN ({ids}) AND s.ended_at IS NULL AND s.expires_at > {after}",
        session_ids,
        Some(now),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, expires_at, began)| (id, (expires_at, began)))
        .collect())
}

/// What was written since `since` that may end a realtime connection, as stable keys: sessions
/// ended (`(0, session id)`) and audit rows about users (`(1, audit id)`: bans, timeouts, level
/// changes, deletions, revocations). Both read an index over their time.
pub async fn recent_endings(conn: &mut Conn, since: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT 0, id FROM sessions WHERE ended_at >= $1 \
         UNION ALL SELECT 1, id FROM audit_log WHERE created_at >= $1 AND target_type = 'user'",
    )
    .bind(since)
    .fetch_all(conn)
    .await
}

/// Ends one live session; `true` when it was live.
pub async fn end_by_id(conn: &mut Conn, session_id: i64, reason: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL AND expires_at > $2",
    )
    .bind(session_id)
    .bind(now)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    let ended = done.rows_affected() > 0;
    if ended {
        transport::forget_devices(conn, &[session_id]).await?;
    }
    Ok(ended)
}

/// Ends the live session of a user named by suffix; returns its id.
pub async fn end_by_suffix(
    conn: &mut Conn,
    user_id: i64,
    suffix: &str,
    reason: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let ended = sqlx::query_as::<_, (i64,)>(
        "UPDATE sessions SET ended_at = $3, end_reason = $4 \
         WHERE user_id = $1 AND token_suffix = $2 AND ended_at IS NULL AND expires_at > $3 RETURNING id",
    )
    .bind(user_id)
    .bind(suffix)
    .bind(now)
    .bind(reason)
    .fetch_optional(&mut *conn)
    .await?
    .map(|(id,)| id);
    if let Some(id) = ended {
        transport::forget_devices(conn, &[id]).await?;
    }
    Ok(ended)
}

/// Ends every live session of a user except `keep`; returns how many ended.
pub async fn end_all_of(
    conn: &mut Conn,
    user_id: i64,
    keep: Option<i64>,
    reason: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let ended: Vec<(i64,)> = sqlx::query_as(
        "UPDATE sessions SET ended_at = $2, end_reason = $3 \
         WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 AND ($4 IS NULL OR id <> $4) RETURNING id",
    )
    .bind(user_id)
    .bind(now)
    .bind(reason)
    .bind(keep)
    .fetch_all(&mut *conn)
    .await?;
    let ended: Vec<i64> = ended.into_iter().map(|(id,)| id).collect();
    transport::forget_devices(conn, &ended).await?;
    Ok(ended.len() as u64)
}

/// Re-caps live sessions to `created_at + ttl`; those whose new expiry is not in the future end
/// with `permission_change`. Returns how many ended.
pub async fn recap(conn: &mut Conn, user_id: i64, ttl_micros: i64, now: i64) -> Result<u64, sqlx::Error> {
    let ended: Vec<(i64,)> = sqlx::query_as(
        "UPDATE sessions SET ended_at = $2, end_reason = 'permission_change' \
         WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 AND created_at + $3 <= $2 RETURNING id",
    )
    .bind(user_id)
    .bind(now)
    .bind(ttl_micros)
    .fetch_all(&mut *conn)
    .await?;
    let ended: Vec<i64> = ended.into_iter().map(|(id,)| id).collect();
    transport::forget_devices(conn, &ended).await?;
    sqlx::query(
        "UPDATE sessions SET expires_at = created_at + $3 \
         WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 AND created_at + $3 < expires_at",
    )
    .bind(user_id)
    .bind(now)
    .bind(ttl_micros)
    .execute(conn)
    .await?;
    Ok(ended.len() as u64)
}

/// Deletes history rows that ended before `older_than`.
pub async fn prune_history(conn: &mut Conn, older_than: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM sessions WHERE (ended_at IS NOT NULL AND ended_at < $1) OR (ended_at IS NULL AND expires_at < $1)",
    )
    .bind(older_than)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

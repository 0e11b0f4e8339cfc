//! Pending login codes. The plain code is kept only while pending; used and expired codes are deleted.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::users::LINK_DIFFERS_FROM_REPORT;
use super::Conn;

#[derive(Debug, Clone, FromRow)]
pub struct CodeRow {
    pub id: i64,
    pub code: String,
    pub origin: String,
    pub platform: String,
    pub platform_user_id: String,
    pub platform_username: Option<String>,
    pub platform_avatar_url: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

const CODE_COLUMNS: &str = "id, code, origin, platform, platform_user_id, platform_username, \
    platform_avatar_url, created_at, expires_at";

pub async fn pending_for(
    conn: &mut Conn,
    platform: &str,
    platform_user_id: &str,
    origin: &str,
    now: i64,
) -> Result<Option<CodeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CODE_COLUMNS} FROM login_codes \
         WHERE platform = $1 AND platform_user_id = $2 AND origin = $3 AND expires_at > $4"
    ))
    .bind(platform)
    .bind(platform_user_id)
    .bind(origin)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Pending web codes of a client IP: how many, and when the oldest expires.
pub async fn pending_web_for_group(
    conn: &mut Conn,
    client_group: &str,
    now: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), MIN(expires_at) FROM login_codes WHERE origin = 'web' AND client_group = $1 AND expires_at > $2",
    )
    .bind(client_group)
    .bind(now)
    .fetch_one(conn)
    .await
}

pub struct NewCode<'a> {
    pub code: &'a str,
    pub origin: &'a str,
    pub platform: &'a str,
    pub platform_user_id: &'a str,
    pub platform_username: Option<&'a str>,
    pub platform_avatar_url: Option<&'a str>,
    /// The requester's address group (web codes only): what the pending-code limit counts.
    pub client_group: Option<&'a str>,
    pub bot_id: Option<i64>,
    pub now: i64,
    pub expires_at: i64,
}

/// Inserts a code unless it would clash (with a code of the identity and origin that still stands,
/// pending or expired and not yet swept, or with the same drawn code) or its client IP already
/// has `max_pending_per_ip` pending web codes. `None` when it was not inserted.
pub async fn insert(conn: &mut Conn, c: NewCode<'_>, max_pending_per_ip: i64) -> Result<Option<CodeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO login_codes (code, origin, platform, platform_user_id, platform_username, platform_avatar_url, \
         client_group, bot_id, created_at, expires_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
         WHERE (SELECT COUNT(*) FROM login_codes WHERE origin = 'web' AND client_group = $7 AND expires_at > $9) < $11 \
         ON CONFLICT DO NOTHING RETURNING {CODE_COLUMNS}"
    ))
    .bind(c.code)
    .bind(c.origin)
    .bind(c.platform)
    .bind(c.platform_user_id)
    .bind(c.platform_username)
    .bind(c.platform_avatar_url)
    .bind(c.client_group)
    .bind(c.bot_id)
    .bind(c.now)
    .bind(c.expires_at)
    .bind(max_pending_per_ip)
    .fetch_optional(conn)
    .await
}

/// Drops the identity's expired code of one origin, which would block a new one.
pub async fn delete_expired_of(
    conn: &mut Conn,
    platform: &str,
    platform_user_id: &str,
    origin: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM login_codes WHERE platform = $1 AND platform_user_id = $2 AND origin = $3 AND expires_at <= $4",
    )
    .bind(platform)
    .bind(platform_user_id)
    .bind(origin)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A code as a bot's report left it.
#[derive(Debug, FromRow)]
pub struct ReportedCode {
    #[sqlx(flatten)]
    pub code: CodeRow,
    /// 1 when the identity's linked platform still holds another name or avatar than the report.
    pub link_differs: i64,
}

/// A bot reported the identity's current name and avatar: keep them with its codes, which are
/// returned (pending or expired), each saying whether the identity's link needs the same refresh.
pub async fn remember_profile(
    conn: &mut Conn,
    platform: &str,
    platform_user_id: &str,
    username: &str,
    avatar_url: Option<&str>,
) -> Result<Vec<ReportedCode>, sqlx::Error> {
    // Asking for the link here spares a report the link's own update when nothing changed.
    static REMEMBER: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE login_codes SET platform_username = $3, platform_avatar_url = $4 \
             WHERE platform = $1 AND platform_user_id = $2 RETURNING {CODE_COLUMNS}, \
             (SELECT COUNT(*) FROM linked_platforms l WHERE {LINK_DIFFERS_FROM_REPORT}) AS link_differs"
        )
    });
    sqlx::query_as(&REMEMBER)
        .bind(platform)
        .bind(platform_user_id)
        .bind(username)
        .bind(avatar_url)
        .fetch_all(conn)
        .await
}

/// Uses a pending code: deletes it with every other code of its identity (a verify voids the
/// rest) and returns what was deleted; empty when no pending code is `code`.
pub async fn consume(conn: &mut Conn, code: &str, now: i64) -> Result<Vec<CodeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "DELETE FROM login_codes WHERE (platform, platform_user_id) IN \
         (SELECT platform, platform_user_id FROM login_codes WHERE code = $1 AND expires_at > $2) \
         RETURNING {CODE_COLUMNS}"
    ))
    .bind(code)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Drops the codes of every identity of a user (a ban or a delete).
pub async fn delete_for_user(conn: &mut Conn, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM login_codes WHERE EXISTS (SELECT 1 FROM linked_platforms l WHERE l.user_id = $1 \
         AND l.platform = login_codes.platform AND l.platform_user_id = login_codes.platform_user_id)",
    )
    .bind(user_id)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM login_codes WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

//! Notifications to users and their per-user read marks. A targeted notification has `user_id`
//! set; a broadcast has none and is visible to every user created no later than it
//! (80-notifications-portal §1.2).

use sqlx::FromRow;

use super::Conn;

/// A notification as one user sees it: `read_at` is that user's read mark.
#[derive(Debug, Clone, FromRow)]
pub struct NotificationRow {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub kind: String,
    pub read_at: Option<i64>,
    pub created_at: i64,
    pub created_by: Option<i64>,
    pub is_broadcast: i64,
}

/// The notifications visible to user `$1` created at `$2`, each with that user's read mark.
/// A `WHERE` clause always follows, so `INSERT … SELECT … ON CONFLICT` parses in SQLite too.
const VISIBLE_TO: &str = "FROM notifications n \
    LEFT JOIN notification_reads r ON r.notification_id = n.id AND r.user_id = $1 \
    WHERE (n.user_id = $1 OR (n.is_broadcast = 1 AND n.created_at >= $2))";

const COLUMNS: &str = "n.id, n.title, n.body, n.type AS kind, r.read_at, n.created_at, n.created_by, n.is_broadcast";

/// A notification for one user, or for everyone (a broadcast) when `recipient` is `None`.
pub async fn insert(
    conn: &mut Conn,
    recipient: Option<i64>,
    title: &str,
    body: &str,
    kind: &str,
    created_by: Option<i64>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO notifications (user_id, title, body, type, is_broadcast, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(recipient)
    .bind(title)
    .bind(body)
    .bind(kind)
    .bind(i64::from(recipient.is_none()))
    .bind(created_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// A page of the user's notifications, newest first.
pub async fn page_for(
    conn: &mut Conn,
    user_id: i64,
    user_created_at: i64,
    offset: i64,
    limit: i64,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} {VISIBLE_TO} ORDER BY n.created_at DESC, n.id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(user_id)
    .bind(user_created_at)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await
}

/// How many notifications the user sees, and how many of those they have not read.
pub async fn counts_for(conn: &mut Conn, user_id: i64, user_created_at: i64) -> Result<(i64, i64), sqlx::Error> {
    let (total, read): (i64, i64) = sqlx::query_as(&format!("SELECT COUNT(*), COUNT(r.id) {VISIBLE_TO}"))
        .bind(user_id)
        .bind(user_created_at)
        .fetch_one(conn)
        .await?;
    Ok((total, total - read))
}

/// One notification if the user sees it.
pub async fn visible_by_id(
    conn: &mut Conn,
    user_id: i64,
    user_created_at: i64,
    id: i64,
) -> Result<Option<NotificationRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} {VISIBLE_TO} AND n.id = $3"))
        .bind(user_id)
        .bind(user_created_at)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Marks one notification read for the user; `false` when it already was.
pub async fn mark_read(conn: &mut Conn, user_id: i64, notification_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO notification_reads (notification_id, user_id, read_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, notification_id) DO NOTHING",
    )
    .bind(notification_id)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks every unread notification the user sees as read at `now`; returns how many.
pub async fn mark_all_read(conn: &mut Conn, user_id: i64, user_created_at: i64, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&format!(
        "INSERT INTO notification_reads (notification_id, user_id, read_at) \
         SELECT n.id, $1, $3 {VISIBLE_TO} AND r.id IS NULL \
         ON CONFLICT (user_id, notification_id) DO NOTHING"
    ))
    .bind(user_id)
    .bind(user_created_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The users a broadcast sent at `now` reaches: every registered user created no later than it
/// (strangers see no notification, 91-matchmaking §2.3).
pub async fn broadcast_audience(conn: &mut Conn, now: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE created_at <= $1 AND kind = 'registered'")
        .bind(now)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

//! History records shown in the staff view of a user: moderation actions, subscription changes
//! and permission changes.

use sqlx::FromRow;

use super::Conn;
use crate::action_type::ActionType;

#[derive(Debug, Clone, FromRow)]
pub struct ModerationRow {
    pub id: i64,
    pub user_id: i64,
    #[sqlx(try_from = "String")]
    pub action_type: ActionType,
    pub reason: Option<String>,
    pub chat_id: Option<i64>,
    pub issued_by_id: Option<i64>,
    pub is_lifted: i64,
    pub expires_at: Option<i64>,
    pub lifted_at: Option<i64>,
    pub lifted_by_id: Option<i64>,
    pub created_at: i64,
}

const MODERATION_COLUMNS: &str = "id, user_id, action_type, reason, chat_id, issued_by_id, is_lifted, \
    expires_at, lifted_at, lifted_by_id, created_at";

#[derive(Debug, Clone, FromRow)]
pub struct SubscriptionHistoryRow {
    pub id: i64,
    pub old_tier: i64,
    pub new_tier: i64,
    pub reason: Option<String>,
    pub granted_by_id: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct PermissionHistoryRow {
    pub id: i64,
    pub old_level: i64,
    pub new_level: i64,
    pub reason: Option<String>,
    pub changed_by_id: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct ChatBriefRow {
    pub id: i64,
    pub name: String,
    pub visibility: String,
    pub created_at: i64,
}

pub async fn moderation_of(
    conn: &mut Conn,
    user_id: i64,
    offset: i64,
    limit: i64,
) -> Result<Vec<ModerationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {MODERATION_COLUMNS} FROM moderation_actions WHERE user_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await
}

pub async fn count_moderation_of(conn: &mut Conn, user_id: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM moderation_actions WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

pub struct NewModeration<'a> {
    pub user_id: i64,
    pub action_type: ActionType,
    pub reason: Option<&'a str>,
    pub chat_id: Option<i64>,
    pub issued_by_id: Option<i64>,
    pub expires_at: Option<i64>,
    pub now: i64,
}

pub async fn insert_moderation(conn: &mut Conn, row: NewModeration<'_>) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO moderation_actions (user_id, action_type, reason, chat_id, issued_by_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(row.user_id)
    .bind(row.action_type.as_str())
    .bind(row.reason)
    .bind(row.chat_id)
    .bind(row.issued_by_id)
    .bind(row.expires_at)
    .bind(row.now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Lifts the user's actions of a type that are in force now, only those of one chat when
/// `chat_id` is given; returns the ids lifted.
pub async fn lift_in_force(
    conn: &mut Conn,
    user_id: i64,
    action_type: ActionType,
    chat_id: Option<i64>,
    lifted_by: Option<i64>,
    reason: Option<&str>,
    now: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "UPDATE moderation_actions SET is_lifted = 1, lifted_at = $3, lifted_by_id = $4, lift_reason = $5 \
         WHERE user_id = $1 AND action_type = $2 AND ($6 IS NULL OR chat_id = $6) AND is_lifted = 0 \
         AND (expires_at IS NULL OR expires_at > $3) RETURNING id",
    )
    .bind(user_id)
    .bind(action_type.as_str())
    .bind(now)
    .bind(lifted_by)
    .bind(reason)
    .bind(chat_id)
    .fetch_all(conn)
    .await?;
    let mut ids: Vec<i64> = rows.into_iter().map(|(id,)| id).collect();
    ids.sort_unstable();
    Ok(ids)
}

pub async fn subscription_history_of(
    conn: &mut Conn,
    user_id: i64,
    limit: i64,
) -> Result<Vec<SubscriptionHistoryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, old_tier, new_tier, reason, granted_by_id, created_at FROM subscription_history \
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The two histories of a user's standing, which share one shape: from one value to another, why,
/// by whom (`None`: the system or the command-line tool), when.
#[derive(Debug, Clone, Copy)]
pub enum History {
    /// Tiers, in `subscription_history` (`granted_by_id`).
    Subscription,
    /// Levels, in `permission_history` (`changed_by_id`).
    Permission,
}

pub struct HistoryEntry<'a> {
    pub user_id: i64,
    pub old: i64,
    pub new: i64,
    pub reason: Option<&'a str>,
    pub by: Option<i64>,
    pub now: i64,
}

/// Records one change in a user's history; returns the row's id.
pub async fn insert_history(conn: &mut Conn, history: History, entry: HistoryEntry<'_>) -> Result<i64, sqlx::Error> {
    let sql = match history {
        History::Subscription => {
            "INSERT INTO subscription_history (user_id, old_tier, new_tier, reason, granted_by_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
        }
        History::Permission => {
            "INSERT INTO permission_history (user_id, old_level, new_level, reason, changed_by_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
        }
    };
    let (id,): (i64,) = sqlx::query_as(sql)
        .bind(entry.user_id)
        .bind(entry.old)
        .bind(entry.new)
        .bind(entry.reason)
        .bind(entry.by)
        .bind(entry.now)
        .fetch_one(conn)
        .await?;
    Ok(id)
}

pub async fn permission_history_of(
    conn: &mut Conn,
    user_id: i64,
    limit: i64,
) -> Result<Vec<PermissionHistoryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, old_level, new_level, reason, changed_by_id, created_at FROM permission_history \
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn chats_owned_by(conn: &mut Conn, owner_id: i64, limit: i64) -> Result<Vec<ChatBriefRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, visibility, created_at FROM chats WHERE owner_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(owner_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn moderation_by_id(conn: &mut Conn, id: i64) -> Result<Option<ModerationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {MODERATION_COLUMNS} FROM moderation_actions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Lifts the user's in-force actions of a type other than `new_id`, as superseded by it; returns
/// the ids lifted.
pub async fn supersede_in_force(
    conn: &mut Conn,
    user_id: i64,
    action_type: ActionType,
    new_id: i64,
    lifted_by: Option<i64>,
    now: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "UPDATE moderation_actions SET is_lifted = 1, lifted_at = $3, lifted_by_id = $4, lift_reason = $5 \
         WHERE user_id = $1 AND action_type = $2 AND id <> $6 AND is_lifted = 0 \
         AND (expires_at IS NULL OR expires_at > $3) RETURNING id",
    )
    .bind(user_id)
    .bind(action_type.as_str())
    .bind(now)
    .bind(lifted_by)
    .bind(format!("superseded by action {new_id}"))
    .bind(new_id)
    .fetch_all(conn)
    .await?;
    let mut ids: Vec<i64> = rows.into_iter().map(|(id,)| id).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Filters of the moderation search; `None` leaves a filter out.
#[derive(Debug, Default)]
pub struct ModerationFilter {
    pub user_id: Option<i64>,
    pub issued_by: Option<i64>,
    pub action_type: Option<ActionType>,
    pub chat_id: Option<i64>,
    pub active_only: bool,
}

/// A page of matching actions, newest first, and the number of all matches.
pub async fn search_moderation(
    conn: &mut Conn,
    filter: &ModerationFilter,
    now: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ModerationRow>, i64), sqlx::Error> {
    let condition = "($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR issued_by_id = $2) \
        AND ($3 IS NULL OR action_type = $3) AND ($4 IS NULL OR chat_id = $4) \
        AND ($5 = 0 OR (is_lifted = 0 AND (expires_at IS NULL OR expires_at > $6)))";
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM moderation_actions WHERE {condition}"))
        .bind(filter.user_id)
        .bind(filter.issued_by)
        .bind(filter.action_type.map(ActionType::as_str))
        .bind(filter.chat_id)
        .bind(super::flag(filter.active_only))
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {MODERATION_COLUMNS} FROM moderation_actions WHERE {condition} \
         ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"
    ))
    .bind(filter.user_id)
    .bind(filter.issued_by)
    .bind(filter.action_type.map(ActionType::as_str))
    .bind(filter.chat_id)
    .bind(super::flag(filter.active_only))
    .bind(now)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

pub async fn permission_history_by_id(conn: &mut Conn, id: i64) -> Result<Option<PermissionHistoryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, old_level, new_level, reason, changed_by_id, created_at FROM permission_history WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

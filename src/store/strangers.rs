//! Strangers (91-matchmaking §2) and the stranger blocks that keep them from matchmaking (§5.3).

use sqlx::FromRow;

use super::{Backend, Conn};

/// The end of the latest stranger block in force at `now` that names `user_id` or covers
/// `address_group`: `None` when no block is in force, `Some(None)` when one is permanent.
pub async fn block_in_force(
    conn: &mut Conn,
    user_id: Option<i64>,
    address_group: &str,
    now: i64,
) -> Result<Option<Option<i64>>, sqlx::Error> {
    let ends: Vec<(Option<i64>,)> = sqlx::query_as(&format!(
        "SELECT expires_at FROM stranger_blocks WHERE {} AND (user_id = $2 OR address_group = $3)",
        in_force_at(1)
    ))
    .bind(now)
    .bind(user_id.unwrap_or(0))
    .bind(address_group)
    .fetch_all(conn)
    .await?;
    Ok(latest_end(ends.into_iter().map(|(end,)| end)))
}

/// Several blocks in force last until the latest end, or for ever if one has none.
fn latest_end(ends: impl Iterator<Item = Option<i64>>) -> Option<Option<i64>> {
    ends.fold(None, |latest, end| match (latest, end) {
        (None, end) => Some(end),
        (Some(None), _) | (_, None) => Some(None),
        (Some(Some(a)), Some(b)) => Some(Some(a.max(b))),
    })
}

/// A stranger as a block needs them: the name shown in the block and the address group it covers.
#[derive(Debug, Clone, FromRow)]
pub struct StrangerRow {
    pub id: i64,
    pub username: String,
    pub created_from_group: Option<String>,
}

/// The user `id` when it is a stranger.
pub async fn stranger_by_id(conn: &mut Conn, id: i64) -> Result<Option<StrangerRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, username, created_from_group FROM users WHERE id = $1 AND kind = 'stranger'")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A stranger block as staff see it: every column but the address group and the lift reason,
/// which are stored for the server's own use and never read back out (91-matchmaking §6.5).
#[derive(Debug, Clone, FromRow)]
pub struct BlockRow {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub reason: String,
    pub issued_by_id: i64,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub lifted_at: Option<i64>,
    pub lifted_by_id: Option<i64>,
}

const BLOCK_COLUMNS: &str =
    "id, user_id, username, reason, issued_by_id, created_at, expires_at, lifted_at, lifted_by_id";

/// A block in force at `$n`: not lifted, and permanent or not yet ended.
fn in_force_at(n: u8) -> String {
    format!("lifted_at IS NULL AND (expires_at IS NULL OR expires_at > ${n})")
}

pub struct NewBlock<'a> {
    pub user_id: i64,
    pub username: &'a str,
    pub address_group: &'a str,
    pub reason: &'a str,
    pub issued_by_id: i64,
    /// `None`: permanent.
    pub expires_at: Option<i64>,
    pub now: i64,
}

pub async fn insert_block(conn: &mut Conn, block: &NewBlock<'_>) -> Result<BlockRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO stranger_blocks (user_id, username, address_group, reason, issued_by_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {BLOCK_COLUMNS}"
    ))
    .bind(block.user_id)
    .bind(block.username)
    .bind(block.address_group)
    .bind(block.reason)
    .bind(block.issued_by_id)
    .bind(block.now)
    .bind(block.expires_at)
    .fetch_one(conn)
    .await
}

pub async fn block_by_id(conn: &mut Conn, id: i64) -> Result<Option<BlockRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BLOCK_COLUMNS} FROM stranger_blocks WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Lifts a block in force at `now`; the block as it now is, or `None` when it does not exist or is
/// not in force (checked by the write itself, so of two lifts at once only one succeeds).
pub async fn lift_block(
    conn: &mut Conn,
    id: i64,
    lifted_by_id: i64,
    lift_reason: &str,
    now: i64,
) -> Result<Option<BlockRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE stranger_blocks SET lifted_at = $2, lifted_by_id = $3, lift_reason = $4 \
         WHERE id = $1 AND {} RETURNING {BLOCK_COLUMNS}",
        in_force_at(2)
    ))
    .bind(id)
    .bind(now)
    .bind(lifted_by_id)
    .bind(lift_reason)
    .fetch_optional(conn)
    .await
}

/// Filters of the staff list.
#[derive(Debug, Default)]
pub struct BlockFilter {
    pub user_id: Option<i64>,
    pub active_only: bool,
}

/// A page of matching blocks, newest first, and the number of all matches.
pub async fn search_blocks(
    conn: &mut Conn,
    filter: &BlockFilter,
    now: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<BlockRow>, i64), sqlx::Error> {
    let condition = format!("($1 IS NULL OR user_id = $1) AND ($2 = 0 OR ({}))", in_force_at(3));
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM stranger_blocks WHERE {condition}"))
        .bind(filter.user_id)
        .bind(super::flag(filter.active_only))
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {BLOCK_COLUMNS} FROM stranger_blocks WHERE {condition} \
         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(filter.user_id)
    .bind(super::flag(filter.active_only))
    .bind(now)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

/// Serialises stranger creations from one address group until the transaction ends, so that the
/// count and the creation of `POST /v1/authentication/stranger` are one step on any number of
/// nodes (91-matchmaking §8.1). PostgreSQL takes a transaction-scoped advisory lock on the group
/// (the first key sets these locks apart from any other); SQLite needs none, since its write
/// transactions already run one at a time.
pub async fn lock_group(conn: &mut Conn, backend: Backend, address_group: &str) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(91, hashtext($1))")
            .bind(address_group)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// How many strangers the group created after `since`, and when the oldest of them was created.
pub async fn creations_since(
    conn: &mut Conn,
    address_group: &str,
    since: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM stranger_creations WHERE address_group = $1 AND created_at > $2",
    )
    .bind(address_group)
    .bind(since)
    .fetch_one(conn)
    .await
}

/// Counts one creation for the group; creations up to `forget_before` are no longer needed.
pub async fn record_creation(
    conn: &mut Conn,
    address_group: &str,
    now: i64,
    forget_before: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM stranger_creations WHERE address_group = $1 AND created_at <= $2")
        .bind(address_group)
        .bind(forget_before)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO stranger_creations (address_group, created_at) VALUES ($1, $2)")
        .bind(address_group)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Strangers that may go (91-matchmaking §2.4): no direct chat they took part in is left, and their
/// session ended (by an end or its expiry) at or before `ended_by`, which is in the past, so it is
/// no longer live. A stranger whose session row was already pruned counts from its creation.
pub async fn ended_by(conn: &mut Conn, ended_by: i64) -> Result<Vec<i64>, sqlx::Error> {
    let ids: Vec<(i64,)> = sqlx::query_as(
        "SELECT u.id FROM users u WHERE u.kind = 'stranger' \
         AND NOT EXISTS (SELECT 1 FROM direct_participants p WHERE p.user_id = u.id) \
         AND COALESCE((SELECT MAX(CASE WHEN s.ended_at IS NULL THEN s.expires_at ELSE s.ended_at END) \
             FROM sessions s WHERE s.user_id = u.id), u.created_at) <= $1 \
         ORDER BY u.id",
    )
    .bind(ended_by)
    .fetch_all(conn)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

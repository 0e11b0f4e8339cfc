//! Strangers (91-matchmaking §2) and the stranger blocks that keep them from matchmaking (§5.3).

use super::{Backend, Conn};

/// The end of the latest stranger block in force at `now` that names `user_id` or covers
/// `address_group`: `None` when no block is in force, `Some(None)` when one is permanent.
pub async fn block_in_force(
    conn: &mut Conn,
    user_id: Option<i64>,
    address_group: &str,
    now: i64,
) -> Result<Option<Option<i64>>, sqlx::Error> {
    let ends: Vec<(Option<i64>,)> = sqlx::query_as(
        "SELECT expires_at FROM stranger_blocks \
         WHERE lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $1) \
         AND (user_id = $2 OR address_group = $3)",
    )
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

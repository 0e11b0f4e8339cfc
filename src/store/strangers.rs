//! Strangers (91-matchmaking §2) and the stranger blocks that keep them from matchmaking (§5.3).

use super::Conn;

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

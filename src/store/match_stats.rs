//! The staff counters of matchmaking (91-matchmaking §6.6). Every deadline is applied here, at
//! `now`, rather than trusted to have been written: a queue entry or a direct chat whose deadline
//! has passed is counted in its new state even while the sweep that writes it is still to come
//! (§7, "Timing").

use sqlx::FromRow;

use super::matchmaking::{live_entry, Moments};
use super::Conn;

/// The deadlines the counts apply, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Graces {
    /// How long a participant may stay away before their chat ends (`match.reconnect_grace_s`).
    pub reconnect: i64,
    /// How long an ended chat stays archived (`match.archive_ttl_s`).
    pub archive: i64,
}

/// Callers with a queue entry still waiting at `at`.
pub async fn searching_count(conn: &mut Conn, at: Moments) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM match_entries e WHERE {}",
        live_entry("$1", "$2")
    ))
    .bind(at.now)
    .bind(at.entry_away_cutoff)
    .fetch_one(conn)
    .await?;
    Ok(count)
}

#[derive(Debug, Clone, FromRow)]
pub struct TagQueue {
    pub tag: String,
    pub waiting: i64,
}

/// The tags with waiting callers at `at`, most waiting first, then by tag; at most `limit`.
pub async fn queues(conn: &mut Conn, at: Moments, limit: i64) -> Result<Vec<TagQueue>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT t.tag AS tag, COUNT(*) AS waiting FROM match_entry_tags t \
         JOIN match_entries e ON e.id = t.entry_id WHERE {} \
         GROUP BY t.tag ORDER BY waiting DESC, tag ASC LIMIT $3",
        live_entry("$1", "$2")
    ))
    .bind(at.now)
    .bind(at.entry_away_cutoff)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Direct chats active and archived at `now`: (active, archived). A chat not yet written as ended
/// ends at its `expires_at` or at the earliest reconnect deadline of its participants, whichever
/// comes first, and from then on is archived until that end plus the archive time; a chat written
/// as ended is archived until its `deletes_at`. A chat past its deletion is not counted.
pub async fn direct_chat_counts(conn: &mut Conn, now: i64, graces: Graces) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(CASE WHEN ended_at IS NULL AND due_end > $1 THEN 1 END), \
                COUNT(CASE WHEN (ended_at IS NOT NULL AND deletes_at > $1) \
                             OR (ended_at IS NULL AND due_end <= $1 AND due_end + $3 > $1) THEN 1 END) \
         FROM (SELECT c.ended_at AS ended_at, c.deletes_at AS deletes_at, \
                      CASE WHEN a.first_away + $2 < c.expires_at THEN a.first_away + $2 \
                           ELSE c.expires_at END AS due_end \
               FROM chats c LEFT JOIN (SELECT chat_id, MIN(away_since) AS first_away \
                                       FROM direct_participants GROUP BY chat_id) a ON a.chat_id = c.id \
               WHERE c.chat_type = 'direct') d",
    )
    .bind(now)
    .bind(graces.reconnect)
    .bind(graces.archive)
    .fetch_one(conn)
    .await
}

/// Strangers whose session is live at `now`.
pub async fn stranger_count(conn: &mut Conn, now: i64) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users u WHERE u.kind = 'stranger' AND EXISTS \
         (SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.ended_at IS NULL AND s.expires_at > $1)",
    )
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(count)
}

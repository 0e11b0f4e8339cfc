//! The matchmaking queue, direct chats' participants and pair blocks (91-matchmaking).
//!
//! Deadlines hold for every read before anything is written (§7), so the reads here take the
//! moments that decide them: `now`, and the cut-offs before which an away caller's entry or an
//! away participant's chat is over.

use sqlx::FromRow;

use super::{Backend, Conn};

#[derive(Debug, Clone, FromRow)]
pub struct EntryRow {
    pub id: i64,
    pub user_id: i64,
    pub session_id: i64,
    /// JSON array of the tags, in the caller's order.
    pub interests: String,
    pub country_code: Option<String>,
    pub enqueued_at: i64,
    pub expires_at: i64,
    pub away_since: Option<i64>,
}

const ENTRY_COLUMNS: &str =
    "e.id, e.user_id, e.session_id, e.interests, e.country_code, e.enqueued_at, e.expires_at, e.away_since";

/// An entry takes part in the queue while its deadline is ahead and its caller has not been away
/// since `$away_cutoff` or earlier. `{now}` and `{cutoff}` name the placeholders.
const LIVE_ENTRY: &str = "e.expires_at > {now} AND (e.away_since IS NULL OR e.away_since > {cutoff})";

pub(super) fn live_entry(now: &str, cutoff: &str) -> String {
    LIVE_ENTRY.replace("{now}", now).replace("{cutoff}", cutoff)
}

/// The moments that decide what is still alive at `now` (91-matchmaking §3.2, §4.6).
#[derive(Debug, Clone, Copy)]
pub struct Moments {
    pub now: i64,
    /// An entry whose caller has been away since this moment or earlier is gone.
    pub entry_away_cutoff: i64,
    /// A chat one of whose participants has been away since this moment or earlier has ended.
    pub chat_away_cutoff: i64,
}

/// A direct chat is active while not archived, before its `expires_at`, and while neither
/// participant has stayed away past the reconnect grace. `{now}` and `{cutoff}` name the
/// placeholders; `c` is the chat.
const ACTIVE_CHAT: &str = "c.chat_type = 'direct' AND c.is_archived = 0 AND c.expires_at > {now} \
    AND NOT EXISTS (SELECT 1 FROM direct_participants q WHERE q.chat_id = c.id AND q.away_since <= {cutoff})";

fn active_chat(now: &str, cutoff: &str) -> String {
    ACTIVE_CHAT.replace("{now}", now).replace("{cutoff}", cutoff)
}

pub struct NewEntry<'a> {
    pub user_id: i64,
    pub session_id: i64,
    pub tags: &'a [String],
    pub country_code: Option<&'a str>,
    pub enqueued_at: i64,
    pub expires_at: i64,
    pub away_since: Option<i64>,
}

impl NewEntry<'_> {
    fn interests(&self) -> String {
        serde_json::to_string(self.tags).unwrap_or_else(|_| "[]".into())
    }

    /// The row `insert_entry` wrote for this entry as number `id`.
    pub fn written_as(&self, id: i64) -> EntryRow {
        EntryRow {
            id,
            user_id: self.user_id,
            session_id: self.session_id,
            interests: self.interests(),
            country_code: self.country_code.map(str::to_owned),
            enqueued_at: self.enqueued_at,
            expires_at: self.expires_at,
            away_since: self.away_since,
        }
    }
}

/// Writes the user's entry and its place in each tag's queue; `None` when the user has one.
pub async fn insert_entry(conn: &mut Conn, entry: &NewEntry<'_>) -> Result<Option<i64>, sqlx::Error> {
    let interests = entry.interests();
    let id: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO match_entries (user_id, session_id, interests, country_code, enqueued_at, expires_at, away_since) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id) DO NOTHING RETURNING id",
    )
    .bind(entry.user_id)
    .bind(entry.session_id)
    .bind(&interests)
    .bind(entry.country_code)
    .bind(entry.enqueued_at)
    .bind(entry.expires_at)
    .bind(entry.away_since)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id,)) = id else { return Ok(None) };
    for tag in entry.tags {
        sqlx::query("INSERT INTO match_entry_tags (tag, entry_id) VALUES ($1, $2)")
            .bind(tag)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Some(id))
}

/// The user's entry row, alive or not.
pub async fn entry_of(conn: &mut Conn, user_id: i64) -> Result<Option<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM match_entries e WHERE e.user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// Removes the user's queue entry; its interests when there was one.
pub async fn delete_entry(conn: &mut Conn, user_id: i64) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("DELETE FROM match_entries WHERE user_id = $1 RETURNING interests")
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(interests,)| interests))
}

/// Removes entry `id` if it is still the same row; `true` when this call removed it.
pub async fn delete_entry_by_id(conn: &mut Conn, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM match_entries WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Live entries of other users that share a tag with `tags` and whose pair with `user_id` is not
/// blocked, earliest written first (§3.5); at most `limit`. The read starts from the queues of the
/// caller's tags (`match_entry_tags`, one per tag), so callers waiting on other tags cost nothing:
/// walking the whole queue in order and testing each entry's tags made every enqueue read every
/// waiting entry.
pub async fn candidates(
    conn: &mut Conn,
    user_id: i64,
    tags: &[String],
    at: Moments,
    limit: i64,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    // One to three tags; the list is padded with the first so that one statement serves all.
    let tag = |i: usize| tags.get(i).or(tags.first()).cloned().unwrap_or_default();
    sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM match_entries e \
         WHERE e.id IN (SELECT t.entry_id FROM match_entry_tags t WHERE t.tag IN ($4, $5, $6)) \
         AND e.user_id <> $1 AND {} \
         AND NOT EXISTS (SELECT 1 FROM pair_blocks b WHERE (b.expires_at IS NULL OR b.expires_at > $2) \
             AND ((b.low_user_id = e.user_id AND b.high_user_id = $1) OR (b.low_user_id = $1 AND b.high_user_id = e.user_id))) \
         ORDER BY e.enqueued_at, e.id LIMIT $7",
        live_entry("$2", "$3")
    ))
    .bind(user_id)
    .bind(at.now)
    .bind(at.entry_away_cutoff)
    .bind(tag(0))
    .bind(tag(1))
    .bind(tag(2))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Whether another claim holds one of a claim's two entries, found without waiting for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Neither is held by another claim: this transaction holds both, or one is gone (the delete
    /// tells).
    Free,
    /// The caller's own entry is held by another claim, or gone.
    CallerHeld,
    /// The candidate's entry is held by another claim, or gone.
    CandidateHeld,
}

/// Locks the caller's and the candidate's entries for this transaction, skipping either one that
/// another claim holds (PostgreSQL: `FOR UPDATE SKIP LOCKED`, §3.5), so that callers racing for
/// the head of a queue take different candidates instead of queueing behind each other's claims.
/// SQLite runs one write transaction at a time, so no other claim can hold either.
pub async fn hold(conn: &mut Conn, backend: Backend, caller: i64, candidate: i64) -> Result<Hold, sqlx::Error> {
    if backend != Backend::Postgres {
        return Ok(Hold::Free);
    }
    let held: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM match_entries WHERE id IN ($1, $2) ORDER BY id FOR UPDATE SKIP LOCKED")
            .bind(caller)
            .bind(candidate)
            .fetch_all(conn)
            .await?;
    let holds = |id: i64| held.iter().any(|(h,)| *h == id);
    Ok(match (holds(caller), holds(candidate)) {
        (false, _) => Hold::CallerHeld,
        (true, false) => Hold::CandidateHeld,
        (true, true) => Hold::Free,
    })
}

/// Deletes both entries of a claim; `true` only when both still existed (§3.5).
pub async fn claim_entries(conn: &mut Conn, first: i64, second: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM match_entries WHERE id IN ($1, $2)")
        .bind(first)
        .bind(second)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 2)
}

/// Whether a pair block between the two users is in force.
pub async fn pair_blocked(conn: &mut Conn, a: i64, b: i64, now: i64) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM pair_blocks WHERE low_user_id = $1 AND high_user_id = $2 \
         AND (expires_at IS NULL OR expires_at > $3)",
    )
    .bind(a.min(b))
    .bind(a.max(b))
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Writes or renews the pair block between the two users (§5.1).
pub async fn block_pair(conn: &mut Conn, a: i64, b: i64, now: i64, expires_at: Option<i64>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pair_blocks (low_user_id, high_user_id, created_at, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (low_user_id, high_user_id) DO UPDATE SET created_at = $3, expires_at = $4",
    )
    .bind(a.min(b))
    .bind(a.max(b))
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The user's active direct chats.
pub async fn active_count(conn: &mut Conn, user_id: i64, at: Moments) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM direct_participants p JOIN chats c ON c.id = p.chat_id WHERE p.user_id = $1 AND {}",
        active_chat("$2", "$3")
    ))
    .bind(user_id)
    .bind(at.now)
    .bind(at.chat_away_cutoff)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// Whether the two users have an active direct chat together.
pub async fn active_together(conn: &mut Conn, a: i64, b: i64, at: Moments) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as(&format!(
        "SELECT c.id FROM chats c \
         JOIN direct_participants pa ON pa.chat_id = c.id AND pa.user_id = $1 \
         JOIN direct_participants pb ON pb.chat_id = c.id AND pb.user_id = $2 \
         WHERE {} LIMIT 1",
        active_chat("$3", "$4")
    ))
    .bind(a)
    .bind(b)
    .bind(at.now)
    .bind(at.chat_away_cutoff)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

pub struct NewDirectChat<'a> {
    pub name: &'a str,
    pub matched_on: &'a [String],
    pub created_at: i64,
    pub expires_at: i64,
}

/// Inserts a direct chat (§4.1) and returns its id.
pub async fn insert_chat(conn: &mut Conn, chat: &NewDirectChat<'_>) -> Result<i64, sqlx::Error> {
    let matched_on = serde_json::to_string(chat.matched_on).unwrap_or_else(|_| "[]".into());
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO chats (chat_type, name, owner_id, visibility, matched_on, expires_at, \
         last_activity_at, created_at, updated_at) \
         VALUES ('direct', $1, NULL, 'direct', $2, $3, $4, $4, $4) RETURNING id",
    )
    .bind(chat.name)
    .bind(&matched_on)
    .bind(chat.expires_at)
    .bind(chat.created_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// A participant record (§4.2).
#[derive(Debug, Clone, FromRow)]
pub struct ParticipantRow {
    pub chat_id: i64,
    pub user_id: i64,
    pub position: i64,
    pub token: String,
    pub username: String,
    pub avatar_url: Option<String>,
    pub is_stranger: i64,
    pub country_code: Option<String>,
    pub away_since: Option<i64>,
    pub grace_announced_until: Option<i64>,
}

const PARTICIPANT_COLUMNS: &str = "p.chat_id, p.user_id, p.position, p.token, p.username, p.avatar_url, \
    p.is_stranger, p.country_code, p.away_since, p.grace_announced_until";

pub async fn insert_participant(conn: &mut Conn, p: &ParticipantRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO direct_participants (chat_id, user_id, position, token, username, avatar_url, is_stranger, \
         country_code, away_since, grace_announced_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
    )
    .bind(p.chat_id)
    .bind(p.user_id)
    .bind(p.position)
    .bind(&p.token)
    .bind(&p.username)
    .bind(&p.avatar_url)
    .bind(p.is_stranger)
    .bind(&p.country_code)
    .bind(p.away_since)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The participants of the listed chats, by chat and position.
pub async fn participants_of(conn: &mut Conn, chat_ids: &[i64]) -> Result<Vec<ParticipantRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM direct_participants p WHERE p.chat_id IN ({{ids}}) \
         ORDER BY p.chat_id, p.position"
    );
    super::fetch_for_ids(conn, &sql, chat_ids, None).await
}

/// The ids of the user's direct chats that exist, active or archived, by id.
pub async fn chats_of(conn: &mut Conn, user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT chat_id FROM direct_participants WHERE user_id = $1 ORDER BY chat_id")
            .bind(user_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The ids of the user's active direct chats.
pub async fn active_chats_of(conn: &mut Conn, user_id: i64, at: Moments) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT c.id FROM direct_participants p JOIN chats c ON c.id = p.chat_id WHERE p.user_id = $1 AND {} \
         ORDER BY c.id",
        active_chat("$2", "$3")
    ))
    .bind(user_id)
    .bind(at.now)
    .bind(at.chat_away_cutoff)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The participant record a match token is bound to.
pub async fn by_token(conn: &mut Conn, token: &str) -> Result<Option<ParticipantRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM direct_participants p WHERE p.token = $1"
    ))
    .bind(token)
    .fetch_optional(conn)
    .await
}

/// Marks the chat ended (§4.6 step 1) if it is still active in the table; `false` when another
/// cause ended it first.
pub async fn end_chat(
    conn: &mut Conn,
    chat_id: i64,
    ended_at: i64,
    reason: &str,
    deletes_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE chats SET is_archived = 1, ended_at = $2, end_reason = $3, deletes_at = $4, updated_at = $5 \
         WHERE id = $1 AND chat_type = 'direct' AND is_archived = 0",
    )
    .bind(chat_id)
    .bind(ended_at)
    .bind(reason)
    .bind(deletes_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The user's queue entry and their places in active chats count as away from `since`, unless
/// already away.
pub async fn mark_away(conn: &mut Conn, user_id: i64, since: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE match_entries SET away_since = $2 WHERE user_id = $1 AND away_since IS NULL")
        .bind(user_id)
        .bind(since)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE direct_participants SET away_since = $2 WHERE user_id = $1 AND away_since IS NULL \
         AND chat_id IN (SELECT id FROM chats WHERE chat_type = 'direct' AND is_archived = 0)",
    )
    .bind(user_id)
    .bind(since)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Whether the user has anything a connection keeps alive: a queue entry, or a place in a chat
/// that is not archived.
pub async fn has_liveness(conn: &mut Conn, user_id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM match_entries WHERE user_id = $1 \
         UNION ALL SELECT 1 FROM direct_participants p JOIN chats c ON c.id = p.chat_id \
         WHERE p.user_id = $1 AND c.is_archived = 0 LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// The user is connected again: their entry and chats are no longer away. Returns the chats where
/// `room:peer_left` had announced a grace, so the peer is told of the return. Run in a
/// transaction: the first statement marks the announced rows (-1) as it clears them, so that
/// their old state is known without a second read that another node could race.
pub async fn mark_back(conn: &mut Conn, user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query("UPDATE match_entries SET away_since = NULL WHERE user_id = $1 AND away_since IS NOT NULL")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let cleared: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "UPDATE direct_participants SET away_since = NULL, \
         grace_announced_until = CASE WHEN grace_announced_until IS NULL THEN NULL ELSE -1 END \
         WHERE user_id = $1 AND away_since IS NOT NULL \
         AND chat_id IN (SELECT id FROM chats WHERE chat_type = 'direct' AND is_archived = 0) \
         RETURNING chat_id, grace_announced_until",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE direct_participants SET grace_announced_until = NULL WHERE user_id = $1 AND grace_announced_until = -1",
    )
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(cleared
        .into_iter()
        .filter(|(_, announced)| announced.is_some())
        .map(|(chat_id, _)| chat_id)
        .collect())
}

/// Entries past their deadline.
pub async fn entries_past_deadline(conn: &mut Conn, now: i64) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM match_entries e WHERE e.expires_at <= $1"
    ))
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Entries whose caller has been away since `cutoff` or earlier.
pub async fn entries_left_away(conn: &mut Conn, cutoff: i64) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM match_entries e WHERE e.away_since <= $1"
    ))
    .bind(cutoff)
    .fetch_all(conn)
    .await
}

/// Participants of chats still active in the table who have been away since `cutoff` or earlier
/// and whose grace is not announced yet.
pub async fn away_unannounced(conn: &mut Conn, cutoff: i64) -> Result<Vec<ParticipantRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM direct_participants p JOIN chats c ON c.id = p.chat_id \
         WHERE p.away_since <= $1 AND p.grace_announced_until IS NULL AND c.is_archived = 0"
    ))
    .bind(cutoff)
    .fetch_all(conn)
    .await
}

/// Records that `room:peer_left` announced the participant's deadline; `false` when they came
/// back, or another node announced it, first.
pub async fn announce_grace(
    conn: &mut Conn,
    chat_id: i64,
    user_id: i64,
    away_since: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE direct_participants SET grace_announced_until = $4 \
         WHERE chat_id = $1 AND user_id = $2 AND away_since = $3 AND grace_announced_until IS NULL",
    )
    .bind(chat_id)
    .bind(user_id)
    .bind(away_since)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Chats still active in the table that a deadline has ended: their expiry, or a participant away
/// since `away_cutoff` or earlier.
pub async fn chats_past_deadline(conn: &mut Conn, now: i64, away_cutoff: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT c.id FROM chats c WHERE c.chat_type = 'direct' AND c.is_archived = 0 AND (c.expires_at <= $1 \
         OR EXISTS (SELECT 1 FROM direct_participants q WHERE q.chat_id = c.id AND q.away_since <= $2))",
    )
    .bind(now)
    .bind(away_cutoff)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Archived direct chats due for deletion.
pub async fn chats_due_for_deletion(conn: &mut Conn, now: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM chats WHERE chat_type = 'direct' AND deletes_at <= $1")
        .bind(now)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The strangers the queue or an active chat still holds although none of their sessions is live
/// at `at.now`: their session expired while nothing was connected to notice (91-matchmaking §2.4).
pub async fn strangers_without_session(conn: &mut Conn, at: Moments) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT held.user_id FROM (SELECT user_id FROM match_entries \
         UNION SELECT p.user_id FROM direct_participants p JOIN chats c ON c.id = p.chat_id WHERE {}) held \
         JOIN users u ON u.id = held.user_id AND u.kind = 'stranger' \
         WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = held.user_id \
         AND s.ended_at IS NULL AND s.expires_at > $1) ORDER BY held.user_id",
        active_chat("$1", "$2")
    ))
    .bind(at.now)
    .bind(at.chat_away_cutoff)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The users the queue or an active chat holds as connected, for a node to check against where
/// connections are open.
pub async fn present_users(conn: &mut Conn) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM match_entries WHERE away_since IS NULL \
         UNION SELECT p.user_id FROM direct_participants p JOIN chats c ON c.id = p.chat_id \
         WHERE p.away_since IS NULL AND c.is_archived = 0",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The users the queue or an active chat holds as away, for a node to check against the
/// connections it hosts.
pub async fn away_users(conn: &mut Conn) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM match_entries WHERE away_since IS NOT NULL \
         UNION SELECT p.user_id FROM direct_participants p JOIN chats c ON c.id = p.chat_id \
         WHERE p.away_since IS NOT NULL AND c.is_archived = 0",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

//! Matchmaking (91-matchmaking): strangers, the queue, direct chats, blocks and reports, and the
//! fixtures its modules share.

mod staff;

use crate::common::{People, TestApp, SECOND};
use portal::store::match_reports::{NewReport, ReportParty};

/// The address group every fixture stranger was created from: it must never reach staff.
pub const STRANGER_GROUP: &str = "198.51.100.77";

/// A stranger with a live session: (id, token): a logged-in user whose kind is then changed in the
/// store, before the session's first request.
pub async fn stranger(people: &People<'_>, username: &str) -> (i64, String) {
    let (id, token) = people.at(&format!("stranger-{username}"), 0).await;
    make_stranger(people.t, id, username).await;
    (id, token)
}

/// Turns user `id` into a stranger named `username`, created from `STRANGER_GROUP`.
pub async fn make_stranger(t: &TestApp, id: i64, username: &str) {
    let mut conn = t.conn().await;
    sqlx::query(
        "UPDATE users SET kind = 'stranger', created_from_group = $2, username = $3, username_lower = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(STRANGER_GROUP)
    .bind(username)
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// A queue entry of `user_id` on `tags`, written `t`'s now, with its deadline `expires_in_s`
/// seconds away; `away_since_s_ago` `Some` when its caller has no open connection.
pub async fn queue_entry(t: &TestApp, user_id: i64, tags: &[&str], expires_in_s: i64, away_since_s_ago: Option<i64>) {
    let now = t.app.now();
    let mut conn = t.conn().await;
    let (entry,): (i64,) = sqlx::query_as(
        "INSERT INTO match_entries (user_id, session_id, interests, country_code, enqueued_at, expires_at, away_since) \
         VALUES ($1, 1, $2, NULL, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(serde_json::to_string(tags).unwrap())
    .bind(now)
    .bind(now + expires_in_s * SECOND)
    .bind(away_since_s_ago.map(|ago| now - ago * SECOND))
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    for tag in tags {
        sqlx::query("INSERT INTO match_entry_tags (tag, entry_id) VALUES ($1, $2)")
            .bind(*tag)
            .bind(entry)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

/// How a fixture direct chat stands, in seconds from `t`'s now.
pub struct DirectChat {
    pub expires_in_s: i64,
    /// `Some((ended_s_ago, deletes_in_s))` once written as ended.
    pub ended: Option<(i64, i64)>,
    /// How long ago each of the two participants went away, `None` while connected.
    pub away_s_ago: [Option<i64>; 2],
}

/// A direct chat between `users`, written in the store as a pairing and its end would write it;
/// its id.
pub async fn direct_chat(t: &TestApp, users: [i64; 2], chat: DirectChat) -> i64 {
    let now = t.app.now();
    let at = |s: i64| now + s * SECOND;
    let mut conn = t.conn().await;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO chats (chat_type, name, owner_id, visibility, is_archived, last_activity_at, created_at, \
         updated_at, matched_on, expires_at, ended_at, end_reason, deletes_at) \
         VALUES ('direct', 'neon-wanderer', NULL, 'direct', $1, $2, $2, $2, '[\"music\"]', $3, $4, $5, $6) RETURNING id",
    )
    .bind(i64::from(chat.ended.is_some()))
    .bind(now)
    .bind(at(chat.expires_in_s))
    .bind(chat.ended.map(|(ago, _)| at(-ago)))
    .bind(chat.ended.map(|_| "left"))
    .bind(chat.ended.map(|(_, deletes_in)| at(deletes_in)))
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    for (position, (user_id, away)) in users.iter().zip(chat.away_s_ago).enumerate() {
        sqlx::query(
            "INSERT INTO direct_participants (chat_id, user_id, position, token, username, avatar_url, \
             is_stranger, country_code, away_since) VALUES ($1, $2, $3, $4, $5, NULL, 0, NULL, $6)",
        )
        .bind(id)
        .bind(*user_id)
        .bind(position as i64)
        .bind(format!("token{id}x{position}"))
        .bind(format!("participant-{user_id}"))
        .bind(away.map(|ago| at(-ago)))
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    id
}

/// One participant's snapshot as a report records it.
pub fn party(user_id: i64, username: &str, is_stranger: bool, country_code: Option<&str>) -> ReportParty {
    ReportParty {
        user_id,
        username: username.to_owned(),
        is_stranger,
        country_code: country_code.map(str::to_owned),
    }
}

/// Stores a report through the store function the report endpoint uses; its id.
pub async fn report(t: &TestApp, chat_id: i64, reporter: &ReportParty, reported: &ReportParty, reason: &str) -> i64 {
    let now = t.app.now();
    let mut conn = t.conn().await;
    portal::store::match_reports::insert(
        &mut conn,
        &NewReport {
            chat_id,
            reporter,
            reported,
            reason,
            matched_on: &["music".to_owned(), "gaming".to_owned()],
            chat_created_at: now - 60 * SECOND,
            created_at: now,
        },
    )
    .await
    .unwrap()
}

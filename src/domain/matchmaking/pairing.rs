//! Pairing (91-matchmaking §3.4–3.6): once per enqueue, right after the caller's entry is
//! committed, the earliest compatible waiting entry is claimed together with the caller's in one
//! transaction that deletes both (and fails unless both were still there), checks the pair again
//! and creates the direct chat. Each of two racing callers searches only after its own entry is
//! committed, so at least one of them sees the other; the two-row delete lets only one claim take
//! an entry, on SQLite (whose write transactions are serial) and on PostgreSQL (whose row locks
//! make a second delete of the same row wait for the first and then find it gone).

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use super::liveness::is_connected;
use super::queue::stored_tags;
use super::{moments, slot_limit, MatchPeer};
use crate::crypto;
use crate::domain::app::App;
use crate::domain::presence;
use crate::domain::transport::messages::post_system;
use crate::domain::views::avatar_url;
use crate::error::ApiError;
use crate::names::adjective_noun;
use crate::store::matchmaking::{EntryRow, Hold, Moments, NewDirectChat, ParticipantRow};
use crate::store::users::{LinkedPlatformRow, UserRow};
use crate::store::{self, Conn};
use crate::time::{Timestamp, MICROS_PER_SECOND};
use crate::user_kind::UserKind;

/// Candidates read at a time; more are read while every one read so far fails its claim.
const CANDIDATES_PER_READ: i64 = 20;

enum Claim {
    Made(Box<Paired>),
    /// A concurrent pairing took the caller's own entry: the caller is matched already.
    CallerTaken,
    /// The candidate is gone or no longer compatible.
    Skipped,
    /// Another claim holds the candidate's entry; that claim may still fail.
    Held,
}

/// A pairing's chat and each participant's view of it, for `match:found`.
struct Paired {
    chat_id: i64,
    expires_at: i64,
    matched_on: Vec<String>,
    participants: [ParticipantRow; 2],
}

/// Tries to pair the caller's entry, just written (§3.5). The caller stays waiting when no
/// compatible entry can be claimed. A concurrent pairing may have taken the entry already: then
/// the first claim finds it gone and says so.
pub async fn pair(app: &Arc<App>, entry: &EntryRow) -> Result<(), ApiError> {
    let at = moments(app, app.now());
    let user_id = entry.user_id;
    let tags = stored_tags(&entry.interests);
    let mut tried: HashSet<i64> = HashSet::new();
    let mut held = Vec::new();
    loop {
        let read = CANDIDATES_PER_READ + tried.len() as i64;
        // No connection is held through the claims, which take one of their own.
        let mut conn = app.store.acquire().await?;
        let fresh: Vec<EntryRow> = store::matchmaking::candidates(&mut conn, user_id, &tags, at, read)
            .await?
            .into_iter()
            .filter(|candidate| !tried.contains(&candidate.id))
            .collect();
        drop(conn);
        if fresh.is_empty() {
            break;
        }
        for candidate in fresh {
            tried.insert(candidate.id);
            match claim(app, entry, &candidate, at, false).await? {
                Claim::Held => held.push(candidate),
                outcome => {
                    if settled(app, outcome).await {
                        return Ok(());
                    }
                }
            }
        }
    }
    // The claims that held these may fail and leave them waiting: each is claimed again, waiting
    // for the other claim's end this time, so no compatible pair is left behind (guarantee 4).
    for candidate in held {
        if settled(app, claim(app, entry, &candidate, at, true).await?).await {
            return Ok(());
        }
    }
    Ok(())
}

/// Whether a claim ended the caller's pairing: it made the pair (announced here), or another
/// pairing took the caller.
async fn settled(app: &App, claim: Claim) -> bool {
    match claim {
        Claim::Made(paired) => {
            announce_found(app, &paired).await;
            true
        }
        Claim::CallerTaken => true,
        Claim::Skipped | Claim::Held => false,
    }
}

/// A deadlock or serialisation failure of PostgreSQL: two claims met on the same entries, and
/// the database chose this one to give way.
fn lost_a_race(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// Claims the caller's and the other entry (§3.5). Unless `wait` is set, an entry of the other
/// that another claim holds is left to it (`Claim::Held`) instead of waited for.
async fn claim(
    app: &Arc<App>,
    caller: &EntryRow,
    other: &EntryRow,
    at: Moments,
    wait: bool,
) -> Result<Claim, ApiError> {
    let now = at.now;
    let reachable = [
        is_connected(app, caller.user_id).await,
        is_connected(app, other.user_id).await,
    ];
    let mut tx = app.store.begin().await?;
    if !wait {
        match store::matchmaking::hold(&mut tx, app.store.backend(), caller.id, other.id).await? {
            // Another claim holding the caller's own entry may take it: the delete waits for it.
            Hold::Free | Hold::CallerHeld => {}
            Hold::CandidateHeld => {
                tx.rollback().await?;
                return Ok(Claim::Held);
            }
        }
    }
    match store::matchmaking::claim_entries(&mut tx, caller.id, other.id).await {
        Ok(true) => {}
        Ok(false) => {
            tx.rollback().await?;
            return caller_outcome(app, caller).await;
        }
        Err(err) if lost_a_race(&err) => return Ok(Claim::Skipped),
        Err(err) => return Err(err.into()),
    }
    let users = store::users::by_ids(&mut tx, &[caller.user_id, other.user_id]).await?;
    let (Some(me), Some(them)) = (
        users.iter().find(|u| u.id == caller.user_id),
        users.iter().find(|u| u.id == other.user_id),
    ) else {
        return Ok(Claim::Skipped);
    };
    for user in [me, them] {
        if store::matchmaking::active_count(&mut tx, user.id, at).await? >= slot_limit(app, user, now) {
            return Ok(Claim::Skipped);
        }
    }
    if store::matchmaking::active_together(&mut tx, me.id, them.id, at).await?
        || store::matchmaking::pair_blocked(&mut tx, me.id, them.id, now).await?
    {
        return Ok(Claim::Skipped);
    }
    // The entry written earlier waited longer: its tags give the order, its user is named first.
    let caller_first = (caller.enqueued_at, caller.id) < (other.enqueued_at, other.id);
    let (first, second) = match caller_first {
        true => ((caller, me, reachable[0]), (other, them, reachable[1])),
        false => ((other, them, reachable[1]), (caller, me, reachable[0])),
    };
    let second_tags = stored_tags(&second.0.interests);
    let matched_on: Vec<String> = stored_tags(&first.0.interests)
        .into_iter()
        .filter(|tag| second_tags.contains(tag))
        .collect();
    let expires_at = now + app.config.matching.chat_ttl_s * MICROS_PER_SECOND;
    let name = adjective_noun();
    let chat = NewDirectChat {
        name: &name,
        matched_on: &matched_on,
        created_at: now,
        expires_at,
    };
    let chat_id = store::matchmaking::insert_chat(&mut tx, &chat).await?;
    let links = store::users::links_of(&mut tx, &[me.id, them.id]).await?;
    let mut participants = Vec::with_capacity(2);
    for (position, (entry, user, reachable)) in [first, second].into_iter().enumerate() {
        store::chats::add_member(&mut tx, chat_id, user.id, now).await?;
        let participant = ParticipantRow {
            chat_id,
            user_id: user.id,
            position: position as i64,
            token: free_token(&mut tx).await?,
            username: user.username.clone(),
            avatar_url: avatar_of(user, &links),
            is_stranger: store::flag(user.kind == UserKind::Stranger),
            country_code: entry.country_code.clone(),
            away_since: (!reachable).then_some(now),
            grace_announced_until: None,
        };
        store::matchmaking::insert_participant(&mut tx, &participant).await?;
        participants.push(participant);
    }
    let opening = format!(
        "Chat started: {} and {} matched on {} — say hi!",
        first.1.username,
        second.1.username,
        matched_on.join(", ")
    );
    let current = store::transport::lock_chat(&mut tx, chat_id)
        .await?
        .ok_or(ApiError::ChatNotFound)?;
    post_system(&mut tx, app, chat_id, &current, &opening).await?;
    tx.commit().await?;
    let [a, b]: [ParticipantRow; 2] = participants
        .try_into()
        .map_err(|_| ApiError::internal("a pairing made other than two participants"))?;
    Ok(Claim::Made(Box::new(Paired {
        chat_id,
        expires_at,
        matched_on,
        participants: [a, b],
    })))
}

/// After a claim found an entry gone: the caller's own, when a concurrent pairing took it.
async fn caller_outcome(app: &App, caller: &EntryRow) -> Result<Claim, ApiError> {
    let mut conn = app.store.acquire().await?;
    let still_waiting = store::matchmaking::entry_of(&mut conn, caller.user_id)
        .await?
        .is_some_and(|entry| entry.id == caller.id);
    Ok(match still_waiting {
        true => Claim::Skipped,
        false => Claim::CallerTaken,
    })
}

/// A match token no participant record holds yet.
async fn free_token(conn: &mut Conn) -> Result<String, sqlx::Error> {
    loop {
        let token = crypto::new_match_token();
        if store::matchmaking::by_token(conn, &token).await?.is_none() {
            return Ok(token);
        }
    }
}

/// The user's avatar as their public profile shows it (20-users §1.4), from the links of the
/// pair; strangers have none.
fn avatar_of(user: &UserRow, links: &[LinkedPlatformRow]) -> Option<String> {
    if user.kind == UserKind::Stranger {
        return None;
    }
    let own: Vec<_> = links.iter().filter(|link| link.user_id == user.id).collect();
    avatar_url(user.avatar_source.as_deref(), &own)
}

/// `match:found` to every connection of each participant, with their own token and the other as
/// the peer (§3.6).
async fn announce_found(app: &App, paired: &Paired) {
    let [a, b] = &paired.participants;
    for (own, peer) in [(a, b), (b, a)] {
        let data = json!({
            "chat_id": paired.chat_id,
            "token": own.token,
            "expires_at": Timestamp(paired.expires_at),
            "matched_on": paired.matched_on,
            "peer": MatchPeer::from(peer),
        });
        presence::announce(app, Some(own.user_id), "match:found", data).await;
    }
}

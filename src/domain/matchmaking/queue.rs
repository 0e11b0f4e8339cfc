//! The queue (91-matchmaking §3): enqueue, the caller's status, dequeue, and the interest tags.

use std::sync::Arc;

use serde_json::{json, Value};

use super::lifecycle::{self, DirectState};
use super::liveness;
use super::{moments, pairing, slot_limit, ActiveDirectChat, MatchStatus};
use crate::domain::app::App;
use crate::domain::presence;
use crate::error::ApiError;
use crate::geo::Geo;
use crate::store;
use crate::store::matchmaking::{EntryRow, NewEntry};
use crate::store::sessions::LiveSession;
use crate::store::users::UserRow;
use crate::store::Conn;
use crate::time::{Timestamp, MICROS_PER_SECOND};
use crate::user_kind::UserKind;

/// Most tags one enqueue names.
pub const MAX_TAGS: usize = 3;

/// 1–3 interest tags of `^[a-z0-9]{3,12}$`, duplicates removed keeping the first (§3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Interests(Vec<String>);

impl Interests {
    /// Reads `interests` with the checks of §8.2 in their order; the first failing item decides.
    pub fn read(value: Option<&Value>) -> Result<Interests, ApiError> {
        let items = match value {
            None | Some(Value::Null) => return Err(ApiError::validation("interests", "interests is required")),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(ApiError::validation("interests", "interests must be an array")),
        };
        if items.is_empty() {
            return Err(ApiError::validation(
                "interests",
                "interests must have at least 1 items",
            ));
        }
        if items.len() > MAX_TAGS {
            return Err(ApiError::validation("interests", "interests must have at most 3 items"));
        }
        let mut tags: Vec<String> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let field = format!("interests[{index}]");
            let Value::String(tag) = item else {
                return Err(ApiError::validation(&field, format!("{field} must be a string")));
            };
            if !is_tag(tag) {
                return Err(ApiError::UnsupportedInterest {
                    message: format!("{field} must be 3 to 12 lower-case letters or digits"),
                    field,
                });
            }
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        Ok(Interests(tags))
    }

    pub fn tags(&self) -> &[String] {
        &self.0
    }
}

/// `^[a-z0-9]{3,12}$`: tags are identifiers, never trimmed or lower-cased for the caller.
fn is_tag(text: &str) -> bool {
    (3..=12).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The tags of a stored entry.
pub fn stored_tags(interests: &str) -> Vec<String> {
    serde_json::from_str(interests).unwrap_or_default()
}

/// `POST /v1/portal/match` (§8.2, steps 1–7). The caller is not timed out (checked before the
/// body, 00-conventions §4).
pub async fn enqueue(app: &Arc<App>, session: &LiveSession, interests: Interests) -> Result<MatchStatus, ApiError> {
    let user = &session.user;
    let now = app.now();
    let at = moments(app, now);
    let mut conn = app.store.acquire().await?;
    if user.kind == UserKind::Stranger {
        // A block covers the stranger and the address group it was created from (§5.3); a
        // stranger without a group (never made so) is covered by the blocks naming it alone.
        let group = store::strangers::stranger_by_id(&mut conn, user.id)
            .await?
            .and_then(|stranger| stranger.created_from_group)
            .unwrap_or_default();
        if let Some(expires_at) = store::strangers::block_in_force(&mut conn, Some(user.id), &group, now).await? {
            return Err(ApiError::StrangerBlocked { expires_at });
        }
    }
    if let Some(expires_at) = store::users::restrictions(&mut conn, user.id, now).await?.mute {
        return Err(ApiError::HardMuted { expires_at });
    }
    if let Some(entry) = store::matchmaking::entry_of(&mut conn, user.id).await? {
        if is_live(&entry, at) {
            return Err(ApiError::AlreadySearching);
        }
        // A dead entry the sweep has not reached yet ends now, as the sweep would end it.
        drop(conn);
        end_dead_entry(app, &entry, at).await?;
        conn = app.store.acquire().await?;
    }
    let limit = slot_limit(app, user, now);
    if store::matchmaking::active_count(&mut conn, user.id, at).await? >= limit {
        return Err(ApiError::MatchSlotLimit { limit });
    }
    let country_code = session_country(&mut conn, session.session_id).await?;
    drop(conn);
    let reachable = liveness::is_connected(app, user.id).await;
    let entry = NewEntry {
        user_id: user.id,
        session_id: session.session_id,
        tags: interests.tags(),
        country_code: country_code.as_deref(),
        enqueued_at: now,
        expires_at: now + app.config.matching.queue_ttl_s * MICROS_PER_SECOND,
        away_since: (!reachable).then_some(now),
    };
    let mut tx = app.store.begin().await?;
    let entry_id = store::matchmaking::insert_entry(&mut tx, &entry)
        .await?
        .ok_or(ApiError::AlreadySearching)?;
    tx.commit().await?;
    pairing::pair(app, &entry.written_as(entry_id)).await?;
    status(app, user).await
}

/// The entry is in the queue at these moments (§3.2).
pub fn is_live(entry: &EntryRow, at: store::matchmaking::Moments) -> bool {
    entry.expires_at > at.now && entry.away_since.is_none_or(|since| since > at.entry_away_cutoff)
}

/// Ends an entry a deadline has ended: past `expires_at` with `match:expired` (`timeout`), away
/// too long without an event (§3.2). Nothing happens when it is already gone.
pub async fn end_dead_entry(app: &App, entry: &EntryRow, at: store::matchmaking::Moments) -> Result<(), ApiError> {
    let mut conn = app.store.writer().await?;
    if !store::matchmaking::delete_entry_by_id(&mut conn, entry.id).await? {
        return Ok(());
    }
    drop(conn);
    if entry.expires_at <= at.now {
        let data = json!({"interests": stored_tags(&entry.interests), "reason": "timeout"});
        presence::announce(app, Some(entry.user_id), "match:expired", data).await;
    }
    Ok(())
}

/// The country of the session's geolocation, upper case; `None` when unknown.
async fn session_country(conn: &mut Conn, session_id: i64) -> Result<Option<String>, sqlx::Error> {
    let geo = store::sessions::geo_of(conn, session_id).await?;
    Ok(geo
        .and_then(|text| serde_json::from_str::<Geo>(&text).ok())
        .and_then(|geo| geo.country_code)
        .map(|code| code.to_uppercase()))
}

/// `POST /v1/portal/match/dequeue` (§8.4): idempotent; chats are not touched.
pub async fn dequeue(app: &Arc<App>, user: &UserRow) -> Result<MatchStatus, ApiError> {
    let mut conn = app.store.writer().await?;
    store::matchmaking::delete_entry(&mut conn, user.id).await?;
    drop(conn);
    status(app, user).await
}

/// The caller's `MatchStatus` at this moment (§6.1): a pure read.
pub async fn status(app: &App, user: &UserRow) -> Result<MatchStatus, ApiError> {
    let now = app.now();
    let at = moments(app, now);
    let mut conn = app.store.acquire().await?;
    let entry = store::matchmaking::entry_of(&mut conn, user.id)
        .await?
        .filter(|entry| is_live(entry, at));
    let chats = lifecycle::chats_of(app, &mut conn, user.id, now).await?;
    let (mut active, mut archived): (Vec<ActiveDirectChat>, Vec<ActiveDirectChat>) = (Vec::new(), Vec::new());
    for chat in chats {
        match chat.state {
            DirectState::Active => active.push(chat.view),
            DirectState::Archived { .. } => archived.push(chat.view),
            DirectState::Deleted => {}
        }
    }
    // Chats come by id, which is their order of creation.
    archived.reverse();
    let newest = active.last();
    Ok(MatchStatus {
        state: match (&entry, newest) {
            (Some(_), _) => "searching",
            (None, Some(_)) => "matched",
            (None, None) => "idle",
        },
        interests: entry.as_ref().map(|e| stored_tags(&e.interests)),
        token: newest.filter(|_| entry.is_none()).map(|c| c.token.clone()),
        expires_at: match (&entry, newest) {
            (Some(entry), _) => Some(Timestamp(entry.expires_at)),
            (None, Some(chat)) => Some(chat.expires_at),
            (None, None) => None,
        },
        chats: active,
        archived,
    })
}

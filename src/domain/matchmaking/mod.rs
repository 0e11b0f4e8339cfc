//! Matchmaking (91-matchmaking): the queue of callers searching on interest tags, the pairing that
//! makes a direct chat of two of them, and the life of those chats. The queue, the pair blocks and
//! the pairing live in the database, so one SQLite node is a complete matchmaker and PostgreSQL
//! serves many nodes; Redis only carries the events.

pub mod lifecycle;
pub mod liveness;
pub mod pairing;
pub mod queue;
pub mod shapes;

pub use shapes::{ActiveDirectChat, MatchPeer, MatchStatus};

use crate::domain::app::App;
use crate::domain::views::effective_tier;
use crate::error::ApiError;
use crate::level::Level;
use crate::store;
use crate::store::matchmaking::Moments;
use crate::store::users::UserRow;
use crate::tier::Tier;
use crate::time::MICROS_PER_SECOND;
use crate::user_kind::UserKind;

/// The moments that decide, at `now`, which queue entries and direct chats are still alive: every
/// deadline holds for every request before anything is written (§7).
pub fn moments(app: &App, now: i64) -> Moments {
    let matching = &app.config.matching;
    Moments {
        now,
        entry_away_cutoff: now - matching.disconnect_grace_s * MICROS_PER_SECOND,
        chat_away_cutoff: now - matching.reconnect_grace_s * MICROS_PER_SECOND,
    }
}

/// Concurrent active direct chats a user may hold (§3.3): three for subscribers and Admin+, one
/// for everyone else, strangers included.
pub fn slot_limit(app: &App, user: &UserRow, now: i64) -> i64 {
    let matching = &app.config.matching;
    let premium = user.kind == UserKind::Registered
        && (user.permission_level >= Level::Admin || effective_tier(user, now).0 != Tier::Basic);
    match premium {
        true => matching.slots_premium,
        false => matching.slots_free,
    }
}

/// A user who can never come back — a stranger whose session ended, a banned or deleted user
/// (91-matchmaking §2.4–2.5): their queue entry goes without an event, and their active direct
/// chats end as a leave.
pub async fn user_gone(app: &App, user_id: i64) -> Result<(), ApiError> {
    let mut conn = app.store.acquire().await?;
    store::matchmaking::delete_entry(&mut conn, user_id).await?;
    let active = store::matchmaking::active_chats_of(&mut conn, user_id, moments(app, app.now())).await?;
    drop(conn);
    for chat_id in active {
        lifecycle::end(app, chat_id, lifecycle::End::Left { user_id }).await?;
    }
    Ok(())
}

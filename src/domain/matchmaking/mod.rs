//! Matchmaking (91-matchmaking): the queue of callers searching on interest tags, the pairing that
//! makes a direct chat of two of them, and the life of those chats. The queue, the pair blocks and
//! the pairing live in the database, so one SQLite node is a complete matchmaker and PostgreSQL
//! serves many nodes; Redis only carries the events.

use crate::domain::app::App;
use crate::error::ApiError;
use crate::store;

/// A user who can never come back — a stranger whose session ended, a banned or deleted user
/// (91-matchmaking §2.4–2.5): their queue entry goes without an event, and their active direct
/// chats end as a leave.
pub async fn user_gone(app: &App, user_id: i64) -> Result<(), ApiError> {
    let mut tx = app.store.begin().await?;
    store::matchmaking::delete_entry(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(())
}

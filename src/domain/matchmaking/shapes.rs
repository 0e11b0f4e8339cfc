//! The shapes of matchmaking (91-matchmaking §6).

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::matchmaking::ParticipantRow;
use crate::time::Timestamp;

/// The other participant of a direct chat as they were at the pairing (§6.2).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatchPeer {
    pub username: String,
    /// `null` for strangers.
    pub avatar_url: Option<String>,
    pub is_stranger: bool,
    /// ISO 3166-1 alpha-2, upper case; `null` when unknown.
    pub country_code: Option<String>,
}

impl From<&ParticipantRow> for MatchPeer {
    fn from(p: &ParticipantRow) -> Self {
        MatchPeer {
            username: p.username.clone(),
            avatar_url: p.avatar_url.clone(),
            is_stranger: p.is_stranger != 0,
            country_code: p.country_code.clone(),
        }
    }
}

/// One of the caller's direct chats (§6.3).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActiveDirectChat {
    pub chat_id: i64,
    /// The caller's match token for this chat.
    pub token: String,
    pub peer: MatchPeer,
    pub matched_on: Vec<String>,
    /// Active: the chat's `expires_at`; archived: when it is deleted.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// The peer's reconnect deadline in Unix milliseconds, while `room:peer_left` announced it
    /// and the peer has not returned.
    pub peer_grace_until_ms: Option<i64>,
}

/// The caller's matchmaking state (§6.1): the answer of enqueue, status and dequeue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatchStatus {
    /// `idle`, `searching` or `matched`.
    pub state: &'static str,
    /// The tags queued on; `null` unless searching.
    pub interests: Option<Vec<String>>,
    /// Matched: the token of the caller's newest active direct chat.
    pub token: Option<String>,
    /// Searching: the queue entry's deadline; matched: the newest chat's `expires_at`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// Every active direct chat of the caller, oldest first.
    pub chats: Vec<ActiveDirectChat>,
    /// Every archived direct chat still readable, newest first, `expires_at` = its deletion.
    pub archived: Vec<ActiveDirectChat>,
}

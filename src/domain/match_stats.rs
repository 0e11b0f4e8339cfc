//! The staff counters of matchmaking (91-matchmaking §6.6, §8.10), computed for each request.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::domain::matchmaking::moments;
use crate::error::ApiError;
use crate::store;
use crate::store::match_stats::{Graces, TagQueue};
use crate::time::MICROS_PER_SECOND;

/// At most this many tags are listed in `queues`.
const QUEUES_SHOWN: i64 = 100;

/// `MatchStats` (91-matchmaking §6.6).
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchStats {
    /// Callers with a queue entry.
    pub searching_count: i64,
    pub active_chat_count: i64,
    /// Archived direct chats not yet deleted.
    pub archived_chat_count: i64,
    /// Strangers whose session is valid.
    pub stranger_count: i64,
    /// Reports not handled.
    pub open_report_count: i64,
    /// Every tag with a waiting caller, most waiting first, then by tag; at most 100.
    pub queues: Vec<TagWaiting>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagWaiting {
    pub tag: String,
    pub waiting: i64,
}

impl From<TagQueue> for TagWaiting {
    fn from(q: TagQueue) -> Self {
        TagWaiting {
            tag: q.tag,
            waiting: q.waiting,
        }
    }
}

/// `GET /v1/admin/match/stats`: every count at this request's moment, deadlines applied.
pub async fn current(app: &App) -> Result<MatchStats, ApiError> {
    let now = app.now();
    let matching = &app.config.matching;
    let graces = Graces {
        reconnect: matching.reconnect_grace_s * MICROS_PER_SECOND,
        archive: matching.archive_ttl_s * MICROS_PER_SECOND,
    };
    let mut conn = app.store.acquire().await?;
    let at = moments(app, now);
    let searching_count = store::match_stats::searching_count(&mut conn, at).await?;
    let queues = store::match_stats::queues(&mut conn, at, QUEUES_SHOWN).await?;
    let (active_chat_count, archived_chat_count) =
        store::match_stats::direct_chat_counts(&mut conn, now, graces).await?;
    let stranger_count = store::match_stats::stranger_count(&mut conn, now).await?;
    let open_report_count = store::match_reports::unhandled_count(&mut conn).await?;
    Ok(MatchStats {
        searching_count,
        active_chat_count,
        archived_chat_count,
        stranger_count,
        open_report_count,
        queues: queues.into_iter().map(Into::into).collect(),
    })
}

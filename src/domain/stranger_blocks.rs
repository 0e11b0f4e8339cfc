//! Stranger blocks (91-matchmaking §5.3, §8.11–8.13): a Moderator+ keeps a stranger, and the
//! address group it was created from, out of matchmaking. The address group is stored with the
//! block for the server's checks and never leaves it: no answer and no audit row carries it.

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::presence;
use crate::domain::staff::Actor;
use crate::error::ApiError;
use crate::store;
pub use crate::store::strangers::BlockFilter;
use crate::store::strangers::{BlockRow, NewBlock};
use crate::time::{Timestamp, MICROS_PER_SECOND};

/// The longest block short of a permanent one: a year, in seconds.
pub const MAX_DURATION_S: i64 = 365 * 86_400;

/// `StrangerBlock` (91-matchmaking §6.5).
#[derive(Debug, Serialize, ToSchema)]
pub struct StrangerBlock {
    pub id: i64,
    /// The stranger; it may since have been deleted.
    pub user_id: i64,
    /// The stranger's username when blocked.
    pub username: String,
    pub reason: String,
    pub issued_by_id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// `null`: permanent.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// True when lifted early; expiry never sets it.
    pub is_lifted: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lifted_at: Option<Timestamp>,
    pub lifted_by_id: Option<i64>,
}

impl From<BlockRow> for StrangerBlock {
    fn from(r: BlockRow) -> Self {
        StrangerBlock {
            id: r.id,
            user_id: r.user_id,
            username: r.username,
            reason: r.reason,
            issued_by_id: r.issued_by_id,
            created_at: Timestamp(r.created_at),
            expires_at: r.expires_at.map(Timestamp),
            is_lifted: r.lifted_at.is_some(),
            lifted_at: r.lifted_at.map(Timestamp),
            lifted_by_id: r.lifted_by_id,
        }
    }
}

/// `POST /v1/admin/strangers/{user_id}/block`: a block of the stranger and its address group, for
/// `duration_s` seconds (0: permanent), next to any already in force. In the same transaction the
/// stranger's queue entry goes, with the audit row; after the commit its connections learn that
/// their search ended. Its session and direct chats are not touched.
pub async fn block(
    app: &App,
    actor: Actor,
    user_id: i64,
    reason: &str,
    duration_s: i64,
) -> Result<StrangerBlock, ApiError> {
    let now = app.now();
    let expires_at = (duration_s > 0).then(|| now + duration_s * MICROS_PER_SECOND);
    let mut tx = app.store.begin().await?;
    let stranger = store::strangers::stranger_by_id(&mut tx, user_id)
        .await?
        .ok_or(ApiError::StrangerNotFound)?;
    let address_group = stranger
        .created_from_group
        .as_deref()
        .ok_or_else(|| ApiError::internal(format!("stranger {user_id} has no address group")))?;
    let block = store::strangers::insert_block(
        &mut tx,
        &NewBlock {
            user_id,
            username: &stranger.username,
            address_group,
            reason,
            issued_by_id: actor.id,
            expires_at,
            now,
        },
    )
    .await?;
    let dequeued = store::matchmaking::delete_entry(&mut tx, user_id).await?;
    audit::record(
        app,
        &mut tx,
        AuditEvent::StrangerBlock,
        Some(actor.id),
        Target::User(user_id),
        json!({
            "block_id": block.id,
            "reason": reason,
            "duration": duration_s,
            "expires_at": expires_at.map(Timestamp),
        }),
        now,
    )
    .await?;
    tx.commit().await?;
    if let Some(interests) = dequeued {
        // Stored by the enqueue as a JSON array; a row that is not one still ends the search.
        let interests: Value = serde_json::from_str(&interests).unwrap_or_else(|_| json!([]));
        presence::announce(
            app,
            Some(user_id),
            "match:expired",
            json!({"interests": interests, "reason": "blocked"}),
        )
        .await;
    }
    Ok(block.into())
}

/// `GET /v1/admin/strangers/blocks`: a page of matching blocks, newest first, and how many match.
pub async fn search(
    app: &App,
    filter: &BlockFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<StrangerBlock>, i64), ApiError> {
    let mut conn = app.store.acquire().await?;
    let (rows, total) = store::strangers::search_blocks(&mut conn, filter, app.now(), offset, limit).await?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

/// `POST /v1/admin/strangers/blocks/{block_id}/lift`: a block in force stops covering the stranger
/// and the address group at once, with its `STRANGER_BLOCK_LIFT` audit row in the same
/// transaction; a block not in force (lifted or expired) is answered as it is and nothing is
/// written. The stranger may since have been deleted.
pub async fn lift(app: &App, actor: Actor, block_id: i64, reason: &str) -> Result<StrangerBlock, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let Some(block) = store::strangers::lift_block(&mut tx, block_id, actor.id, reason, now).await? else {
        let unchanged = store::strangers::block_by_id(&mut tx, block_id)
            .await?
            .ok_or(ApiError::StrangerBlockNotFound)?;
        return Ok(unchanged.into());
    };
    audit::record(
        app,
        &mut tx,
        AuditEvent::StrangerBlockLift,
        Some(actor.id),
        Target::User(block.user_id),
        json!({"block_id": block.id, "reason": reason}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(block.into())
}

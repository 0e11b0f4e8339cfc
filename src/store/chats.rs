//! Chats, their members and their invite codes (60-chats).

use sqlx::FromRow;

use super::Conn;
use crate::action_type::ActionType;
use crate::level::Level;

/// A chat with its owner's name and avatar choice, which every chat view shows. Group chats have
/// an owner; direct chats (91-matchmaking §4.1) have none, and carry their matchmaking fields.
#[derive(Debug, Clone, FromRow)]
pub struct ChatRow {
    pub id: i64,
    pub chat_type: String,
    pub name: String,
    pub owner_id: Option<i64>,
    pub visibility: String,
    pub label: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub avatar_source: Option<String>,
    pub browser_config: String,
    pub allow_control_requests: i64,
    pub is_archived: i64,
    pub last_activity_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub owner_username: Option<String>,
    pub owner_avatar_source: Option<String>,
    pub owner_level: Option<i64>,
    pub epoch: i64,
    pub wipe_preset: String,
    pub next_wipe_at: Option<i64>,
    pub history_visible: i64,
    pub locked_controls: i64,
    pub implicit_hosting: i64,
    pub inactive_cursors: i64,
    /// JSON array of the shared tags; direct chats only.
    pub matched_on: Option<String>,
    pub expires_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub deletes_at: Option<i64>,
    /// The viewers of the chat's browser machine when it is running, as its node last published
    /// them (92-browser-rooms §5.1); `None` when no machine runs.
    pub machine_viewers: Option<i64>,
}

impl ChatRow {
    pub fn is_direct(&self) -> bool {
        self.chat_type == DIRECT
    }

    /// `running` and `viewer_count` of the chat views (92-browser-rooms §5.1).
    pub fn browser_live(&self) -> (bool, i64) {
        (self.machine_viewers.is_some(), self.machine_viewers.unwrap_or(0))
    }

    pub fn is_owned_by(&self, user_id: i64) -> bool {
        self.owner_id == Some(user_id)
    }

    /// The owner's level; a direct chat has no owner and so no level.
    pub fn owner_level(&self) -> Option<Level> {
        self.owner_level.and_then(Level::from_i64)
    }
}

/// The `chat_type` of a chat made by matchmaking.
pub const DIRECT: &str = "direct";

const CHAT_SELECT: &str = "SELECT c.id, c.chat_type, c.name, c.owner_id, c.visibility, c.label, c.slug, \
    c.description, c.avatar_source, c.browser_config, c.allow_control_requests, c.is_archived, \
    c.epoch, c.wipe_preset, c.next_wipe_at, c.history_visible, c.locked_controls, c.implicit_hosting, \
    c.inactive_cursors, c.matched_on, c.expires_at, c.ended_at, c.end_reason, c.deletes_at, \
    c.last_activity_at, c.created_at, c.updated_at, u.username AS owner_username, \
    u.avatar_source AS owner_avatar_source, u.permission_level AS owner_level, \
    bm.viewer_count AS machine_viewers \
    FROM chats c LEFT JOIN users u ON u.id = c.owner_id \
    LEFT JOIN browser_machines bm ON bm.chat_id = c.id AND bm.state = 'running'";

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<ChatRow>, sqlx::Error> {
    sqlx::query_as(&format!("{CHAT_SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The chats among `ids` that exist, by id.
pub async fn by_ids(conn: &mut Conn, ids: &[i64]) -> Result<Vec<ChatRow>, sqlx::Error> {
    let sql = format!("{CHAT_SELECT} WHERE c.id IN ({{ids}}) ORDER BY c.id");
    super::fetch_for_ids(conn, &sql, ids, None).await
}

/// Official chats, then public ones, then the private chats the user owns or is a member of,
/// then the user's direct chats that are not deleted; each group by id. Whether a direct chat is
/// still active at this moment is the caller's to decide from its deadlines (91-matchmaking §7).
pub async fn visible_to(conn: &mut Conn, user_id: i64, now: i64) -> Result<Vec<ChatRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{CHAT_SELECT} WHERE (c.chat_type = 'group' AND (c.visibility <> 'private' OR c.owner_id = $1 \
         OR EXISTS (SELECT 1 FROM chat_members m WHERE m.chat_id = c.id AND m.user_id = $1))) \
         OR (c.chat_type = 'direct' AND (c.deletes_at IS NULL OR c.deletes_at > $2) \
         AND EXISTS (SELECT 1 FROM chat_members m WHERE m.chat_id = c.id AND m.user_id = $1)) \
         ORDER BY CASE c.visibility WHEN 'official' THEN 0 WHEN 'public' THEN 1 WHEN 'private' THEN 2 \
         ELSE 3 END, c.id"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// A page of every group chat, or of the chats of one visibility (`direct` included), by id, and
/// the count without paging.
pub async fn page(
    conn: &mut Conn,
    visibility: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ChatRow>, i64), sqlx::Error> {
    let (total,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM chats WHERE ($1 IS NULL AND chat_type = 'group') OR visibility = $1")
            .bind(visibility)
            .fetch_one(&mut *conn)
            .await?;
    let rows = sqlx::query_as(&format!(
        "{CHAT_SELECT} WHERE ($1 IS NULL AND c.chat_type = 'group') OR c.visibility = $1 \
         ORDER BY c.id LIMIT $2 OFFSET $3"
    ))
    .bind(visibility)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

pub async fn count_owned_by(conn: &mut Conn, owner_id: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chats WHERE owner_id = $1")
        .bind(owner_id)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// Takes the owner's row lock for the rest of the transaction, so that two creations by one user
/// count their slots one after the other (SQLite's write transactions are serial anyway).
pub async fn serialise_creations_of(conn: &mut Conn, owner_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
        .bind(owner_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Takes the chat's row lock for the rest of the transaction; `false` when the chat is gone.
pub async fn lock(conn: &mut Conn, chat_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE chats SET updated_at = updated_at WHERE id = $1")
        .bind(chat_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn slug_taken(conn: &mut Conn, slug: &str) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM chats WHERE slug = $1")
        .bind(slug)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// The writable fields of a chat row.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatFields {
    pub name: String,
    pub visibility: String,
    pub label: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub avatar_source: Option<String>,
    pub browser_config: String,
    pub allow_control_requests: bool,
}

impl ChatFields {
    pub fn of(row: &ChatRow) -> ChatFields {
        ChatFields {
            name: row.name.clone(),
            visibility: row.visibility.clone(),
            label: row.label.clone(),
            slug: row.slug.clone(),
            description: row.description.clone(),
            avatar_source: row.avatar_source.clone(),
            browser_config: row.browser_config.clone(),
            allow_control_requests: row.allow_control_requests != 0,
        }
    }
}

/// Inserts a chat and returns its id; `created_at` = `last_activity_at` = `updated_at` = now.
pub async fn insert(conn: &mut Conn, owner_id: i64, fields: &ChatFields, now: i64) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO chats (chat_type, name, owner_id, visibility, label, slug, description, avatar_source, \
         browser_config, allow_control_requests, last_activity_at, created_at, updated_at) \
         VALUES ('group', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10) RETURNING id",
    )
    .bind(&fields.name)
    .bind(owner_id)
    .bind(&fields.visibility)
    .bind(&fields.label)
    .bind(&fields.slug)
    .bind(&fields.description)
    .bind(&fields.avatar_source)
    .bind(&fields.browser_config)
    .bind(super::flag(fields.allow_control_requests))
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn update(conn: &mut Conn, chat_id: i64, fields: &ChatFields, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE chats SET name = $2, visibility = $3, label = $4, slug = $5, description = $6, \
         avatar_source = $7, browser_config = $8, allow_control_requests = $9, updated_at = $10 WHERE id = $1",
    )
    .bind(chat_id)
    .bind(&fields.name)
    .bind(&fields.visibility)
    .bind(&fields.label)
    .bind(&fields.slug)
    .bind(&fields.description)
    .bind(&fields.avatar_source)
    .bind(&fields.browser_config)
    .bind(super::flag(fields.allow_control_requests))
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Deletes the chat; its members and invites go with it (foreign keys cascade).
pub async fn delete(conn: &mut Conn, chat_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM chats WHERE id = $1")
        .bind(chat_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_owner(conn: &mut Conn, chat_id: i64, owner_id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chats SET owner_id = $2, updated_at = $3 WHERE id = $1")
        .bind(chat_id)
        .bind(owner_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A member joined or left: `last_activity_at` (and so `updated_at`) = now.
pub async fn touch_activity(conn: &mut Conn, chat_id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chats SET last_activity_at = $2, updated_at = $2 WHERE id = $1")
        .bind(chat_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

// ------------------------------------------------------------------------------------------------
// Members
// ------------------------------------------------------------------------------------------------

pub async fn is_member(conn: &mut Conn, chat_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM chat_members WHERE chat_id = $1 AND user_id = $2")
        .bind(chat_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// Adds a member row; `false` when the user already had one.
pub async fn add_member(conn: &mut Conn, chat_id: i64, user_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO chat_members (chat_id, user_id, joined_at) VALUES ($1, $2, $3) \
         ON CONFLICT (chat_id, user_id) DO NOTHING",
    )
    .bind(chat_id)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes a member row; `false` when there was none.
pub async fn remove_member(conn: &mut Conn, chat_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2")
        .bind(chat_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn member_count(conn: &mut Conn, chat_id: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chat_members WHERE chat_id = $1")
        .bind(chat_id)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

#[derive(Debug, Clone, FromRow)]
pub struct MemberRow {
    pub user_id: i64,
    pub username: String,
    pub avatar_source: Option<String>,
    pub permission_level: i64,
    pub joined_at: i64,
}

/// The earliest `limit` members, earliest first.
/// Those of `user_ids` with a member row in the chat.
pub async fn members_among(conn: &mut Conn, chat_id: i64, user_ids: &[i64]) -> Result<Vec<i64>, sqlx::Error> {
    let sql = "SELECT user_id FROM chat_members WHERE user_id IN ({ids}) AND chat_id = {after}";
    let rows: Vec<(i64,)> = super::fetch_for_ids(conn, sql, user_ids, Some(chat_id)).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

pub async fn members(conn: &mut Conn, chat_id: i64, limit: i64) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.user_id, u.username, u.avatar_source, u.permission_level, m.joined_at \
         FROM chat_members m JOIN users u ON u.id = m.user_id WHERE m.chat_id = $1 \
         ORDER BY m.joined_at ASC, m.id ASC LIMIT $2",
    )
    .bind(chat_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The end of the user's `CHAT_MUTE` or `CHAT_BAN` (`action_type`) in this chat when one is in
/// force: `Some(None)` when one of them is without end, else the latest end.
pub async fn chat_restriction(
    conn: &mut Conn,
    chat_id: i64,
    user_id: i64,
    action_type: ActionType,
    now: i64,
) -> Result<Option<Option<i64>>, sqlx::Error> {
    let ends: Vec<(Option<i64>,)> = sqlx::query_as(
        "SELECT expires_at FROM moderation_actions WHERE chat_id = $1 AND user_id = $2 AND action_type = $3 \
         AND is_lifted = 0 AND (expires_at IS NULL OR expires_at > $4)",
    )
    .bind(chat_id)
    .bind(user_id)
    .bind(action_type.as_str())
    .bind(now)
    .fetch_all(conn)
    .await?;
    if ends.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        ends.iter()
            .map(|(end,)| *end)
            .try_fold(0, |latest, end| end.map(|e| latest.max(e))),
    ))
}

/// A message was posted: `last_activity_at` = now when it is older than `stale` micros.
pub async fn note_message_activity(conn: &mut Conn, chat_id: i64, now: i64, stale: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE chats SET last_activity_at = $2 WHERE id = $1 AND last_activity_at < $3")
        .bind(chat_id)
        .bind(now)
        .bind(now - stale)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a `CHAT_BAN` for this chat is in force against the user.
pub async fn is_banned(conn: &mut Conn, chat_id: i64, user_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM moderation_actions WHERE chat_id = $1 AND user_id = $2 AND action_type = 'CHAT_BAN' \
         AND is_lifted = 0 AND (expires_at IS NULL OR expires_at > $3) LIMIT 1",
    )
    .bind(chat_id)
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

// ------------------------------------------------------------------------------------------------
// Invites
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, FromRow)]
pub struct InviteRow {
    pub id: i64,
    pub code: String,
    pub chat_id: i64,
    pub created_by_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub uses: i64,
    pub max_uses: Option<i64>,
}

const INVITE_COLUMNS: &str = "id, code, chat_id, created_by_id, created_at, expires_at, uses, max_uses";

/// 60-chats §7: not expired and not used up.
const ACTIVE: &str = "(expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR uses < max_uses)";

/// The chat's active invites, newest first.
pub async fn active_invites(conn: &mut Conn, chat_id: i64, now: i64) -> Result<Vec<InviteRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INVITE_COLUMNS} FROM chat_invites WHERE chat_id = $1 AND {ACTIVE} \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(chat_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

pub async fn count_active_invites(conn: &mut Conn, chat_id: i64, now: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM chat_invites WHERE chat_id = $1 AND {ACTIVE}"
    ))
    .bind(chat_id)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

pub async fn invite_code_taken(conn: &mut Conn, code: &str) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM chat_invites WHERE code = $1")
        .bind(code)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

pub struct NewInvite<'a> {
    pub code: &'a str,
    pub chat_id: i64,
    pub created_by_id: i64,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub now: i64,
}

pub async fn insert_invite(conn: &mut Conn, invite: NewInvite<'_>) -> Result<InviteRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO chat_invites (code, chat_id, created_by_id, created_at, expires_at, uses, max_uses) \
         VALUES ($1, $2, $3, $4, $5, 0, $6) RETURNING {INVITE_COLUMNS}"
    ))
    .bind(invite.code)
    .bind(invite.chat_id)
    .bind(invite.created_by_id)
    .bind(invite.now)
    .bind(invite.expires_at)
    .bind(invite.max_uses)
    .fetch_one(conn)
    .await
}

/// The invite with this code, if it is active.
pub async fn active_invite(conn: &mut Conn, code: &str, now: i64) -> Result<Option<InviteRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INVITE_COLUMNS} FROM chat_invites WHERE code = $1 AND {ACTIVE}"
    ))
    .bind(code)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Counts one use, only while the invite is still active; `false` when it no longer was.
pub async fn use_invite(conn: &mut Conn, invite_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(&format!(
        "UPDATE chat_invites SET uses = uses + 1 WHERE id = $1 AND {ACTIVE}"
    ))
    .bind(invite_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the chat's invite with this code, active or not; `false` when there was none.
pub async fn delete_invite(conn: &mut Conn, chat_id: i64, code: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM chat_invites WHERE chat_id = $1 AND code = $2")
        .bind(chat_id)
        .bind(code)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

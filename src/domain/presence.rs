//! Presence (80-notifications-portal §2). A user is online while they hold a realtime connection;
//! this server has no realtime connection yet (`GET /v1/portal/ws` is not built), so nobody is
//! online and the status reports an empty list. The caller's hard mute is real: it comes from the
//! moderation records.

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::time::Timestamp;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresenceUser {
    pub id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
    pub permission_level: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresenceEntry {
    pub user: PresenceUser,
    /// 12 random characters of `[A-Za-z0-9]`, kept while the user stays online.
    pub session_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalStatus {
    /// Number of online users (the length of `users`).
    pub online: i64,
    /// Online users, earliest to come online first.
    pub users: Vec<PresenceEntry>,
    /// Whether the caller is under a hard mute in force.
    pub muted: bool,
    /// End of the caller's hard mute; `null` when not muted or muted indefinitely.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub muted_until: Option<Timestamp>,
}

/// The portal status as `viewer` sees it at `now`.
pub async fn status(conn: &mut Conn, viewer: &UserRow, now: i64) -> Result<PortalStatus, sqlx::Error> {
    let mute = store::users::restrictions(conn, viewer.id, now).await?.mute;
    let users: Vec<PresenceEntry> = Vec::new();
    Ok(PortalStatus {
        online: users.len() as i64,
        users,
        muted: mute.is_some(),
        muted_until: mute.flatten().map(Timestamp),
    })
}

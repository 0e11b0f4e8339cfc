//! The audit log as staff read it (30-admin-moderation §8).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::error::ApiError;
pub use crate::store::audit::{AuditFilter, AuditRow};
use crate::store::{self, Conn};
use crate::time::Timestamp;

/// Every event type of 30-admin-moderation §8.3 (the filter of §8.4 takes each of them), and
/// `LOGIN_CODE_CREATE` of the command-line tool.
pub const EVENT_TYPES: [&str; 41] = [
    "USER_WARN",
    "USER_TIMEOUT",
    "USER_UNTIMEOUT",
    "USER_BAN",
    "USER_UNBAN",
    "USER_PERMISSION",
    "USER_DELETE",
    "USER_HARD_MUTE",
    "USER_HARD_UNMUTE",
    "SUBSCRIPTION_GRANT",
    "SUBSCRIPTION_REVOKE",
    "BOT_REGISTER",
    "BOT_UPDATE",
    "BOT_VERIFY",
    "BOT_UNVERIFY",
    "BOT_KEY_REGENERATE",
    "BOT_DELETE",
    "BOT_STATS_RESET",
    "CHAT_CREATE",
    "CHAT_UPDATE",
    "CHAT_DELETE",
    "CHAT_TRANSFER",
    "CHAT_KICK",
    "CHAT_MUTE",
    "CHAT_UNMUTE",
    "CHAT_BAN",
    "CHAT_UNBAN",
    "CHAT_MESSAGES_DELETE",
    "CHAT_CLEAR",
    "CHAT_CONFIG_UPDATE",
    "NOTIFICATION_SEND",
    "PUBLIC_KEY_CREATE",
    "PUBLIC_KEY_REVOKE",
    "LOGIN_CODE_CREATE",
    "SESSION_REVOKE",
    "STRANGER_BLOCK",
    "STRANGER_BLOCK_LIFT",
    "MATCH_REPORT_HANDLE",
    "BROWSER_START",
    "BROWSER_STOP",
    "BROWSER_CONTROL_OVERRIDE",
];

pub const TARGET_TYPES: [&str; 4] = ["user", "bot", "chat", "system"];

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogEntry {
    pub id: i64,
    pub event_type: String,
    pub actor_id: Option<i64>,
    pub target_type: String,
    pub target_id: Option<i64>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<AuditRow> for AuditLogEntry {
    fn from(r: AuditRow) -> Self {
        AuditLogEntry {
            id: r.id,
            event_type: r.event_type,
            actor_id: r.actor_id,
            target_type: r.target_type,
            target_id: r.target_id,
            // Rows are written from JSON values, so this only fails on a hand-edited database.
            metadata: serde_json::from_str(&r.metadata).unwrap_or_else(|_| Value::Object(Default::default())),
            created_at: Timestamp(r.created_at),
        }
    }
}

/// The staff search of the audit log (30-admin-moderation §8.4).
pub async fn search(
    app: &App,
    filter: &AuditFilter<'_>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AuditRow>, i64), ApiError> {
    let mut conn = app.store.acquire().await?;
    Ok(store::audit::search(&mut conn, filter, offset, limit).await?)
}

/// What an audit row is about (30-admin-moderation §8.2).
#[derive(Debug, Clone, Copy)]
pub enum Target {
    User(i64),
    Bot(i64),
    Chat(i64),
    /// A broadcast or a key: no single target.
    System,
}

impl Target {
    fn parts(self) -> (&'static str, Option<i64>) {
        match self {
            Target::User(id) => ("user", Some(id)),
            Target::Bot(id) => ("bot", Some(id)),
            Target::Chat(id) => ("chat", Some(id)),
            Target::System => ("system", None),
        }
    }
}

/// Writes the audit row of an act, in the act's transaction; `actor` `None` is the command-line
/// tool.
pub async fn record(
    app: &App,
    conn: &mut Conn,
    event_type: &str,
    actor: Option<i64>,
    target: Target,
    metadata: Value,
    now: i64,
) -> Result<(), ApiError> {
    let (target_type, target_id) = target.parts();
    store::audit::insert(
        conn,
        &app.store.faults,
        store::audit::NewAudit {
            event_type,
            actor_id: actor,
            target_type,
            target_id,
            metadata,
            now,
        },
    )
    .await?;
    Ok(())
}

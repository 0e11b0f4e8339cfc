//! The chat shapes of 60-chats §5 and how they are built from stored rows.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::is_public;
use crate::domain::browser::lifecycle::BrowserMachine;
use crate::domain::matchmaking::MatchPeer;
use crate::domain::views::avatar_url;
use crate::store::chats::{ChatRow, InviteRow, MemberRow};
use crate::store::users::LinkedPlatformRow;
use crate::store::{self, Conn};
use crate::time::Timestamp;

/// `https://cdn.discordapp.com/embed/avatars/N.png` for `discord_N`, else nothing.
fn chat_avatar_url(avatar_source: Option<&str>) -> Option<String> {
    avatar_url(avatar_source.filter(|s| s.starts_with("discord_")), &[])
}

/// A user's avatar as 20-users §1.4 resolves it, from the links of several users loaded at once.
fn user_avatar_url(user_id: i64, avatar_source: Option<&str>, links: &[LinkedPlatformRow]) -> Option<String> {
    let own: Vec<&LinkedPlatformRow> = links.iter().filter(|l| l.user_id == user_id).collect();
    avatar_url(avatar_source, &own)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatOwner {
    pub id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
}

/// A chat as the portal shows it (60-chats §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatSummary {
    pub id: i64,
    pub chat_type: String,
    pub name: String,
    /// `null` for a direct chat, which nobody owns.
    pub owner: Option<ChatOwner>,
    pub visibility: String,
    pub label: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    /// Always empty: secret chats are not built.
    #[schema(value_type = Vec<Object>)]
    pub secrets: Vec<Value>,
    pub archived: bool,
    /// A direct chat's `expires_at` while active, its deletion time once archived; `null` for
    /// group chats.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// A direct chat's other participant; `null` for group chats.
    pub peer: Option<MatchPeer>,
    #[serde(flatten)]
    pub config: ChatConfig,
    /// The chat's browser machine is running (92-browser-rooms §5.1).
    pub running: bool,
    pub viewer_count: i64,
}

/// The chat's settings of the transport and its browser (90-chat-transport §7.1).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatConfig {
    /// `off`, `1m`, `15m`, `1h`, `4h` or `24h`.
    pub wipe_preset: String,
    /// When the next auto-wipe is due; `null` while `wipe_preset` is `off`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_wipe_at: Option<Timestamp>,
    pub history_visible: bool,
    pub allow_control_requests: bool,
    pub locked_controls: bool,
    pub implicit_hosting: bool,
    pub inactive_cursors: bool,
}

impl From<&ChatRow> for ChatConfig {
    fn from(chat: &ChatRow) -> Self {
        ChatConfig {
            wipe_preset: chat.wipe_preset.clone(),
            next_wipe_at: chat.next_wipe_at.map(Timestamp),
            history_visible: chat.history_visible != 0,
            allow_control_requests: chat.allow_control_requests != 0,
            locked_controls: chat.locked_controls != 0,
            implicit_hosting: chat.implicit_hosting != 0,
            inactive_cursors: chat.inactive_cursors != 0,
        }
    }
}

/// Summaries of several chats, with their owners' avatars loaded in one query.
pub async fn summaries(conn: &mut Conn, chats: Vec<ChatRow>) -> Result<Vec<ChatSummary>, sqlx::Error> {
    let mut owner_ids: Vec<i64> = chats.iter().filter_map(|c| c.owner_id).collect();
    owner_ids.sort_unstable();
    owner_ids.dedup();
    let links = store::users::links_of(conn, &owner_ids).await?;
    Ok(chats
        .into_iter()
        .map(|chat| ChatSummary {
            config: ChatConfig::from(&chat),
            expires_at: None,
            peer: None,
            running: chat.browser_live().0,
            viewer_count: chat.browser_live().1,
            id: chat.id,
            owner: chat.owner_id.zip(chat.owner_username).map(|(id, username)| ChatOwner {
                id,
                avatar_url: user_avatar_url(id, chat.owner_avatar_source.as_deref(), &links),
                username,
            }),
            avatar_url: chat_avatar_url(chat.avatar_source.as_deref()),
            chat_type: chat.chat_type,
            name: chat.name,
            visibility: chat.visibility,
            label: chat.label,
            slug: chat.slug,
            description: chat.description,
            secrets: Vec::new(),
            archived: chat.is_archived != 0,
        })
        .collect())
}

pub async fn summary(conn: &mut Conn, chat: ChatRow) -> Result<ChatSummary, sqlx::Error> {
    let mut one = summaries(conn, vec![chat]).await?;
    Ok(one.remove(0))
}

/// A chat as the admin endpoints show it (60-chats §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatAdmin {
    pub id: i64,
    pub name: String,
    /// `null` for a direct chat.
    pub owner_id: Option<i64>,
    pub is_public: bool,
    pub visibility: String,
    pub label: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub avatar_source: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[serde(flatten)]
    pub config: ChatConfig,
    /// The chat's browser machine is running (92-browser-rooms §5.1).
    pub running: bool,
    pub viewer_count: i64,
}

impl From<&ChatRow> for ChatAdmin {
    fn from(chat: &ChatRow) -> Self {
        ChatAdmin {
            id: chat.id,
            name: chat.name.clone(),
            owner_id: chat.owner_id,
            is_public: is_public(&chat.visibility),
            visibility: chat.visibility.clone(),
            label: chat.label.clone(),
            slug: chat.slug.clone(),
            description: chat.description.clone(),
            avatar_source: chat.avatar_source.clone(),
            last_activity_at: Timestamp(chat.last_activity_at),
            created_at: Timestamp(chat.created_at),
            updated_at: Timestamp(chat.updated_at),
            config: ChatConfig::from(chat),
            running: chat.browser_live().0,
            viewer_count: chat.browser_live().1,
        }
    }
}

/// The stored `browser_config` as JSON (it is always written from a JSON object).
pub fn browser_config_value(chat: &ChatRow) -> Value {
    serde_json::from_str(&chat.browser_config).unwrap_or(Value::Null)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberUser {
    pub id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
    pub permission_level: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatMember {
    pub user: MemberUser,
    pub is_online: bool,
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: Timestamp,
}

/// `ChatAdmin` plus the stored VM settings, the epoch, the message count and the members
/// (60-chats §5.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatAdminDetail {
    #[serde(flatten)]
    pub chat: ChatAdmin,
    #[schema(value_type = Object)]
    pub browser_config: Value,
    /// The chat's current key epoch (90-chat-transport §4.1).
    pub epoch: i64,
    /// Messages stored in the chat.
    pub message_count: i64,
    pub member_count: i64,
    pub members: Vec<ChatMember>,
    /// The chat's browser machine that is not stopped (92-browser-rooms §5.2).
    pub machine: Option<BrowserMachine>,
}

/// At most this many members are listed; `member_count` is always the full count.
pub const MEMBER_LIST_CAP: i64 = 1000;

pub async fn detail(
    conn: &mut Conn,
    chat: &ChatRow,
    machine: Option<BrowserMachine>,
) -> Result<ChatAdminDetail, sqlx::Error> {
    let member_count = store::chats::member_count(conn, chat.id).await?;
    let rows: Vec<MemberRow> = store::chats::members(conn, chat.id, MEMBER_LIST_CAP).await?;
    let ids: Vec<i64> = rows.iter().map(|m| m.user_id).collect();
    let links = store::users::links_of(conn, &ids).await?;
    let members = rows
        .into_iter()
        .map(|m| ChatMember {
            user: MemberUser {
                id: m.user_id,
                avatar_url: user_avatar_url(m.user_id, m.avatar_source.as_deref(), &links),
                username: m.username,
                permission_level: m.permission_level,
            },
            // Presence (80-notifications-portal) is not part of this server yet: nobody shows
            // as connected.
            is_online: false,
            joined_at: Timestamp(m.joined_at),
        })
        .collect();
    Ok(ChatAdminDetail {
        chat: ChatAdmin::from(chat),
        browser_config: browser_config_value(chat),
        epoch: chat.epoch,
        message_count: store::transport::message_count(conn, chat.id).await?,
        member_count,
        members,
        machine,
    })
}

/// The answer of the admin creation (60-chats §5.4): a new chat has no machine running.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatStatus {
    pub chat_id: i64,
    pub chat_name: String,
    pub username: String,
    pub browser: String,
    pub allow_control_requests: bool,
    pub visibility: String,
    pub label: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub avatar_source: Option<String>,
    pub running: bool,
    pub viewer_count: i64,
}

impl From<&ChatRow> for ChatStatus {
    fn from(chat: &ChatRow) -> Self {
        let browser = browser_config_value(chat)
            .get("browser")
            .and_then(Value::as_str)
            .unwrap_or("firefox")
            .to_owned();
        ChatStatus {
            chat_id: chat.id,
            chat_name: chat.name.clone(),
            // Only the admin creation answers with this shape, and it makes group chats, which
            // always have an owner.
            username: chat.owner_username.clone().unwrap_or_default(),
            browser,
            allow_control_requests: chat.allow_control_requests != 0,
            visibility: chat.visibility.clone(),
            label: chat.label.clone(),
            slug: chat.slug.clone(),
            description: chat.description.clone(),
            avatar_source: chat.avatar_source.clone(),
            running: chat.browser_live().0,
            viewer_count: chat.browser_live().1,
        }
    }
}

/// An invite code of a chat (60-chats §5.5).
#[derive(Debug, Serialize, ToSchema)]
pub struct Invite {
    pub code: String,
    pub chat_id: i64,
    pub created_by_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    pub uses: i64,
    pub max_uses: Option<i64>,
}

impl From<InviteRow> for Invite {
    fn from(row: InviteRow) -> Self {
        Invite {
            code: row.code,
            chat_id: row.chat_id,
            created_by_id: row.created_by_id,
            created_at: Timestamp(row.created_at),
            expires_at: row.expires_at.map(Timestamp),
            uses: row.uses,
            max_uses: row.max_uses,
        }
    }
}

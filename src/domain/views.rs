//! The user shapes of 20-users §1 and how they are built from stored rows, with effective state,
//! tier and avatar computed at read time.

use serde::Serialize;
use utoipa::ToSchema;

use crate::action_type::ActionType;
use crate::bot_type::BotType;
use crate::domain::matchmaking::MatchPeer;
use crate::geo::Geo;
use crate::store::history::{ChatBriefRow, ModerationRow, PermissionHistoryRow, SubscriptionHistoryRow};
use crate::store::keys::BotRow;
use crate::store::sessions::SessionRow;
use crate::store::users::{LinkedPlatformRow, Restrictions, UserRow, UserWithLinks};
use crate::store::{self, Conn};
use crate::tier::Tier;
use crate::time::Timestamp;
use crate::user_kind::UserKind;

/// Effective tier and its expiry: a Trial or Premium past its expiry reads as Basic.
pub fn effective_tier(user: &UserRow, now: i64) -> (Tier, Option<i64>) {
    match (user.subscription_tier, user.subscription_expires_at) {
        (tier, Some(expires)) if tier.is_timed() && expires > now => (tier, Some(expires)),
        (Tier::Lifetime, _) => (Tier::Lifetime, None),
        _ => (Tier::Basic, None),
    }
}

/// Ban beats timeout beats active.
pub fn effective_state(restrictions: &Restrictions) -> i64 {
    if restrictions.ban.is_some() {
        2
    } else if restrictions.timeout.is_some() {
        1
    } else {
        0
    }
}

/// 20-users §1.4.
pub fn avatar_url(avatar_source: Option<&str>, links: &[&LinkedPlatformRow]) -> Option<String> {
    if let Some(source) = avatar_source {
        if let Some(digit) = source.strip_prefix("discord_") {
            return Some(format!("https://cdn.discordapp.com/embed/avatars/{digit}.png"));
        }
        if let Some(link) = links.iter().find(|l| l.platform == source) {
            return link.platform_avatar_url.clone();
        }
    }
    links.first().and_then(|l| l.platform_avatar_url.clone())
}

// `deny_unknown_fields` closes the schema (`additionalProperties: false`), so that a richer view is
// never also a valid public one and the `oneOf`s that offer both stay unambiguous.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPublic {
    pub id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
    #[schema(value_type = i64, minimum = 0, maximum = 3)]
    pub subscription_tier: Tier,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedPlatform {
    pub platform: String,
    pub platform_user_id: String,
    pub platform_username: String,
    pub platform_avatar_url: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub linked_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_authenticated_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPrivate {
    pub id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
    #[schema(value_type = i64, minimum = 0, maximum = 3)]
    pub subscription_tier: Tier,
    pub state: i64,
    pub permission_level: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub subscription_expires_at: Option<Timestamp>,
    pub subscription_granted_by: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub permission_since: Option<Timestamp>,
    pub avatar_source: Option<String>,
    pub linked_platforms: Vec<LinkedPlatform>,
    pub kind: UserKind,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModerationAction {
    pub id: i64,
    pub user_id: i64,
    #[schema(value_type = String)]
    pub action_type: ActionType,
    pub reason: Option<String>,
    pub chat_id: Option<i64>,
    pub issued_by_id: Option<i64>,
    pub is_lifted: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lifted_at: Option<Timestamp>,
    pub lifted_by_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<ModerationRow> for ModerationAction {
    fn from(r: ModerationRow) -> Self {
        ModerationAction {
            id: r.id,
            user_id: r.user_id,
            action_type: r.action_type,
            reason: r.reason,
            chat_id: r.chat_id,
            issued_by_id: r.issued_by_id,
            is_lifted: r.is_lifted != 0,
            expires_at: r.expires_at.map(Timestamp),
            lifted_at: r.lifted_at.map(Timestamp),
            lifted_by_id: r.lifted_by_id,
            created_at: Timestamp(r.created_at),
        }
    }
}

/// What a user sees of their own record: never who issued or lifted it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnModerationAction {
    pub id: i64,
    #[schema(value_type = String)]
    pub action_type: ActionType,
    pub reason: Option<String>,
    pub chat_id: Option<i64>,
    pub is_lifted: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lifted_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<ModerationRow> for OwnModerationAction {
    fn from(r: ModerationRow) -> Self {
        OwnModerationAction {
            id: r.id,
            action_type: r.action_type,
            reason: r.reason,
            chat_id: r.chat_id,
            is_lifted: r.is_lifted != 0,
            expires_at: r.expires_at.map(Timestamp),
            lifted_at: r.lifted_at.map(Timestamp),
            created_at: Timestamp(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionHistoryEntry {
    pub id: i64,
    pub old_tier: i64,
    pub new_tier: i64,
    pub reason: Option<String>,
    pub granted_by_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<SubscriptionHistoryRow> for SubscriptionHistoryEntry {
    fn from(r: SubscriptionHistoryRow) -> Self {
        SubscriptionHistoryEntry {
            id: r.id,
            old_tier: r.old_tier,
            new_tier: r.new_tier,
            reason: r.reason,
            granted_by_id: r.granted_by_id,
            created_at: Timestamp(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionHistoryEntry {
    pub id: i64,
    pub old_level: i64,
    pub new_level: i64,
    pub reason: Option<String>,
    pub changed_by_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<PermissionHistoryRow> for PermissionHistoryEntry {
    fn from(r: PermissionHistoryRow) -> Self {
        PermissionHistoryEntry {
            id: r.id,
            old_level: r.old_level,
            new_level: r.new_level,
            reason: r.reason,
            changed_by_id: r.changed_by_id,
            created_at: Timestamp(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatBrief {
    pub id: i64,
    pub name: String,
    pub is_public: bool,
    pub visibility: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// `group` or `direct`.
    pub chat_type: String,
    /// True for a direct chat that has ended.
    pub archived: bool,
    /// A direct chat's `expires_at` while active, its deletion time once archived; `null` for
    /// group chats.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// A direct chat's other participant; `null` for group chats.
    pub peer: Option<MatchPeer>,
}

impl From<ChatBriefRow> for ChatBrief {
    fn from(r: ChatBriefRow) -> Self {
        ChatBrief {
            id: r.id,
            name: r.name,
            is_public: r.visibility != "private",
            visibility: r.visibility,
            created_at: Timestamp(r.created_at),
            chat_type: "group".to_owned(),
            archived: false,
            expires_at: None,
            peer: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotPrivate {
    pub id: i64,
    pub name: String,
    pub platform: String,
    pub owner_id: i64,
    #[schema(value_type = i64, minimum = 1, maximum = 3)]
    pub bot_type: BotType,
    pub is_active: bool,
    pub rate_limit_per_hour: i64,
    pub groups: i64,
    pub users: i64,
    pub avatar_url: Option<String>,
    pub latency_ms: Option<f64>,
    pub is_verified: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity_at: Option<Timestamp>,
    pub api_key_prefix: String,
    #[schema(value_type = String, format = DateTime)]
    pub api_key_created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<BotRow> for BotPrivate {
    fn from(b: BotRow) -> Self {
        BotPrivate {
            id: b.id,
            name: b.name,
            platform: b.platform,
            owner_id: b.owner_id,
            bot_type: b.bot_type,
            is_active: b.is_active != 0,
            rate_limit_per_hour: b.rate_limit_per_hour,
            groups: b.groups,
            users: b.users,
            avatar_url: b.avatar_url,
            latency_ms: b.latency_ms,
            is_verified: is_verified(b.bot_type),
            last_activity_at: b.last_activity_at.map(Timestamp),
            api_key_prefix: b.api_key_prefix,
            api_key_created_at: Timestamp(b.api_key_created_at),
            created_at: Timestamp(b.created_at),
            updated_at: Timestamp(b.updated_at),
        }
    }
}

/// What anyone may see of a bot (50-bots §3): no owner, platform, type, activity or key details.
// Closed in the document like `UserPublic`, so that a private view never also matches it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotPublic {
    pub id: i64,
    pub name: String,
    pub groups: i64,
    pub users: i64,
    pub avatar_url: Option<String>,
    pub latency_ms: Option<f64>,
    pub is_verified: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<BotRow> for BotPublic {
    fn from(b: BotRow) -> Self {
        BotPublic {
            id: b.id,
            name: b.name,
            groups: b.groups,
            users: b.users,
            avatar_url: b.avatar_url,
            latency_ms: b.latency_ms,
            is_verified: is_verified(b.bot_type),
            last_activity_at: b.last_activity_at.map(Timestamp),
            created_at: Timestamp(b.created_at),
            updated_at: Timestamp(b.updated_at),
        }
    }
}

/// Official (1) and Verified (2) bots are verified.
pub fn is_verified(bot_type: BotType) -> bool {
    matches!(bot_type, BotType::Official | BotType::Verified)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveSession {
    pub token_suffix: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    pub client_ip: String,
    pub user_agent: Option<String>,
    pub geo: Option<Geo>,
    pub is_current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndedSession {
    pub token_suffix: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ended_at: Timestamp,
    pub end_reason: String,
    pub client_ip: String,
    pub user_agent: Option<String>,
    pub geo: Option<Geo>,
}

fn parse_geo(text: Option<&str>) -> Option<Geo> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

impl ActiveSession {
    pub fn from_row(row: SessionRow, current_session_id: i64) -> Self {
        ActiveSession {
            is_current: row.id == current_session_id,
            geo: parse_geo(row.geo.as_deref()),
            token_suffix: row.token_suffix,
            created_at: Timestamp(row.created_at),
            expires_at: Timestamp(row.expires_at),
            client_ip: row.client_ip,
            user_agent: row.user_agent,
        }
    }
}

impl From<SessionRow> for EndedSession {
    fn from(row: SessionRow) -> Self {
        EndedSession {
            geo: parse_geo(row.geo.as_deref()),
            token_suffix: row.token_suffix,
            created_at: Timestamp(row.created_at),
            ended_at: Timestamp(row.ended_at.unwrap_or(row.expires_at)),
            end_reason: row.end_reason.unwrap_or_else(|| "expired".into()),
            client_ip: row.client_ip,
            user_agent: row.user_agent,
        }
    }
}

/// `UserPrivate` plus the six lists (20-users §1.5).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: UserPrivate,
    pub moderation_actions: Vec<ModerationAction>,
    pub chats: Vec<ChatBrief>,
    pub bots: Vec<BotPrivate>,
    pub subscription_history: Vec<SubscriptionHistoryEntry>,
    pub permission_history: Vec<PermissionHistoryEntry>,
    /// Ended sessions with IP and geolocation: filled only when the viewer is an Owner; `[]` for an
    /// Admin viewer.
    pub session_history: Vec<EndedSession>,
}

pub fn public_view(user: &UserRow, links: &[&LinkedPlatformRow], now: i64) -> UserPublic {
    UserPublic {
        id: user.id,
        username: user.username.clone(),
        avatar_url: avatar_url(user.avatar_source.as_deref(), links),
        subscription_tier: effective_tier(user, now).0,
    }
}

pub fn private_view(
    user: &UserRow,
    links: &[&LinkedPlatformRow],
    restrictions: &Restrictions,
    now: i64,
) -> UserPrivate {
    let (tier, expires) = effective_tier(user, now);
    UserPrivate {
        id: user.id,
        username: user.username.clone(),
        avatar_url: avatar_url(user.avatar_source.as_deref(), links),
        subscription_tier: tier,
        state: effective_state(restrictions),
        permission_level: user.permission_level.as_i64(),
        subscription_expires_at: expires.map(Timestamp),
        subscription_granted_by: if tier == Tier::Basic {
            None
        } else {
            user.subscription_granted_by
        },
        last_activity_at: Timestamp(user.last_activity_at),
        permission_since: user.permission_since.map(Timestamp),
        avatar_source: user.avatar_source.clone(),
        linked_platforms: links
            .iter()
            .map(|l| LinkedPlatform {
                platform: l.platform.clone(),
                platform_user_id: l.platform_user_id.clone(),
                platform_username: l.platform_username.clone(),
                platform_avatar_url: l.platform_avatar_url.clone(),
                linked_at: Timestamp(l.linked_at),
                last_authenticated_at: l.last_authenticated_at.map(Timestamp),
            })
            .collect(),
        kind: user.kind,
        created_at: Timestamp(user.created_at),
        updated_at: Timestamp(user.updated_at),
    }
}

/// A view and the moment it next changes by itself (a subscription, a restriction or a session
/// running out), if one is coming; until then it changes only by a write.
pub struct Timed<T> {
    pub view: T,
    pub changes_at: Option<i64>,
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The tier shown falls back to Basic when a trial or premium runs out.
fn tier_changes_at(user: &UserRow, now: i64) -> Option<i64> {
    effective_tier(user, now).1
}

/// The state shown changes when a timed ban or timeout in force runs out.
fn restrictions_change_at(restrictions: &Restrictions) -> Option<i64> {
    earliest(restrictions.ban.flatten(), restrictions.timeout.flatten())
}

/// Loads what `UserPrivate` needs beyond the user row: its links and the restrictions in force.
pub async fn load_private(conn: &mut Conn, user: &UserRow, now: i64) -> Result<UserPrivate, sqlx::Error> {
    Ok(load_private_timed(conn, user, now).await?.view)
}

pub async fn load_private_timed(conn: &mut Conn, user: &UserRow, now: i64) -> Result<Timed<UserPrivate>, sqlx::Error> {
    let links = store::users::links_of(conn, &[user.id]).await?;
    private_timed(conn, user, &links, now).await
}

/// `UserPrivate` of a user whose links are at hand: only the restrictions are read.
async fn private_timed(
    conn: &mut Conn,
    user: &UserRow,
    links: &[LinkedPlatformRow],
    now: i64,
) -> Result<Timed<UserPrivate>, sqlx::Error> {
    let restrictions = store::users::restrictions(conn, user.id, now).await?;
    Ok(Timed {
        view: private_view(user, &links.iter().collect::<Vec<_>>(), &restrictions, now),
        changes_at: earliest(tier_changes_at(user, now), restrictions_change_at(&restrictions)),
    })
}

/// The public card needs nothing beyond the user and their links.
pub fn public_timed(target: &UserWithLinks, now: i64) -> Timed<UserPublic> {
    Timed {
        view: public_view(&target.user, &target.links.iter().collect::<Vec<_>>(), now),
        changes_at: tier_changes_at(&target.user, now),
    }
}

/// Each list of the elevated view holds at most this many entries.
pub const DETAIL_LIST_CAP: i64 = 100;

/// The elevated view: a fixed number of queries whatever the lists hold.
pub async fn load_detail(
    conn: &mut Conn,
    target: &UserWithLinks,
    with_sessions: bool,
    now: i64,
) -> Result<Timed<UserDetail>, sqlx::Error> {
    let user = &target.user;
    let private = private_timed(conn, user, &target.links, now).await?;
    let moderation = store::history::moderation_of(conn, user.id, 0, DETAIL_LIST_CAP).await?;
    let chats = store::history::chats_owned_by(conn, user.id, DETAIL_LIST_CAP).await?;
    let bots = store::keys::bots_of_owner(conn, user.id, DETAIL_LIST_CAP).await?;
    let subscriptions = store::history::subscription_history_of(conn, user.id, DETAIL_LIST_CAP).await?;
    let permissions = store::history::permission_history_of(conn, user.id, DETAIL_LIST_CAP).await?;
    let (sessions, session_ends_at) = if with_sessions {
        (
            store::sessions::history_of(conn, user.id, now, DETAIL_LIST_CAP).await?,
            // A live session joins the history when it expires.
            store::sessions::next_expiry_of(conn, user.id, now).await?,
        )
    } else {
        (Vec::new(), None)
    };
    Ok(Timed {
        view: UserDetail {
            user: private.view,
            moderation_actions: moderation.into_iter().map(Into::into).collect(),
            chats: chats.into_iter().map(Into::into).collect(),
            bots: bots.into_iter().map(Into::into).collect(),
            subscription_history: subscriptions.into_iter().map(Into::into).collect(),
            permission_history: permissions.into_iter().map(Into::into).collect(),
            session_history: sessions.into_iter().map(Into::into).collect(),
        },
        changes_at: earliest(private.changes_at, session_ends_at),
    })
}

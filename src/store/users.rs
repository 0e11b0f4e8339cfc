//! Users and their linked platform identities.

use std::sync::LazyLock;

use sqlx::{FromRow, Row};

use super::Conn;
use crate::action_type::ActionType;
use crate::level::Level;
use crate::tier::Tier;
use crate::user_kind::UserKind;

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub avatar_source: Option<String>,
    #[sqlx(try_from = "i64")]
    pub permission_level: Level,
    pub permission_since: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub subscription_tier: Tier,
    pub subscription_expires_at: Option<i64>,
    pub subscription_granted_by: Option<i64>,
    pub is_trial_used: i64,
    pub bot_login_count: i64,
    pub last_activity_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    #[sqlx(try_from = "String")]
    pub kind: UserKind,
}

pub const USER_COLUMNS: &str = "id, username, avatar_source, permission_level, permission_since, \
    subscription_tier, subscription_expires_at, subscription_granted_by, is_trial_used, \
    bot_login_count, last_activity_at, created_at, updated_at, kind";

#[derive(Debug, Clone, FromRow)]
pub struct LinkedPlatformRow {
    pub user_id: i64,
    pub platform: String,
    pub platform_user_id: String,
    pub platform_username: String,
    pub platform_avatar_url: Option<String>,
    pub linked_at: i64,
    pub last_authenticated_at: Option<i64>,
}

const LINK_COLUMNS: &str = "user_id, platform, platform_user_id, platform_username, \
    platform_avatar_url, linked_at, last_authenticated_at";

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The users among `ids` that exist, in no particular order.
pub async fn by_ids(conn: &mut Conn, ids: &[i64]) -> Result<Vec<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id IN ({{ids}})");
    super::fetch_for_ids(conn, &sql, ids, None).await
}

/// A user with their linked platforms, earliest-linked first.
pub struct UserWithLinks {
    pub user: UserRow,
    pub links: Vec<LinkedPlatformRow>,
}

/// How a user is named in a request.
#[derive(Debug, Clone, Copy)]
pub enum UserKey<'a> {
    Id(i64),
    Username(&'a str),
}

/// `columns` (a list as in `USER_COLUMNS`), each prefixed with `table`.
fn qualified(table: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The query texts below are put together once: built on each call, they were a tenth of the
/// instructions of a profile read that misses the cache.
fn with_links_sql(filter: &str) -> String {
    format!(
        "SELECT {}, {} FROM users u LEFT JOIN linked_platforms l ON l.user_id = u.id \
         WHERE {filter} ORDER BY l.linked_at ASC, l.platform ASC",
        qualified("u", USER_COLUMNS),
        qualified("l", LINK_COLUMNS)
    )
}

static WITH_LINKS_BY_ID: LazyLock<String> = LazyLock::new(|| with_links_sql("u.id = $1"));
static WITH_LINKS_BY_USERNAME: LazyLock<String> = LazyLock::new(|| with_links_sql("u.username_lower = $1"));

/// Users read by one statement of `with_links_of`.
pub const WITH_LINKS_BATCH: usize = 32;

/// The lengths of the id lists `with_links_of` has a text for; a batch is padded to the next one,
/// so each connection prepares a few texts. A list is not free to pad: SQLite builds a temporary
/// index of an `IN` list's values for every run, and binds each value by its name, which for 32
/// values was a sixth of the instructions of a single miss. Misses mostly come one or a few at a
/// time, so the short lists are the common ones.
const WITH_LINKS_LENGTHS: [usize; 3] = [1, 4, WITH_LINKS_BATCH];

static WITH_LINKS_BY_IDS: LazyLock<[String; 3]> = LazyLock::new(|| {
    WITH_LINKS_LENGTHS.map(|length| match length {
        1 => WITH_LINKS_BY_ID.clone(),
        _ => {
            let list = (1..=length).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            with_links_sql(&format!("u.id IN ({list})"))
        }
    })
});

/// A user and their links in one query (the profile reads' cache misses make it hot).
pub async fn with_links(conn: &mut Conn, key: UserKey<'_>) -> Result<Option<UserWithLinks>, sqlx::Error> {
    let sql: &str = match key {
        UserKey::Id(_) => &WITH_LINKS_BY_ID,
        UserKey::Username(_) => &WITH_LINKS_BY_USERNAME,
    };
    let query = sqlx::query(sql);
    let query = match key {
        UserKey::Id(id) => query.bind(id),
        UserKey::Username(name) => query.bind(name.to_lowercase()),
    };
    Ok(grouped(query.fetch_all(conn).await?)?.pop())
}

/// The rows of a `with_links_sql` query as users with their links, in the rows' order.
fn grouped(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<UserWithLinks>, sqlx::Error> {
    let mut users: Vec<UserWithLinks> = Vec::new();
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let index = match users.iter().position(|u| u.user.id == id) {
            Some(index) => index,
            None => {
                users.push(UserWithLinks {
                    user: UserRow::from_row(row)?,
                    links: Vec::new(),
                });
                users.len() - 1
            }
        };
        // The LEFT JOIN gives one row of NULL link columns to a user without links.
        if row.try_get::<Option<String>, _>("platform")?.is_some() {
            users[index].links.push(LinkedPlatformRow::from_row(row)?);
        }
    }
    Ok(users)
}

/// The users among `ids` (at most `WITH_LINKS_BATCH`) that exist, each with their links as
/// `with_links` reads them, in no particular order: one statement.
pub async fn with_links_of(conn: &mut Conn, ids: &[i64]) -> Result<Vec<UserWithLinks>, sqlx::Error> {
    let Some(&first) = ids.first() else {
        return Ok(Vec::new());
    };
    debug_assert!(ids.len() <= WITH_LINKS_BATCH);
    let class = WITH_LINKS_LENGTHS
        .iter()
        .position(|&length| length >= ids.len())
        .unwrap_or(WITH_LINKS_LENGTHS.len() - 1);
    let mut query = sqlx::query(&WITH_LINKS_BY_IDS[class]);
    for i in 0..WITH_LINKS_LENGTHS[class] {
        query = query.bind(ids.get(i).copied().unwrap_or(first));
    }
    grouped(query.fetch_all(conn).await?)
}

pub async fn by_username(conn: &mut Conn, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE username_lower = $1"))
        .bind(username.to_lowercase())
        .fetch_optional(conn)
        .await
}

pub async fn by_identity(
    conn: &mut Conn,
    platform: &str,
    platform_user_id: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = \
         (SELECT user_id FROM linked_platforms WHERE platform = $1 AND platform_user_id = $2)"
    ))
    .bind(platform)
    .bind(platform_user_id)
    .fetch_optional(conn)
    .await
}

pub async fn username_taken(conn: &mut Conn, username: &str, except_id: Option<i64>) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE username_lower = $1")
        .bind(username.to_lowercase())
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some_and(|(id,)| Some(id) != except_id))
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub permission_level: i64,
    pub kind: UserKind,
    /// A stranger's address group (91-matchmaking §2.1); `None` for registered users.
    pub created_from_group: Option<&'a str>,
    pub now: i64,
}

pub async fn insert(conn: &mut Conn, user: NewUser<'_>) -> Result<UserRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO users (username, username_lower, permission_level, kind, created_from_group, \
         last_activity_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $6) RETURNING {USER_COLUMNS}"
    ))
    .bind(user.username)
    .bind(user.username.to_lowercase())
    .bind(user.permission_level)
    .bind(user.kind.as_str())
    .bind(user.created_from_group)
    .bind(user.now)
    .fetch_one(conn)
    .await
}

pub struct NewLink<'a> {
    pub user_id: i64,
    pub platform: &'a str,
    pub platform_user_id: &'a str,
    pub platform_username: &'a str,
    pub platform_avatar_url: Option<&'a str>,
    pub last_authenticated_at: Option<i64>,
    pub now: i64,
}

pub async fn insert_link(conn: &mut Conn, link: NewLink<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO linked_platforms (user_id, platform, platform_user_id, platform_username, \
         platform_avatar_url, linked_at, last_authenticated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(link.user_id)
    .bind(link.platform)
    .bind(link.platform_user_id)
    .bind(link.platform_username)
    .bind(link.platform_avatar_url)
    .bind(link.now)
    .bind(link.last_authenticated_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Linked platforms of several users at once, earliest-linked first.
pub async fn links_of(conn: &mut Conn, user_ids: &[i64]) -> Result<Vec<LinkedPlatformRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM linked_platforms WHERE user_id IN ({{ids}}) \
         ORDER BY linked_at ASC, platform ASC"
    );
    super::fetch_for_ids(conn, &sql, user_ids, None).await
}

/// Whether the linked platform `l` holds another name than `$3` or another avatar than `$4`, the
/// name and avatar a bot reported for the identity `$1`/`$2`. The codes' update asks it too.
pub(super) const LINK_DIFFERS_FROM_REPORT: &str =
    "l.platform = $1 AND l.platform_user_id = $2 AND (l.platform_username <> $3 OR l.platform_avatar_url IS DISTINCT FROM $4)";

/// A bot reported the identity's current name and avatar; `true` when something changed, and then
/// the user was touched too.
pub async fn refresh_link(
    conn: &mut Conn,
    platform: &str,
    platform_user_id: &str,
    username: &str,
    avatar_url: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    // The user's row is written before the link's, the order in which a login (and a deletion)
    // takes them, so that two transactions on one user never wait for each other's rows.
    static TOUCH_IF_DIFFERS: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE users SET updated_at = $5 WHERE id = \
             (SELECT l.user_id FROM linked_platforms l WHERE {LINK_DIFFERS_FROM_REPORT}) RETURNING id"
        )
    });
    let touched: Option<(i64,)> = sqlx::query_as(&TOUCH_IF_DIFFERS)
        .bind(platform)
        .bind(platform_user_id)
        .bind(username)
        .bind(avatar_url)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
    if touched.is_some() {
        sqlx::query(
            "UPDATE linked_platforms SET platform_username = $3, platform_avatar_url = $4 \
             WHERE platform = $1 AND platform_user_id = $2",
        )
        .bind(platform)
        .bind(platform_user_id)
        .bind(username)
        .bind(avatar_url)
        .execute(conn)
        .await?;
    }
    Ok(touched.is_some())
}

/// The identity logged in now; returns the user's linked platforms, earliest-linked first.
pub async fn mark_authenticated(
    conn: &mut Conn,
    user_id: i64,
    platform: &str,
    platform_user_id: &str,
    now: i64,
) -> Result<Vec<LinkedPlatformRow>, sqlx::Error> {
    // Every link of the user is returned; only the one that logged in changes.
    let mut links: Vec<LinkedPlatformRow> = sqlx::query_as(&format!(
        "UPDATE linked_platforms SET last_authenticated_at = \
         CASE WHEN platform = $2 AND platform_user_id = $3 THEN $4 ELSE last_authenticated_at END \
         WHERE user_id = $1 RETURNING {LINK_COLUMNS}"
    ))
    .bind(user_id)
    .bind(platform)
    .bind(platform_user_id)
    .bind(now)
    .fetch_all(conn)
    .await?;
    earliest_linked_first(&mut links);
    Ok(links)
}

/// After a login by the identity: activity now, and the bot-login counter reset (web code) or
/// increased (bot code). Returns the user as it now stands, with the restrictions in force at `now`;
/// `None` when the identity has no account or its user is banned, and then nothing changed.
pub async fn record_login(
    conn: &mut Conn,
    platform: &str,
    platform_user_id: &str,
    bot_origin: bool,
    now: i64,
) -> Result<Option<(UserRow, Restrictions)>, sqlx::Error> {
    // One statement serves the whole look-up of a login: the user, the ban check and the
    // restrictions the answer shows.
    static RECORD_LOGIN: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE users SET last_activity_at = $3, \
             bot_login_count = CASE WHEN $4 = 1 THEN bot_login_count + 1 ELSE 0 END \
             WHERE id = (SELECT user_id FROM linked_platforms WHERE platform = $1 AND platform_user_id = $2) \
             AND {} IS NULL RETURNING {USER_COLUMNS}, {}",
            restriction_end(ActionType::PlatformBan, "users.id", "$3"),
            restriction_columns("users.id", "$3")
        )
    });
    let row = sqlx::query(&RECORD_LOGIN)
        .bind(platform)
        .bind(platform_user_id)
        .bind(now)
        .bind(i64::from(bot_origin))
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(user_with_restrictions).transpose()
}

/// The order links are shown in, as `with_links_sql` reads them.
fn earliest_linked_first(links: &mut [LinkedPlatformRow]) {
    links.sort_by(|a, b| (a.linked_at, &a.platform).cmp(&(b.linked_at, &b.platform)));
}

/// A login by code, with the session it opens, for `log_in_with_code`.
pub struct CodeLogin<'a> {
    pub code: &'a str,
    /// The origin of codes that count toward the bot-login limit.
    pub bot_origin: &'a str,
    pub now: i64,
    pub token_hash: &'a str,
    pub token_suffix: &'a str,
    /// A session's lifetime in microseconds for a user of each level, by level number.
    pub lifetime_by_level: [i64; 4],
    pub client_ip: &'a str,
    pub user_agent: Option<&'a str>,
    pub geo: Option<&'a str>,
}

/// Who a code logged in, as they now stand.
pub struct LoggedIn {
    pub user: UserRow,
    pub restrictions: Restrictions,
    /// Every link of the user, earliest-linked first.
    pub links: Vec<LinkedPlatformRow>,
}

/// The whole of an ordinary login in one statement, PostgreSQL only (its data-modifying `WITH`):
/// the code's identity's codes consumed, the login recorded as `record_login` does, the session
/// inserted and the link marked as `mark_authenticated` does. Five round trips of a transaction
/// were most of the database's work in a login.
///
/// It does all of that, or nothing and returns `None`: the codes go only when the identity has an
/// account whose user is not banned and has no live session with the token's suffix, and every
/// later part follows from the codes consumed. The caller then takes the general path, which
/// tells those cases apart.
pub async fn log_in_with_code(conn: &mut Conn, login: CodeLogin<'_>) -> Result<Option<LoggedIn>, sqlx::Error> {
    static LOG_IN_WITH_CODE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH consumed AS (\
               DELETE FROM login_codes c USING linked_platforms l \
               WHERE l.platform = c.platform AND l.platform_user_id = c.platform_user_id \
               AND (c.platform, c.platform_user_id) IN \
                 (SELECT platform, platform_user_id FROM login_codes WHERE code = $1 AND expires_at > $2) \
               AND {ban} IS NULL \
               AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = l.user_id AND s.token_suffix = $4 \
                 AND s.ended_at IS NULL AND s.expires_at > $2) \
               RETURNING c.code, c.origin, c.platform, c.platform_user_id, l.user_id), \
             used AS (SELECT origin, platform, platform_user_id, user_id FROM consumed WHERE code = $1), \
             logged_in AS (\
               UPDATE users SET last_activity_at = $2, \
               bot_login_count = CASE WHEN used.origin = $12 THEN users.bot_login_count + 1 ELSE 0 END \
               FROM used WHERE users.id = used.user_id \
               RETURNING {user_columns}, {restrictions}), \
             opened AS (\
               INSERT INTO sessions (user_id, token_hash, token_suffix, created_at, expires_at, client_ip, user_agent, geo) \
               SELECT id, $3, $4, $2, $2 + CASE permission_level WHEN 0 THEN $5 WHEN 1 THEN $6 WHEN 2 THEN $7 ELSE $8 END, \
               $9, $10, $11 FROM logged_in RETURNING user_id), \
             links AS (\
               UPDATE linked_platforms SET last_authenticated_at = CASE WHEN linked_platforms.platform = used.platform \
               AND linked_platforms.platform_user_id = used.platform_user_id THEN $2 \
               ELSE linked_platforms.last_authenticated_at END \
               FROM used WHERE linked_platforms.user_id = used.user_id \
               RETURNING {link_columns}) \
             SELECT logged_in.*, links.* FROM logged_in CROSS JOIN links CROSS JOIN opened",
            ban = restriction_end(ActionType::PlatformBan, "l.user_id", "$2"),
            user_columns = qualified("users", USER_COLUMNS),
            restrictions = restriction_columns("users.id", "$2"),
            link_columns = qualified("linked_platforms", LINK_COLUMNS),
        )
    });
    let [user_lifetime, moderator_lifetime, admin_lifetime, owner_lifetime] = login.lifetime_by_level;
    let rows = sqlx::query(&LOG_IN_WITH_CODE)
        .bind(login.code)
        .bind(login.now)
        .bind(login.token_hash)
        .bind(login.token_suffix)
        .bind(user_lifetime)
        .bind(moderator_lifetime)
        .bind(admin_lifetime)
        .bind(owner_lifetime)
        .bind(login.client_ip)
        .bind(login.user_agent)
        .bind(login.geo)
        .bind(login.bot_origin)
        .fetch_all(conn)
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let (user, restrictions) = user_with_restrictions(first)?;
    let mut links = rows
        .iter()
        .map(LinkedPlatformRow::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    earliest_linked_first(&mut links);
    Ok(Some(LoggedIn {
        user,
        restrictions,
        links,
    }))
}

/// Sets `last_activity_at` unless it was set within the last `min_gap` microseconds.
pub async fn refresh_activity(conn: &mut Conn, user_id: i64, now: i64, min_gap: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_activity_at = $2 WHERE id = $1 AND last_activity_at < $3")
        .bind(user_id)
        .bind(now)
        .bind(now - min_gap)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn update_profile(
    conn: &mut Conn,
    user_id: i64,
    username: Option<&str>,
    avatar_source: Option<Option<&str>>,
    now: i64,
) -> Result<(), sqlx::Error> {
    if let Some(name) = username {
        sqlx::query("UPDATE users SET username = $2, username_lower = $3, updated_at = $4 WHERE id = $1")
            .bind(user_id)
            .bind(name)
            .bind(name.to_lowercase())
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(source) = avatar_source {
        sqlx::query("UPDATE users SET avatar_source = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(source)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn set_level(conn: &mut Conn, user_id: i64, level: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET permission_level = $2, permission_since = $3, updated_at = $3 WHERE id = $1")
        .bind(user_id)
        .bind(level)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn list(conn: &mut Conn, level: Option<i64>) -> Result<Vec<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE ($1 IS NULL OR permission_level = $1) ORDER BY id ASC");
    sqlx::query_as(&sql).bind(level).fetch_all(conn).await
}

/// Effective restrictions in force now: the end of the ban, of the timeout and of the hard mute
/// (`Some(None)` = permanent or indefinite).
#[derive(Debug, Clone, Copy, Default)]
pub struct Restrictions {
    pub ban: Option<Option<i64>>,
    pub timeout: Option<Option<i64>>,
    pub mute: Option<Option<i64>>,
}

/// One column per restriction kind, as `restriction_columns` selects them: the end of the longest
/// action of that kind in force, 0 when one of them is permanent, `NULL` when none is.
#[derive(FromRow)]
struct RestrictionEnds {
    ban_until: Option<i64>,
    timeout_until: Option<i64>,
    mute_until: Option<i64>,
}

impl From<RestrictionEnds> for Restrictions {
    fn from(ends: RestrictionEnds) -> Self {
        // A permanent action beats any timed one; no action in force ends at 0.
        let decode = |end: Option<i64>| end.map(|at| (at != 0).then_some(at));
        Restrictions {
            ban: decode(ends.ban_until),
            timeout: decode(ends.timeout_until),
            mute: decode(ends.mute_until),
        }
    }
}

/// The end of the longest action of `kind` in force for the user `user_id` (an SQL expression) at
/// `now` (one too): 0 when one of them is permanent, `NULL` when none is.
fn restriction_end(kind: ActionType, user_id: &str, now: &str) -> String {
    format!(
        "(SELECT CASE WHEN COUNT(*) = 0 THEN NULL WHEN COUNT(*) > COUNT(m.expires_at) THEN 0 \
         ELSE MAX(m.expires_at) END FROM moderation_actions m WHERE m.user_id = {user_id} \
         AND m.action_type = '{kind}' AND m.is_lifted = 0 \
         AND (m.expires_at IS NULL OR m.expires_at > {now}))",
        kind = kind.as_str()
    )
}

/// The `RestrictionEnds` columns of the user `user_id` (an SQL expression) at `now` (one too).
fn restriction_columns(user_id: &str, now: &str) -> String {
    [
        (ActionType::PlatformBan, "ban_until"),
        (ActionType::PlatformTimeout, "timeout_until"),
        (ActionType::PlatformMute, "mute_until"),
    ]
    .iter()
    .map(|(kind, column)| format!("{} AS {column}", restriction_end(*kind, user_id, now)))
    .collect::<Vec<_>>()
    .join(", ")
}

static RESTRICTIONS: LazyLock<String> = LazyLock::new(|| format!("SELECT {}", restriction_columns("$1", "$2")));
static BY_IDENTITY_WITH_RESTRICTIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {USER_COLUMNS}, {} FROM users WHERE id = \
         (SELECT user_id FROM linked_platforms WHERE platform = $1 AND platform_user_id = $2)",
        restriction_columns("users.id", "$3")
    )
});

pub async fn restrictions(conn: &mut Conn, user_id: i64, now: i64) -> Result<Restrictions, sqlx::Error> {
    let ends: RestrictionEnds = sqlx::query_as(&RESTRICTIONS)
        .bind(user_id)
        .bind(now)
        .fetch_one(conn)
        .await?;
    Ok(ends.into())
}

/// The user an identity belongs to, with the restrictions in force at `now`, in one query.
pub async fn by_identity_with_restrictions(
    conn: &mut Conn,
    platform: &str,
    platform_user_id: &str,
    now: i64,
) -> Result<Option<(UserRow, Restrictions)>, sqlx::Error> {
    let row = sqlx::query(&BY_IDENTITY_WITH_RESTRICTIONS)
        .bind(platform)
        .bind(platform_user_id)
        .bind(now)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(user_with_restrictions).transpose()
}

fn user_with_restrictions(row: &sqlx::any::AnyRow) -> Result<(UserRow, Restrictions), sqlx::Error> {
    Ok((UserRow::from_row(row)?, RestrictionEnds::from_row(row)?.into()))
}

/// `%`, `_` and `\` in a search text are ordinary characters.
pub(super) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// 20-users §3.11: id match, exact name, prefix, then the rest; by lower-cased name, then id.
/// Strangers never match (91-matchmaking §2.3).
pub async fn search(conn: &mut Conn, q: &str, offset: i64, limit: i64) -> Result<(Vec<UserRow>, i64), sqlx::Error> {
    let lowered = q.to_lowercase();
    let id = if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) {
        q.parse::<i64>().unwrap_or(-1)
    } else {
        -1
    };
    let escaped = escape_like(&lowered);
    let contains = format!("%{escaped}%");
    let prefix = format!("{escaped}%");
    let filter = "kind = 'registered' AND ($1 = '' OR username_lower LIKE $2 ESCAPE '\\' OR id = $3)";
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM users WHERE {filter}"))
        .bind(&lowered)
        .bind(&contains)
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {filter} ORDER BY \
         CASE WHEN id = $3 THEN 0 WHEN username_lower = $1 THEN 1 WHEN username_lower LIKE $4 ESCAPE '\\' THEN 2 ELSE 3 END, \
         username_lower, id LIMIT $5 OFFSET $6"
    ))
    .bind(&lowered)
    .bind(&contains)
    .bind(id)
    .bind(&prefix)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

/// No platform ban in force for `u` at `$1` (the ban rule of 30-admin-moderation, written once).
const NOT_BANNED_AT_1: &str = "NOT EXISTS (SELECT 1 FROM moderation_actions m WHERE m.user_id = u.id \
    AND m.action_type = 'PLATFORM_BAN' AND m.is_lifted = 0 AND (m.expires_at IS NULL OR m.expires_at > $1))";

/// Owners who are not banned at `now`; the platform must always keep one.
pub async fn unbanned_owner_count(conn: &mut Conn, now: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM users u WHERE u.permission_level = 3 AND {NOT_BANNED_AT_1}"
    ))
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// Whether `user_id` is an Owner with no ban in force at `now`: who may own an Official bot.
pub async fn is_unbanned_owner(conn: &mut Conn, user_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(&format!(
        "SELECT u.id FROM users u WHERE u.id = $2 AND u.permission_level = 3 AND {NOT_BANNED_AT_1}"
    ))
    .bind(now)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Locks every Owner row until the transaction ends, so acts that count Owners serialise with
/// each other. SQLite needs nothing: its write transactions already run one at a time.
pub async fn lock_owners(conn: &mut Conn) -> Result<(), sqlx::Error> {
    if conn.backend_name().eq_ignore_ascii_case("PostgreSQL") {
        sqlx::query("SELECT id FROM users WHERE permission_level = 3 ORDER BY id FOR UPDATE")
            .fetch_all(conn)
            .await?;
    }
    Ok(())
}

/// Writes a grant's or a revoke's subscription state; a Trial also marks the one trial as used.
pub struct SubscriptionChange {
    pub tier: Tier,
    pub expires_at: Option<i64>,
    pub granted_by: Option<i64>,
    pub uses_trial: bool,
    pub now: i64,
}

pub async fn set_subscription(conn: &mut Conn, user_id: i64, change: SubscriptionChange) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET subscription_tier = $2, subscription_expires_at = $3, subscription_granted_by = $4, \
         is_trial_used = CASE WHEN $5 = 1 THEN 1 ELSE is_trial_used END, \
         trial_used_at = CASE WHEN $5 = 1 THEN $6 ELSE trial_used_at END, updated_at = $6 WHERE id = $1",
    )
    .bind(user_id)
    .bind(change.tier.as_i64())
    .bind(change.expires_at)
    .bind(change.granted_by)
    .bind(super::flag(change.uses_trial))
    .bind(change.now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Users whose stored Trial or Premium has expired but is not yet recorded: (id, tier, expires_at).
pub async fn due_expiries(conn: &mut Conn, now: i64) -> Result<Vec<(i64, Tier, i64)>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT id, subscription_tier, subscription_expires_at FROM users \
         WHERE subscription_tier IN (1, 2) AND subscription_expires_at <= $1 ORDER BY id",
    )
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(id, tier, expires_at)| {
            let tier = Tier::try_from(tier).map_err(|e| sqlx::Error::Decode(e.into()))?;
            Ok((id, tier, expires_at))
        })
        .collect()
}

/// Returns a user to Basic after an expiry, only if the stored tier and expiry are still the ones
/// seen (so concurrent sweepers record it once); `updated_at` moves to the expiry instant at most.
pub async fn clear_expired_subscription(
    conn: &mut Conn,
    user_id: i64,
    tier: Tier,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET subscription_tier = 0, subscription_expires_at = NULL, subscription_granted_by = NULL, \
         updated_at = CASE WHEN updated_at < $3 THEN $3 ELSE updated_at END \
         WHERE id = $1 AND subscription_tier = $2 AND subscription_expires_at = $3",
    )
    .bind(user_id)
    .bind(tier.as_i64())
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Users whose effective tier is not Basic (optionally one tier), by id, and how many there are.
pub async fn active_subscribers(
    conn: &mut Conn,
    tier: Option<Tier>,
    now: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<UserRow>, i64), sqlx::Error> {
    let condition = "(subscription_tier = 3 OR (subscription_tier IN (1, 2) AND subscription_expires_at > $1)) \
        AND ($2 IS NULL OR subscription_tier = $2)";
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM users WHERE {condition}"))
        .bind(now)
        .bind(tier.map(Tier::as_i64))
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {condition} ORDER BY id ASC LIMIT $3 OFFSET $4"
    ))
    .bind(now)
    .bind(tier.map(Tier::as_i64))
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

/// Deletes a user; the schema's cascades remove what belongs to it.
pub async fn delete(conn: &mut Conn, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}

//! The login flows of 10-auth: username lookup, web and bot login codes, verify and logout.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::address::AddressGroup;
use crate::bot_type::BotType;
use crate::crypto;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::sessions::{self, Opened};
use crate::domain::strangers;
use crate::domain::users::{self, NewAccount};
use crate::domain::views::{self, UserPrivate};
use crate::error::ApiError;
use crate::store::codes::{CodeRow, NewCode};
use crate::store::keys::BotRow;
use crate::store::sessions::LiveSession;
use crate::store::users::{CodeLogin, LinkedPlatformRow, LoggedIn, Restrictions, UserKey, UserRow, UserWithLinks};
use crate::store::{self, Backend, Conn};
use crate::tier::Tier;
use crate::time::{seconds_until, Timestamp, MICROS_PER_SECOND};
use crate::user_kind::UserKind;

const WEB: &str = "web";
const BOT: &str = "bot";

/// A platform identity as named in a request body, already validated.
pub struct Identity<'a> {
    pub platform: &'a str,
    pub platform_user_id: &'a str,
}

/// What a bot reports about the identity it acts for.
pub struct BotReport<'a> {
    pub identity: Identity<'a>,
    pub platform_username: &'a str,
    pub platform_avatar_url: Option<&'a str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformRef {
    pub platform: String,
    pub platform_user_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LookupResult {
    pub id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
    pub permission_level: i64,
    #[schema(value_type = i64, minimum = 0, maximum = 3)]
    pub subscription_tier: Tier,
    pub platforms: Vec<PlatformRef>,
}

pub async fn lookup(app: &App, username: &str) -> Result<LookupResult, ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    // A stranger has no platform to log in with, and is no user here (91-matchmaking §2.3).
    let UserWithLinks { user, links } = store::users::with_links(&mut conn, UserKey::Username(username))
        .await?
        .filter(|found| found.user.kind == UserKind::Registered)
        .ok_or(ApiError::UserNotFound)?;
    let public = views::public_view(&user, &links.iter().collect::<Vec<_>>(), now);
    Ok(LookupResult {
        id: user.id,
        username: user.username,
        avatar_url: public.avatar_url,
        permission_level: user.permission_level.as_i64(),
        subscription_tier: public.subscription_tier,
        platforms: links
            .into_iter()
            .map(|l| PlatformRef {
                platform: l.platform,
                platform_user_id: l.platform_user_id,
            })
            .collect(),
    })
}

/// Creates a code for the identity and origin, or returns the one that is pending. A concurrent
/// request that created it first wins, and its code is returned. A web code (with `client_group`)
/// is refused while the address group has the most pending codes it may have.
async fn pending_or_new(
    app: &App,
    conn: &mut Conn,
    origin: &str,
    identity: &Identity<'_>,
    client_group: Option<&AddressGroup>,
    bot_id: Option<i64>,
) -> Result<CodeRow, ApiError> {
    let now = app.now();
    let max_per_ip = app.config.login_code.max_pending_per_ip;
    for _ in 0..4 {
        let new_code = NewCode {
            code: &crypto::new_login_code(),
            origin,
            platform: identity.platform,
            platform_user_id: identity.platform_user_id,
            platform_username: None,
            platform_avatar_url: None,
            client_group: client_group.map(AddressGroup::as_str),
            bot_id,
            now,
            expires_at: now + app.config.login_code.ttl_s * MICROS_PER_SECOND,
        };
        if let Some(row) = store::codes::insert(conn, new_code, max_per_ip).await? {
            return Ok(row);
        }
        // Not inserted: the identity's code is pending, the address is at its limit, the identity's
        // expired code is in the way, or the drawn code is taken. The first two answer.
        if let Some(code) =
            store::codes::pending_for(conn, identity.platform, identity.platform_user_id, origin, now).await?
        {
            return Ok(code);
        }
        if let Some(group) = client_group {
            let (pending, oldest) = store::codes::pending_web_for_group(conn, group.as_str(), now).await?;
            if pending >= max_per_ip {
                return Err(ApiError::TooManyPendingCodes {
                    retry_after_s: seconds_until(now, oldest.unwrap_or(now)),
                });
            }
        }
        store::codes::delete_expired_of(conn, identity.platform, identity.platform_user_id, origin, now).await?;
    }
    Err(ApiError::internal("login code insert kept colliding"))
}

/// `POST /v1/authentication/request`: returns the expiry of the identity's pending web code. The
/// insert checks the address's limit itself, so each statement stands alone.
pub async fn request_code(app: &App, identity: Identity<'_>, client_ip: IpAddr) -> Result<i64, ApiError> {
    let group = app.address_group(client_ip);
    let mut writer = app.store.writer().await?;
    let code = pending_or_new(app, &mut writer, WEB, &identity, Some(&group), None).await?;
    Ok(code.expires_at)
}

/// A code an operator prints with `portal user login-code`, for the web login.
#[derive(Debug, Serialize)]
pub struct OperatorCode {
    pub user_id: i64,
    pub username: String,
    pub code: String,
    pub platform: String,
    pub platform_user_id: String,
    pub expires_at: Timestamp,
}

/// `portal user login-code <user>`: a web-origin code for the user's earliest linked identity, so
/// an operator can log in to the web front without a bot. It is an ordinary pending code: usable
/// once, for `login_code.ttl_s`, consumed with the identity's other codes by the verify that uses
/// it, and it counts as a web login (the bot-login counter goes back to 0). While the identity's
/// web code is pending, that one is printed (one pending code per identity and origin, 10-auth
/// §3.2). It belongs to no address, so no address's pending-code limit counts it. Audited as
/// `LOGIN_CODE_CREATE` with the identity and expiry, never the code. A banned user is refused.
pub async fn operator_code(app: &App, conn: &mut Conn, user: &UserRow) -> Result<OperatorCode, ApiError> {
    let now = app.now();
    if let Some(expires_at) = store::users::restrictions(conn, user.id, now).await?.ban {
        return Err(ApiError::AccountBanned { expires_at });
    }
    let link = store::users::with_links(conn, UserKey::Id(user.id))
        .await?
        .and_then(|found| found.links.into_iter().next())
        .ok_or_else(|| ApiError::validation("user", "user has no linked platform to log in with"))?;
    let identity = Identity {
        platform: &link.platform,
        platform_user_id: &link.platform_user_id,
    };
    let code = pending_or_new(app, conn, WEB, &identity, None, None).await?;
    audit::record(
        app,
        conn,
        AuditEvent::LoginCodeCreate,
        None,
        Target::User(user.id),
        json!({
            "platform": link.platform,
            "platform_user_id": link.platform_user_id,
            "expires_at": Timestamp(code.expires_at),
        }),
        now,
    )
    .await?;
    Ok(OperatorCode {
        user_id: user.id,
        username: user.username.clone(),
        code: code.code,
        platform: link.platform,
        platform_user_id: link.platform_user_id,
        expires_at: Timestamp(code.expires_at),
    })
}

/// Only an Official bot whose owner is, at this moment, an unbanned Owner obtains codes (10-auth
/// §6.3–6.4, 50-bots §4.1). The owner is read again at every use: the rules that stop such bots
/// when their owner loses rank make this a second line, not the only one.
pub async fn check_code_bot(app: &App, bot: &BotRow) -> Result<(), ApiError> {
    if bot.bot_type != BotType::Official {
        return Err(ApiError::OfficialBotRequired);
    }
    let mut conn = app.store.acquire().await?;
    if !store::users::is_unbanned_owner(&mut conn, bot.owner_id, app.now()).await? {
        return Err(ApiError::OfficialBotRequired);
    }
    Ok(())
}

pub fn check_bot_platform(bot: &BotRow, platform: &str) -> Result<(), ApiError> {
    if bot.platform != platform {
        return Err(ApiError::PlatformMismatch);
    }
    Ok(())
}

/// The name and avatar a bot reported go to the identity's codes (returned) and its linked platform.
async fn remember_report(app: &App, conn: &mut Conn, report: &BotReport<'_>) -> Result<Vec<CodeRow>, ApiError> {
    let id = &report.identity;
    let reported = store::codes::remember_profile(
        conn,
        id.platform,
        id.platform_user_id,
        report.platform_username,
        report.platform_avatar_url,
    )
    .await?;
    // With no code to ask, only the link's own update can tell.
    if reported.first().is_none_or(|r| r.link_differs > 0) {
        store::users::refresh_link(
            conn,
            id.platform,
            id.platform_user_id,
            report.platform_username,
            report.platform_avatar_url,
            app.now(),
        )
        .await?;
    }
    Ok(reported.into_iter().map(|r| r.code).collect())
}

/// `POST /v1/authentication/bot/login-code`: the pending web code, if any. The report's two
/// refreshes need no transaction: each stands alone, and the next report repeats them.
pub async fn bot_login_code(app: &App, report: BotReport<'_>) -> Result<Option<(String, i64)>, ApiError> {
    let now = app.now();
    let mut writer = app.store.writer().await?;
    let codes = remember_report(app, &mut writer, &report).await?;
    Ok(codes
        .into_iter()
        .find(|c| c.origin == WEB && c.expires_at > now)
        .map(|c| (c.code, c.expires_at)))
}

/// `POST /v1/authentication/bot/send-code`: a code for an existing user (10-auth §6.4).
pub async fn bot_send_code(app: &App, bot: &BotRow, report: BotReport<'_>) -> Result<(String, i64), ApiError> {
    let now = app.now();
    let identity = &report.identity;
    let mut tx = app.store.begin().await?;
    let user = store::users::by_identity(&mut tx, identity.platform, identity.platform_user_id)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    remember_report(app, &mut tx, &report).await?;
    // The refresh above stands even when a later step refuses.
    tx.commit().await?;
    let mut tx = app.store.begin().await?;
    let restrictions = store::users::restrictions(&mut tx, user.id, now).await?;
    if let Some(expires_at) = restrictions.ban {
        return Err(ApiError::AccountBanned { expires_at });
    }
    if let Some(web) =
        store::codes::pending_for(&mut tx, identity.platform, identity.platform_user_id, WEB, now).await?
    {
        return Ok((web.code, web.expires_at));
    }
    if user.bot_login_count >= app.config.login_code.bot_login_limit {
        return Err(ApiError::WebLoginRequired);
    }
    let code = pending_or_new(app, &mut tx, BOT, identity, None, Some(bot.id)).await?;
    store::codes::remember_profile(
        &mut tx,
        identity.platform,
        identity.platform_user_id,
        report.platform_username,
        report.platform_avatar_url,
    )
    .await?;
    tx.commit().await?;
    Ok((code.code, code.expires_at))
}

/// The answer of a successful verify.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    pub user_created: bool,
    #[serde(flatten)]
    pub user: UserPrivate,
    #[schema(value_type = i64, minimum = 0, maximum = 3)]
    pub subscription_level: Tier,
}

impl Verified {
    /// The answer for the user a code logged in, with the login counted in the metrics.
    fn counted(
        app: &App,
        user: &UserRow,
        links: &[LinkedPlatformRow],
        restrictions: &Restrictions,
        user_created: bool,
        now: i64,
    ) -> Verified {
        app.metrics.login(if user_created { "signup" } else { "login" });
        let user = views::private_view(user, &links.iter().collect::<Vec<_>>(), restrictions, now);
        Verified {
            user_created,
            subscription_level: user.subscription_tier,
            user,
        }
    }
}

fn lockout_key(app: &App, ip: IpAddr) -> String {
    format!("verify:{}", app.address_group(ip))
}

/// Refuses a locked-out client address group before anything else is read (10-auth §3.5).
pub async fn check_lockout(app: &App, client_ip: IpAddr) -> Result<(), ApiError> {
    let now = app.now();
    let verify = &app.config.verify;
    let (failures, oldest_leaves) = app
        .ephemeral
        .failures(&lockout_key(app, client_ip), verify.window_s, now)
        .await;
    if failures >= verify.max_failures {
        return Err(ApiError::TooManyAttempts {
            retry_after_s: seconds_until(now, oldest_leaves.unwrap_or(now)),
        });
    }
    Ok(())
}

/// `POST /v1/authentication/verify` after the lockout and body checks. The guess is counted as a
/// failure before the code is looked up, in the same step as the lockout's check, so that of any
/// number of verifies sent at once at most `verify.max_failures` are ever looked up; a code that
/// turns out to exist takes its count back.
pub async fn verify(
    app: &App,
    code: &str,
    client_ip: IpAddr,
    user_agent: Option<&str>,
    current: Option<&LiveSession>,
) -> Result<(Verified, Opened), ApiError> {
    let now = app.now();
    let verify = &app.config.verify;
    let attempt = app
        .ephemeral
        .admit_attempt(&lockout_key(app, client_ip), verify.max_failures, verify.window_s, now)
        .await
        .map_err(|oldest_leaves| ApiError::TooManyAttempts {
            retry_after_s: seconds_until(now, oldest_leaves),
        })?;
    let outcome = verify_code(app, code, client_ip, user_agent, current, now).await;
    if !matches!(outcome, Err(ApiError::InvalidCode)) {
        app.ephemeral.release_attempt(&attempt).await;
    }
    outcome
}

async fn verify_code(
    app: &App,
    code: &str,
    client_ip: IpAddr,
    user_agent: Option<&str>,
    current: Option<&LiveSession>,
    now: i64,
) -> Result<(Verified, Opened), ApiError> {
    let well_formed = code.len() == 8 && code.bytes().all(|b| b.is_ascii_alphanumeric());
    // PostgreSQL does an ordinary login in one statement; the general path below takes the rest.
    if well_formed && current.is_none() && app.store.backend() == Backend::Postgres {
        if let Some(done) = log_in_at_once(app, code, client_ip, user_agent, now).await? {
            return Ok(done);
        }
    }
    let mut tx = app.store.begin().await?;
    let consumed = if well_formed {
        store::codes::consume(&mut tx, code, now).await?
    } else {
        Vec::new()
    };
    let Some(found) = consumed
        .into_iter()
        .find(|row| crypto::constant_time_eq(&row.code, code))
    else {
        // Nothing was used: the deletions roll back, and the attempt stays counted.
        drop(tx);
        app.metrics.login("invalid_code");
        return Err(ApiError::InvalidCode);
    };
    let (user, restrictions, created) = match admit(&mut tx, &found, now).await? {
        Admission::LoggedIn {
            user,
            restrictions,
            created,
        } => (user, restrictions, created),
        Admission::Banned { expires_at } => {
            // The refused code is consumed all the same.
            tx.commit().await?;
            return Err(ApiError::AccountBanned { expires_at });
        }
    };
    if let Some(session) = current {
        store::sessions::end_by_id(&mut tx, session.session_id, "logout", now).await?;
    }
    let ttl_s = sessions::ttl_seconds(app, user.permission_level);
    let opened = sessions::open(app, &mut tx, user.id, ttl_s, client_ip, user_agent).await?;
    let links =
        store::users::mark_authenticated(&mut tx, user.id, &found.platform, &found.platform_user_id, now).await?;
    tx.commit().await?;
    if let Some(session) = current {
        strangers::session_ended(app, &session.user).await;
    }
    Ok((
        Verified::counted(app, &user, &links, &restrictions, created, now),
        opened,
    ))
}

/// A login by a code whose identity's user exists and is not banned, by a caller with no session,
/// in one statement (`store::users::log_in_with_code`); `None` when it did nothing.
async fn log_in_at_once(
    app: &App,
    code: &str,
    client_ip: IpAddr,
    user_agent: Option<&str>,
    now: i64,
) -> Result<Option<(Verified, Opened)>, ApiError> {
    let origin = sessions::Origin::of(app, client_ip, user_agent);
    let token = crypto::new_session_token();
    let mut conn = app.store.acquire().await?;
    let Some(LoggedIn {
        user,
        restrictions,
        links,
    }) = store::users::log_in_with_code(
        &mut conn,
        CodeLogin {
            code,
            bot_origin: BOT,
            now,
            token_hash: &crypto::sha256_hex(&token),
            token_suffix: crypto::token_suffix(&token),
            lifetime_by_level: sessions::lifetime_by_level(app),
            client_ip: &origin.client_ip,
            user_agent: origin.user_agent.as_deref(),
            geo: origin.geo.as_deref(),
        },
    )
    .await?
    else {
        return Ok(None);
    };
    let opened = Opened {
        token,
        ttl_s: sessions::ttl_seconds(app, user.permission_level),
    };
    Ok(Some((
        Verified::counted(app, &user, &links, &restrictions, false, now),
        opened,
    )))
}

/// Whom a consumed code logs in.
enum Admission {
    /// The identity's user (a new account when `created`), already recorded as logged in.
    LoggedIn {
        user: UserRow,
        restrictions: Restrictions,
        created: bool,
    },
    Banned {
        expires_at: Option<i64>,
    },
}

/// Records the login of the code's identity, creating its account when it has none, unless its
/// user is banned.
async fn admit(conn: &mut Conn, code: &CodeRow, now: i64) -> Result<Admission, ApiError> {
    let bot_origin = code.origin == BOT;
    let mut created = false;
    // A login of an existing user takes the first statement alone. The look-up runs when it found
    // nobody to log in; another round is needed only after a sign-up, or when a ban was lifted
    // between the two statements.
    for _ in 0..3 {
        if let Some((user, restrictions)) =
            store::users::record_login(conn, &code.platform, &code.platform_user_id, bot_origin, now).await?
        {
            return Ok(Admission::LoggedIn {
                user,
                restrictions,
                created,
            });
        }
        match store::users::by_identity_with_restrictions(conn, &code.platform, &code.platform_user_id, now).await? {
            Some((
                _,
                Restrictions {
                    ban: Some(expires_at), ..
                },
            )) => return Ok(Admission::Banned { expires_at }),
            Some(_) => {}
            None => {
                create_account(conn, code, now).await?;
                created = true;
            }
        }
    }
    Err(ApiError::internal("a login's user changed under it three times"))
}

/// Sign-up: the user, the linked identity and the welcome notification.
async fn create_account(conn: &mut Conn, code: &CodeRow, now: i64) -> Result<(), ApiError> {
    let user = users::create_account(
        conn,
        NewAccount {
            username: None,
            platform: &code.platform,
            platform_user_id: &code.platform_user_id,
            platform_username: code.platform_username.as_deref().unwrap_or(&code.platform_user_id),
            platform_avatar_url: code.platform_avatar_url.as_deref(),
        },
        now,
    )
    .await?;
    store::notifications::insert(
        conn,
        Some(user.id),
        "Welcome to Portal",
        "Your account has been created.",
        "success",
        None,
        now,
    )
    .await?;
    Ok(())
}

/// Ends the session that makes the request.
pub async fn logout(app: &App, session: &LiveSession) -> Result<(), ApiError> {
    let mut writer = app.store.writer().await?;
    store::sessions::end_by_id(&mut writer, session.session_id, "logout", app.now()).await?;
    drop(writer);
    strangers::session_ended(app, &session.user).await;
    Ok(())
}

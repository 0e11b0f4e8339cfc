//! Who is calling: the credentials of a request resolved once, per tier, before any handler runs
//! (00-conventions §2 and the order of checks in §4), and the extractors that demand a class or a
//! minimum level.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::domain::app::{App, AppState};
use crate::domain::credentials::{self, ApiKey, BotRow, LiveSession};
use crate::domain::sessions::clear_cookie;
use crate::domain::staff::Actor;
use crate::ephemeral::Decision;
use crate::error::ApiError;
use crate::level::Level;
use crate::user_kind::UserKind;

/// The rate tiers of 00-conventions §8.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Login,
    Auth,
    Admin,
    Public,
    Bot,
    Health,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Login => "login",
            Tier::Auth => "auth",
            Tier::Admin => "admin",
            Tier::Public => "public",
            Tier::Bot => "bot",
            Tier::Health => "health",
        }
    }

    fn limit(self, app: &App) -> u32 {
        let limits = &app.config.rate_limit;
        match self {
            Tier::Login => limits.login,
            Tier::Auth => limits.auth,
            Tier::Admin => limits.admin,
            Tier::Public => limits.public,
            Tier::Bot => limits.bot,
            Tier::Health => limits.health,
        }
    }
}

/// The resolved credentials of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_ip: IpAddr,
    pub key: ApiKey,
    pub session: Option<LiveSession>,
}

impl Caller {
    pub fn level(&self) -> Option<Level> {
        self.session.as_ref().map(|s| s.user.permission_level)
    }

    /// The rate bucket of 00-conventions §8.2; addresses are keyed by their group (IPv6 by /64).
    fn bucket_key(&self, app: &App) -> String {
        match (&self.key, &self.session) {
            (ApiKey::Bot(bot), _) => format!("bot:{}", bot.id),
            (ApiKey::Public { digest }, _) => format!("key:{digest}:{}", app.address_group(self.client_ip)),
            (ApiKey::None, Some(session)) => format!("user:{}", session.user.id),
            (ApiKey::None, None) => format!("ip:{}", app.address_group(self.client_ip)),
        }
    }
}

const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// 00-conventions §10: the peer, unless it is a trusted proxy; then the right-most untrusted hop.
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut last = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { return last };
        if !is_trusted(ip) {
            return ip;
        }
        last = ip;
    }
    last
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse().ok())
        .map(canonical)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The client address of `request` (00-conventions §10).
pub fn client_ip_of(app: &App, request: &Request) -> IpAddr {
    client_ip(request.headers(), peer_of(request), &app.derived.trusted_proxies)
}

/// The TCP peer; tests stand a `MockConnectInfo` in for the real connection.
fn peer_of(request: &Request) -> IpAddr {
    let extensions = request.extensions();
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .or_else(|| {
            extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(addr)| addr.ip())
        })
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// The `psession` value, if the request has one.
fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// What `X-API-Key` names: one header, not empty, in ASCII, or none at all. Its refusals
/// (`InvalidApiKey`, `BotInactive`) are the caller's to answer after the request has been counted
/// (00-conventions §8.2).
async fn resolve_key(app: &App, headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let key_values: Vec<&HeaderValue> = headers.get_all("x-api-key").iter().collect();
    match key_values.as_slice() {
        [] => Ok(ApiKey::None),
        [value] if value.is_empty() => Ok(ApiKey::None),
        [value] => credentials::api_key(app, value.to_str().map_err(|_| ApiError::InvalidApiKey)?).await,
        _ => Err(ApiError::InvalidApiKey),
    }
}

/// The credentials of a request: the caller, whether a cookie named no live session, and the
/// refusal of its key, if any (counted first, then answered).
struct Resolved {
    caller: Caller,
    invalid_cookie: bool,
    refused_key: Option<ApiError>,
}

async fn resolve(app: &App, headers: &HeaderMap, client_ip: IpAddr) -> Result<Resolved, ApiError> {
    // An invalid credential counts as none (00-conventions §8.2).
    let (key, refused_key) = match resolve_key(app, headers).await {
        Ok(key) => (key, None),
        Err(refusal @ (ApiError::InvalidApiKey | ApiError::BotInactive)) => (ApiKey::None, Some(refusal)),
        Err(other) => return Err(other),
    };
    let (session, invalid_cookie) = match session_cookie(headers, &app.config.session.cookie_name) {
        Some(token) => {
            let session = credentials::session(app, token).await?;
            let invalid = session.is_none();
            (session, invalid)
        }
        None => (None, false),
    };
    Ok(Resolved {
        caller: Caller {
            client_ip,
            key,
            session,
        },
        invalid_cookie,
        refused_key,
    })
}

/// Resolves credentials (unless the tier is HEALTH, which reads none), applies the tier's rate
/// limit and, for a bot key, the bot's hourly quota, and decorates the answer with the
/// `RateLimit-*` headers and a cookie clearance.
pub async fn guard(State((app, tier)): State<(AppState, Tier)>, mut request: Request, next: Next) -> Response {
    let ip = client_ip_of(&app, &request);
    let Resolved {
        caller,
        invalid_cookie,
        refused_key,
    } = if tier == Tier::Health {
        Resolved {
            caller: Caller {
                client_ip: ip,
                key: ApiKey::None,
                session: None,
            },
            invalid_cookie: false,
            refused_key: None,
        }
    } else {
        match resolve(&app, request.headers(), ip).await {
            Ok(resolved) => resolved,
            Err(err) => return err.into_response(),
        }
    };
    let counted = request.method() != Method::OPTIONS;
    let limit = tier.limit(&app);
    let tier_decision = if limit > 0 && counted {
        let key = format!("{}:{}", tier.name(), caller.bucket_key(&app));
        Some(app.ephemeral.take(&key, limit, 60, app.now()).await)
    } else {
        None
    };
    let tier_refused = tier_decision.is_some_and(|d| !d.allowed);
    // 50-bots §5: the hourly quota is charged after the tier, and only when the tier let the
    // request through; it applies whether or not the tier is limited at all.
    let quota_decision = match &caller.key {
        ApiKey::Bot(bot) if counted && !tier_refused => Some(charge_quota(&app, bot).await),
        _ => None,
    };
    let is_write = request.method() == Method::POST;
    let mut response = if let Some(d) = tier_decision.filter(|d| !d.allowed) {
        app.metrics.rate_limited(tier.name());
        ApiError::RateLimited {
            retry_after_s: d.retry_after_s,
        }
        .into_response()
    } else if let Some(q) = quota_decision.filter(|q| !q.allowed) {
        ApiError::BotQuotaExceeded {
            retry_after_s: q.retry_after_s,
        }
        .into_response()
    } else if let Some(refusal) = refused_key {
        refusal.into_response()
    } else {
        request.extensions_mut().insert(Arc::new(caller));
        let response = next.run(request).await;
        // Any write may end sessions or change a user, even one that answers an error after a
        // step it committed, so cached sessions and views are dropped here and on every node
        // before the answer leaves; this cannot miss a path, and writes are rare next to reads.
        if is_write {
            app.ephemeral.invalidate_caches().await;
        }
        response
    };
    if let Some(d) = reported_limit(tier_decision, quota_decision) {
        let headers = response.headers_mut();
        headers.insert("ratelimit-limit", HeaderValue::from(d.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(d.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(d.reset_s));
    }
    if invalid_cookie && !response.headers().contains_key(header::SET_COOKIE) {
        if let Ok(value) = HeaderValue::from_str(&clear_cookie(&app)) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Takes one request from the bot's `rate_limit_per_hour`, a bucket refilled over an hour.
async fn charge_quota(app: &App, bot: &BotRow) -> Decision {
    let limit = u32::try_from(bot.rate_limit_per_hour.max(1)).unwrap_or(u32::MAX);
    app.ephemeral
        .take(&format!("quota:bot:{}", bot.id), limit, 3600, app.now())
        .await
}

/// The `RateLimit-*` headers describe the limit with fewer requests remaining, the tier on a tie
/// (00-conventions §8.4); a quota refusal always describes the quota, which refused.
fn reported_limit(tier: Option<Decision>, quota: Option<Decision>) -> Option<Decision> {
    match (tier, quota) {
        (Some(t), Some(q)) if !q.allowed || q.remaining < t.remaining => Some(q),
        (Some(t), _) => Some(t),
        (None, q) => q,
    }
}

fn caller_of(parts: &Parts) -> Result<Arc<Caller>, ApiError> {
    parts
        .extensions
        .get::<Arc<Caller>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("route has no credential guard"))
}

/// Class `public`: a key, a session, or nothing at all when no public keys are configured.
pub struct Public(pub Arc<Caller>);

impl FromRequestParts<AppState> for Public {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let caller = caller_of(parts)?;
        let open = app.config.public_api_keys.is_empty();
        if !open && matches!(caller.key, ApiKey::None) && caller.session.is_none() {
            return Err(ApiError::AuthRequired("API key or session required"));
        }
        Ok(Public(caller))
    }
}

/// Class `viewer`: a session or a key, always; a stranger's session is not enough
/// (91-matchmaking §2.2).
pub struct Viewer(pub Arc<Caller>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _app: &AppState) -> Result<Self, ApiError> {
        let caller = caller_of(parts)?;
        if matches!(caller.key, ApiKey::None) && caller.session.is_none() {
            return Err(ApiError::AuthRequired("Authentication required"));
        }
        if caller
            .session
            .as_ref()
            .is_some_and(|s| s.user.kind == UserKind::Stranger)
        {
            return Err(ApiError::SignInRequired);
        }
        Ok(Viewer(caller))
    }
}

/// Class `bot`: a valid bot key.
pub struct BotCaller(pub BotRow);

impl FromRequestParts<AppState> for BotCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _app: &AppState) -> Result<Self, ApiError> {
        match &caller_of(parts)?.key {
            ApiKey::Bot(bot) => Ok(BotCaller(bot.clone())),
            _ => Err(ApiError::AuthRequired("Bot API key required")),
        }
    }
}

/// Class `session` on the endpoints open to strangers (91-matchmaking §2.2): a valid session
/// cookie of a registered user or a stranger; a POST must also pass the origin check (§1.7).
pub struct AnySession {
    pub session: LiveSession,
    pub client_ip: IpAddr,
}

impl AnySession {
    pub fn user_id(&self) -> i64 {
        self.session.user.id
    }
}

impl FromRequestParts<AppState> for AnySession {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let caller = caller_of(parts)?;
        let session = caller
            .session
            .clone()
            .ok_or(ApiError::AuthRequired("Authentication required"))?;
        if parts.method == Method::POST {
            check_origin(&parts.headers, &app.config.cors.allowed_origins)?;
        }
        Ok(AnySession {
            session,
            client_ip: caller.client_ip,
        })
    }
}

/// Class `session`: a valid session cookie of a registered user (a stranger's is refused with
/// `ERR_SIGN_IN_REQUIRED`, 91-matchmaking §2.2); a POST must also pass the origin check (§1.7).
pub struct Authenticated {
    pub session: LiveSession,
    pub client_ip: IpAddr,
}

impl Authenticated {
    pub fn user_id(&self) -> i64 {
        self.session.user.id
    }

    pub fn level(&self) -> Level {
        self.session.user.permission_level
    }

    /// The caller as the actor of a staff act.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.user_id(),
            level: self.level(),
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let AnySession { session, client_ip } = AnySession::from_request_parts(parts, app).await?;
        if session.user.kind == UserKind::Stranger {
            return Err(ApiError::SignInRequired);
        }
        Ok(Authenticated { session, client_ip })
    }
}

pub fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("null");
    let ok = if origin == "null" {
        false
    } else if !allowed.is_empty() {
        allowed.iter().any(|a| a == origin)
    } else {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/')) == Some(host)
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Origin not allowed"))
    }
}

/// A session whose user stands at least at `MIN` (0 User … 3 Owner).
pub struct RequireLevel<const MIN: u8>(pub Authenticated);

pub type RequireModerator = RequireLevel<1>;
pub type RequireAdmin = RequireLevel<2>;
pub type RequireOwner = RequireLevel<3>;

impl<const MIN: u8> FromRequestParts<AppState> for RequireLevel<MIN> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let auth = Authenticated::from_request_parts(parts, app).await?;
        let floor = Level::from_i64(MIN as i64).unwrap_or(Level::Owner);
        if auth.level() < floor {
            return Err(ApiError::InsufficientPermission(floor.required_message()));
        }
        Ok(RequireLevel(auth))
    }
}

/// Extractors that stand for a session caller, so `Unrestricted` can wrap any of them.
pub trait SessionCaller {
    fn user_id(&self) -> i64;
}

impl SessionCaller for AnySession {
    fn user_id(&self) -> i64 {
        AnySession::user_id(self)
    }
}

impl SessionCaller for Authenticated {
    fn user_id(&self) -> i64 {
        Authenticated::user_id(self)
    }
}

impl<const MIN: u8> SessionCaller for RequireLevel<MIN> {
    fn user_id(&self) -> i64 {
        self.0.user_id()
    }
}

/// A session caller whose effective state is not Timeout: every `POST` under `/v1/admin/` and the
/// other endpoints of 00-conventions §3.5 refuse timed-out callers (step 6 of the order of checks,
/// after the level floor of the wrapped extractor).
pub struct Unrestricted<E>(pub E);

impl<E> FromRequestParts<AppState> for Unrestricted<E>
where
    E: FromRequestParts<AppState, Rejection = ApiError> + SessionCaller + Send,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let inner = E::from_request_parts(parts, app).await?;
        crate::domain::users::refuse_timed_out(app, inner.user_id()).await?;
        Ok(Unrestricted(inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn client_ip_walks_forwarded_for_from_the_right() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let ip = |h: &[&str]| client_ip(&headers(h), peer, &trusted).to_string();
        assert_eq!(ip(&["203.0.113.9, 198.51.100.7, 10.0.0.5"]), "198.51.100.7");
        assert_eq!(ip(&["203.0.113.9", "10.0.0.5"]), "203.0.113.9");
        assert_eq!(ip(&["10.0.0.9, 10.0.0.5"]), "10.0.0.9");
        assert_eq!(ip(&["garbage, 10.0.0.5"]), "10.0.0.5");
        assert_eq!(ip(&["[2001:db8::1]:443"]), "2001:db8::1");
        assert_eq!(ip(&[]), "10.0.0.1");
        let untrusted: IpAddr = "::ffff:203.0.113.1".parse().unwrap();
        assert_eq!(
            client_ip(&headers(&["1.2.3.4"]), untrusted, &trusted).to_string(),
            "203.0.113.1"
        );
    }
}

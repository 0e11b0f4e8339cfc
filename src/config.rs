//! Typed configuration: defaults that run with zero set-up, then an optional TOML file, then the
//! environment (`PORTAL_` + key in upper case, `.` written `__`). Passed around in state, never global.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{de, Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub bind: String,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    pub redis_prefix: String,
    pub log_format: String,
    pub application_name: String,
    #[serde(deserialize_with = "list")]
    pub public_api_keys: Vec<String>,
    #[serde(deserialize_with = "list")]
    pub platforms: Vec<String>,
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
    pub session: SessionConfig,
    pub cookie: CookieConfig,
    pub cors: CorsConfig,
    pub rate_limit: RateLimitConfig,
    pub login_code: LoginCodeConfig,
    pub verify: VerifyConfig,
    pub geo: GeoConfig,
    pub statistics: StatisticsConfig,
    pub subscriptions: SubscriptionsConfig,
    pub chats: ChatsConfig,
    pub presence: PresenceConfig,
    /// Matchmaking (91-matchmaking §11): `match.*`.
    #[serde(rename = "match")]
    pub matching: MatchConfig,
    pub stranger: StrangerConfig,
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    pub metrics: MetricsConfig,
    pub browser: BrowserConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    pub cookie_name: String,
    pub ttl_user_s: i64,
    pub ttl_staff_s: i64,
    pub history_retention_days: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CookieConfig {
    pub same_site: String,
    /// Unset: on, unless the server listens on a loopback address.
    pub secure: Option<bool>,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsConfig {
    #[serde(deserialize_with = "list")]
    pub allowed_origins: Vec<String>,
}

/// Requests per minute per tier; 0 turns a tier off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    pub login: u32,
    pub auth: u32,
    pub admin: u32,
    pub public: u32,
    pub bot: u32,
    pub health: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginCodeConfig {
    pub ttl_s: i64,
    pub max_pending_per_ip: i64,
    pub bot_login_limit: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyConfig {
    pub max_failures: usize,
    pub window_s: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GeoConfig {
    /// `none` or `mmdb`.
    pub provider: String,
    pub city_db: Option<PathBuf>,
    pub asn_db: Option<PathBuf>,
    pub anonymous_ip_db: Option<PathBuf>,
    pub connection_type_db: Option<PathBuf>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StatisticsConfig {
    pub cache_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriptionsConfig {
    pub sweep_interval_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatsConfig {
    pub slots: ChatSlotsConfig,
    /// Messages kept per chat; the oldest are trimmed on insert (90-chat-transport §5.5). Values
    /// below 100 count as 100.
    pub max_messages: i64,
    /// Rooms one realtime connection may be joined to at once (90 §2.1).
    pub max_rooms_per_connection: usize,
    /// Seconds before an unanswered key request is given to another device (90 §4.3).
    pub key_request_timeout_s: u64,
    pub message_rate: MessageRateConfig,
    /// Least seconds between two join messages of one user in one chat; 0 turns them off (§5.6).
    pub join_message_interval_s: i64,
}

/// Messages per minute (90 §5.2), as token buckets with a burst of the limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageRateConfig {
    pub per_chat: u32,
    pub per_user: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatSlotsConfig {
    pub premium: i64,
    pub admin: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceConfig {
    pub ping_interval_s: u64,
    pub idle_timeout_s: u64,
    pub leave_grace_s: u64,
    pub max_connections_per_user: u64,
    /// With Redis: how often a node reports itself alive; after three silent beats the other nodes
    /// take its users offline.
    pub node_beat_s: u64,
}

/// The queue, slots and direct chats (91-matchmaking §11).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchConfig {
    pub queue_ttl_s: i64,
    pub disconnect_grace_s: i64,
    pub slots_free: i64,
    pub slots_premium: i64,
    pub chat_ttl_s: i64,
    pub reconnect_grace_s: i64,
    pub archive_ttl_s: i64,
    /// 0 = a pair block lasts for ever.
    pub block_ttl_s: i64,
    pub sweep_interval_s: u64,
}

/// Anonymous stranger accounts (91-matchmaking §2, §11).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StrangerConfig {
    pub max_per_hour: i64,
    pub session_ttl_s: i64,
    pub retention_s: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// Pooled connections; PostgreSQL default 10, SQLite default 4 (readers; WAL mode).
    pub max_connections: Option<u32>,
    /// How long a request waits for a pooled connection before answering 503.
    pub acquire_timeout_ms: u64,
    /// SQLite: how long a statement retries a busy or locked database before answering 503.
    pub busy_timeout_ms: u64,
    /// SQLite: handle write requests on one thread held to one CPU together with the writer
    /// connection's thread (`store::write_thread`); off, they run on any core like reads.
    pub sqlite_write_thread: bool,
}

/// The bounds every listener holds (00-conventions §10.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// A complete request head must arrive within this many seconds of the connection (the first)
    /// or of its first byte (the later ones), protocol detection included.
    pub header_read_timeout_s: u64,
    /// A request body must arrive within this many seconds of its head, or the connection closes.
    pub body_read_timeout_s: u64,
    /// An idle keep-alive connection closes after this many seconds.
    pub keep_alive_timeout_s: u64,
    /// Open connections per node; one more is closed at once.
    pub max_connections: usize,
    /// Open connections per client address group (the TCP peer, unless it is a trusted proxy).
    pub max_connections_per_ip: usize,
}

/// How per-address limits group addresses (00-conventions §10).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// IPv6 clients are limited by this prefix.
    pub ipv6_prefix: u8,
}

/// `GET /metrics` (00-conventions §10.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// A separate address for `GET /metrics`; unset = served on the API listener to `allowed_ips`.
    pub bind: Option<String>,
    /// Client addresses (CIDR) that may read `/metrics` on the API listener.
    #[serde(deserialize_with = "list")]
    pub allowed_ips: Vec<String>,
}

/// Browser machines of chats (92-browser-rooms §15).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BrowserConfig {
    /// `off`, `process`, `docker`, or unset / `auto` (§2.2).
    pub engine: Option<String>,
    pub chromium_path: Option<PathBuf>,
    pub process: BrowserProcessConfig,
    pub docker: BrowserDockerConfig,
    pub max_machines: u32,
    /// 0 = no limit.
    pub max_per_user: u32,
    pub start_timeout_s: u64,
    pub stop_timeout_s: u64,
    /// 0 = never.
    pub idle_timeout_s: u64,
    pub host_grace_s: u64,
    /// `{width}x{height}` in CSS pixels.
    pub viewport: String,
    pub max_fps: u32,
    pub jpeg_quality: u32,
    pub max_viewers: u32,
    pub max_screens_per_user: u32,
    pub screenshots_per_minute: u32,
    pub egress: BrowserEgressConfig,
    /// This node's base URL for other nodes; also its identity (§10.1).
    pub node_address: Option<String>,
    /// Signs relays between nodes; at least 32 characters (§10.3).
    pub node_secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BrowserProcessConfig {
    /// Chromium refuses its sandbox as root; turning it off is logged as a warning (§2.3).
    pub no_sandbox: bool,
    pub cpus: f64,
    pub memory_mb: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BrowserDockerConfig {
    pub host: String,
    pub image: String,
    pub cpus: f64,
    pub memory_mb: u64,
    pub pids_limit: i64,
    pub network: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BrowserEgressConfig {
    pub allow_private: bool,
    #[serde(deserialize_with = "list")]
    pub allow_hosts: Vec<String>,
    #[serde(deserialize_with = "list")]
    pub deny_hosts: Vec<String>,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            engine: None,
            chromium_path: None,
            process: BrowserProcessConfig::default(),
            docker: BrowserDockerConfig::default(),
            max_machines: 2,
            max_per_user: 1,
            start_timeout_s: 30,
            stop_timeout_s: 10,
            idle_timeout_s: 300,
            host_grace_s: 10,
            viewport: "1280x720".into(),
            max_fps: 15,
            jpeg_quality: 60,
            max_viewers: 50,
            max_screens_per_user: 3,
            screenshots_per_minute: 6,
            egress: BrowserEgressConfig::default(),
            node_address: None,
            node_secret: None,
        }
    }
}

impl Default for BrowserProcessConfig {
    fn default() -> Self {
        BrowserProcessConfig {
            no_sandbox: false,
            cpus: 1.0,
            memory_mb: 1024,
        }
    }
}

impl Default for BrowserDockerConfig {
    fn default() -> Self {
        BrowserDockerConfig {
            host: "unix:///var/run/docker.sock".into(),
            image: "portal-browser:latest".into(),
            cpus: 1.0,
            memory_mb: 1024,
            pids_limit: 256,
            network: "portal-browser".into(),
        }
    }
}

impl BrowserConfig {
    /// The viewport as width and height, within §15's bounds.
    pub fn viewport_size(&self) -> Result<(u16, u16), String> {
        let bad = || {
            format!(
                "browser.viewport must be WIDTHxHEIGHT, width 320-3840, height 240-2160 (got {:?})",
                self.viewport
            )
        };
        let (w, h) = self.viewport.split_once(['x', 'X']).ok_or_else(bad)?;
        let (w, h): (u16, u16) = (
            w.trim().parse().map_err(|_| bad())?,
            h.trim().parse().map_err(|_| bad())?,
        );
        if !(320..=3840).contains(&w) || !(240..=2160).contains(&h) {
            return Err(bad());
        }
        Ok((w, h))
    }

    /// The checks of §15 that the types cannot make.
    fn check(&self) -> Result<(), String> {
        self.viewport_size()?;
        if let Some(engine) = self.engine.as_deref() {
            if !["auto", "off", "process", "docker"].contains(&engine) {
                return Err(format!(
                    "browser.engine must be one of: auto, off, process, docker (got {engine:?})"
                ));
            }
        }
        if self.max_machines < 1 {
            return Err("browser.max_machines must be at least 1".into());
        }
        if !(1..=30).contains(&self.max_fps) {
            return Err("browser.max_fps must be between 1 and 30".into());
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err("browser.jpeg_quality must be between 1 and 100".into());
        }
        if self.start_timeout_s == 0 || self.stop_timeout_s == 0 {
            return Err("browser.start_timeout_s and browser.stop_timeout_s must be at least 1".into());
        }
        if self.node_secret.as_deref().is_some_and(|s| s.chars().count() < 32) {
            return Err("browser.node_secret must be at least 32 characters".into());
        }
        let host = self.docker.host.as_str();
        let loopback_tcp = host
            .strip_prefix("tcp://")
            .and_then(|rest| rest.parse::<std::net::SocketAddr>().ok())
            .is_some_and(|a| a.ip().is_loopback());
        if !host.starts_with("unix://") && !loopback_tcp {
            return Err("browser.docker.host must be a unix:// socket or a loopback tcp:// address".into());
        }
        crate::browser::egress::rules::EgressRules::new(
            self.egress.allow_private,
            &self.egress.allow_hosts,
            &self.egress.deny_hosts,
        )
        .map(|_| ())
        .map_err(|e| format!("browser.egress: {e}"))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            redis_prefix: "portal:".into(),
            log_format: "text".into(),
            application_name: "Portal API".into(),
            public_api_keys: Vec::new(),
            platforms: vec!["discord".into(), "telegram".into()],
            trusted_proxies: Vec::new(),
            session: SessionConfig::default(),
            cookie: CookieConfig::default(),
            cors: CorsConfig::default(),
            rate_limit: RateLimitConfig::default(),
            login_code: LoginCodeConfig::default(),
            verify: VerifyConfig::default(),
            geo: GeoConfig::default(),
            statistics: StatisticsConfig::default(),
            subscriptions: SubscriptionsConfig::default(),
            chats: ChatsConfig::default(),
            presence: PresenceConfig::default(),
            matching: MatchConfig::default(),
            stranger: StrangerConfig::default(),
            database: DatabaseConfig::default(),
            server: ServerConfig::default(),
            limits: LimitsConfig::default(),
            metrics: MetricsConfig::default(),
            browser: BrowserConfig::default(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            cookie_name: "psession".into(),
            ttl_user_s: 2_592_000,
            ttl_staff_s: 86_400,
            history_retention_days: 365,
        }
    }
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            same_site: "Lax".into(),
            secure: None,
            domain: None,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            login: 20,
            auth: 120,
            admin: 60,
            public: 120,
            bot: 600,
            health: 60,
        }
    }
}

impl Default for LoginCodeConfig {
    fn default() -> Self {
        LoginCodeConfig {
            ttl_s: 600,
            max_pending_per_ip: 5,
            bot_login_limit: 5,
        }
    }
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig {
            max_failures: 10,
            window_s: 600,
        }
    }
}

impl Default for GeoConfig {
    fn default() -> Self {
        GeoConfig {
            provider: "none".into(),
            city_db: None,
            asn_db: None,
            anonymous_ip_db: None,
            connection_type_db: None,
            timeout_ms: 500,
        }
    }
}

impl Default for StatisticsConfig {
    fn default() -> Self {
        StatisticsConfig { cache_s: 10 }
    }
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        SubscriptionsConfig { sweep_interval_s: 60 }
    }
}

impl Default for ChatsConfig {
    fn default() -> Self {
        ChatsConfig {
            slots: ChatSlotsConfig::default(),
            max_messages: 10_000,
            max_rooms_per_connection: 50,
            key_request_timeout_s: 5,
            message_rate: MessageRateConfig::default(),
            join_message_interval_s: 86_400,
        }
    }
}

impl Default for MessageRateConfig {
    fn default() -> Self {
        MessageRateConfig {
            per_chat: 30,
            per_user: 60,
        }
    }
}

impl Default for ChatSlotsConfig {
    fn default() -> Self {
        ChatSlotsConfig { premium: 3, admin: 10 }
    }
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            ping_interval_s: 25,
            idle_timeout_s: 60,
            leave_grace_s: 5,
            max_connections_per_user: 10,
            node_beat_s: 5,
        }
    }
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            queue_ttl_s: 600,
            disconnect_grace_s: 30,
            slots_free: 1,
            slots_premium: 3,
            chat_ttl_s: 86_400,
            reconnect_grace_s: 60,
            archive_ttl_s: 86_400,
            block_ttl_s: 0,
            sweep_interval_s: 1,
        }
    }
}

impl Default for StrangerConfig {
    fn default() -> Self {
        StrangerConfig {
            max_per_hour: 5,
            session_ttl_s: 86_400,
            retention_s: 604_800,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            max_connections: None,
            acquire_timeout_ms: 3_000,
            busy_timeout_ms: 5_000,
            sqlite_write_thread: true,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout_s: 10,
            body_read_timeout_s: 30,
            keep_alive_timeout_s: 75,
            max_connections: 10_000,
            max_connections_per_ip: 256,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { ipv6_prefix: 64 }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            bind: None,
            allowed_ips: [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Values that are checked once at start-up so that a bad configuration refuses to start.
#[derive(Debug, Clone)]
pub struct Derived {
    pub trusted_proxies: Vec<IpNet>,
    pub metrics_allowed: Vec<IpNet>,
    pub cookie_secure: bool,
}

impl Config {
    /// Defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(Env::prefixed("PORTAL_").split("__"))
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]));
        figment
            .extract::<Config>()
            .map_err(|e| format!("invalid configuration: {e}"))
    }

    pub fn derive(&self) -> Result<Derived, String> {
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|text| parse_cidr(text).ok_or_else(|| format!("trusted_proxies: bad CIDR {text:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        let metrics_allowed = self
            .metrics
            .allowed_ips
            .iter()
            .map(|text| parse_cidr(text).ok_or_else(|| format!("metrics.allowed_ips: bad CIDR {text:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        self.browser.check()?;
        if self.limits.ipv6_prefix == 0 || self.limits.ipv6_prefix > 128 {
            return Err("limits.ipv6_prefix must be between 1 and 128".into());
        }
        if let Some(key) = self
            .public_api_keys
            .iter()
            .find(|k| k.starts_with("hbot_") || k.is_empty())
        {
            let shown: String = key.chars().take(5).collect();
            return Err(format!(
                "public_api_keys: a public key may not be empty or start with hbot_ ({shown}…)"
            ));
        }
        let same_site = self.cookie.same_site.as_str();
        if !["Lax", "Strict", "None"].contains(&same_site) {
            return Err("cookie.same_site must be one of: Lax, Strict, None".into());
        }
        let loopback = self
            .bind
            .parse::<SocketAddr>()
            .map(|addr| addr.ip().is_loopback())
            .unwrap_or(false);
        // Off by default only for a local browser talking plain HTTP to the server itself: behind
        // any proxy the browser's side is (or should be) HTTPS (00-conventions §9).
        let cookie_secure = self.cookie.secure.unwrap_or(!loopback || !trusted_proxies.is_empty());
        if same_site == "None" && !cookie_secure {
            return Err("cookie.same_site = None requires cookie.secure".into());
        }
        // A reconnect grace within the leave grace would end a chat before the peer is told.
        if self.matching.reconnect_grace_s <= self.presence.leave_grace_s as i64 {
            return Err("match.reconnect_grace_s must be greater than presence.leave_grace_s".into());
        }
        if self.matching.sweep_interval_s == 0 {
            return Err("match.sweep_interval_s must be at least 1".into());
        }
        if !["none", "mmdb"].contains(&self.geo.provider.as_str()) {
            return Err("geo.provider must be one of: none, mmdb".into());
        }
        if self.geo.provider == "mmdb" && self.geo.city_db.is_none() {
            return Err("geo.provider = mmdb requires geo.city_db".into());
        }
        Ok(Derived {
            trusted_proxies,
            metrics_allowed,
            cookie_secure,
        })
    }

    /// The database URL in use: the configured one, or the embedded SQLite file under `data_dir`.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!("sqlite://{}?mode=rwc", self.data_dir.join("portal.db").display()),
        }
    }
}

fn parse_cidr(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Lists come from TOML arrays or from comma-separated environment values.
fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct ListVisitor;
    impl<'de> de::Visitor<'de> for ListVisitor {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list or a comma-separated string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<figment::value::Value>()? {
                match item {
                    figment::value::Value::String(_, s) => out.push(s),
                    other => out.push(other.to_actual().to_string()),
                }
            }
            Ok(out)
        }
    }
    deserializer.deserialize_any(ListVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn environment_beats_file_beats_default() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "portal.toml",
                "application_name = \"From File\"\n[rate_limit]\nlogin = 7\nauth = 9\n",
            )?;
            jail.set_env("PORTAL_RATE_LIMIT__LOGIN", "3");
            jail.set_env("PORTAL_TRUSTED_PROXIES", "127.0.0.1/32,10.0.0.0/8");
            let config = Config::load(Some(Path::new("portal.toml"))).unwrap();
            assert_eq!(config.rate_limit.login, 3);
            assert_eq!(config.rate_limit.auth, 9);
            assert_eq!(config.rate_limit.admin, 60);
            assert_eq!(config.application_name, "From File");
            assert_eq!(config.trusted_proxies, vec!["127.0.0.1/32", "10.0.0.0/8"]);
            Ok(())
        });
    }

    #[test]
    fn refuses_bot_shaped_public_keys_and_unsafe_cookies() {
        let mut config = Config {
            public_api_keys: vec!["hbot_x".into()],
            ..Config::default()
        };
        assert!(config.derive().is_err());
        config.public_api_keys.clear();
        config.cookie.same_site = "None".into();
        config.cookie.secure = Some(false);
        assert!(config.derive().is_err());
    }

    #[test]
    fn the_cookie_is_secure_unless_a_loopback_bind_has_no_proxy_in_front() {
        let secure = |bind: &str, proxies: &[&str]| {
            let config = Config {
                bind: bind.into(),
                trusted_proxies: proxies.iter().map(|p| p.to_string()).collect(),
                ..Config::default()
            };
            config.derive().unwrap().cookie_secure
        };
        assert!(!secure("127.0.0.1:8080", &[]));
        assert!(secure("127.0.0.1:8080", &["127.0.0.1/32"]));
        assert!(secure("0.0.0.0:8080", &[]));
        assert!(secure("[::]:8080", &[]));
    }
}

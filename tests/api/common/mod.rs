//! The test harness: the real router over a fresh database per test, on SQLite (a temp file) and on
//! PostgreSQL (a uniquely named database, dropped afterwards), driven through HTTP requests.

pub mod browser;
pub mod chats;
pub mod e2e;
pub mod private_redis;
pub mod process;
pub mod wire;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use portal::action_type::ActionType;
use portal::config::Config;
use portal::domain::app::{App, AppState};
use portal::store::history::NewModeration;
use portal::store::users::{NewLink, NewUser, SubscriptionChange, UserRow};
use portal::store::{self, Backend, Store};
use portal::time::{Clock, ManualClock, Timestamp, MICROS_PER_SECOND};
use portal::user_kind::UserKind;
use serde_json::{json, Value};
use sqlx::Connection;
use tower::ServiceExt;

/// An hour, in seconds (durations in requests and in `advance_secs`).
pub const HOUR: i64 = 3600;
/// A second, in microseconds (stored timestamps).
pub const SECOND: i64 = MICROS_PER_SECOND;

pub const PG_ADMIN_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Runs an async test body once per backend: `both_backends!(name, |t| async move { … });`, or
/// with a configuration change first: `both_backends!(name, |c: &mut Config| { … }, |t| …);`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        $crate::both_backends!($name, |_: &mut portal::config::Config| {}, $body);
    };
    ($name:ident, $configure:expr, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::common::TestApp::new($crate::common::Kind::Sqlite, $configure)
                    .await
                    .unwrap();
                ($body)(t).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(t) = $crate::common::TestApp::new($crate::common::Kind::Postgres, $configure).await else {
                    return;
                };
                ($body)(t).await;
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub app: AppState,
    pub router: Router,
    pub clock: Arc<ManualClock>,
    pub peer: SocketAddr,
    _dir: Option<tempfile::TempDir>,
    pg_database: Option<String>,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `psession` token a response set, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                let value = c.strip_prefix("psession=")?.split(';').next()?;
                (!value.is_empty()).then(|| value.to_owned())
            })
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert!(self.body["error"].is_string(), "body: {}", self.body);
        let id = self.body["correlation_id"].as_str().expect("correlation_id");
        assert_eq!(Some(id), self.header("x-correlation-id"));
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        &self.body
    }
}

pub fn pg_admin_url() -> String {
    std::env::var("PORTAL_TEST_DATABASE_URL").unwrap_or_else(|_| PG_ADMIN_DEFAULT.to_owned())
}

fn with_database(url: &str, database: &str) -> String {
    match url.rfind('/') {
        Some(pos) if url[..pos].contains("://") && pos > url.find("://").unwrap() + 2 => {
            let (base, rest) = url.split_at(pos);
            let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
            format!("{base}/{database}{query}")
        }
        _ => format!("{url}/{database}"),
    }
}

pub const REDIS_DEFAULT: &str = "redis://127.0.0.1:6379";

/// The test Redis, or `None` (a loud skip) when it cannot be reached; under `CI=true` a panic.
pub async fn redis_url() -> Option<String> {
    let url = std::env::var("PORTAL_TEST_REDIS_URL").unwrap_or_else(|_| REDIS_DEFAULT.to_owned());
    let reachable = async {
        let client = redis::Client::open(url.as_str()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), reachable).await {
        Ok(Some(_)) => Some(url),
        _ if in_ci() => panic!("Redis at {url} is required under CI=true"),
        _ => {
            eprintln!("SKIPPED: Redis test, cannot reach {url}");
            None
        }
    }
}

/// A stored timestamp as the API writes it.
pub fn rfc3339(micros: i64) -> String {
    Timestamp(micros).to_rfc3339()
}

/// A fresh SQLite database in a temporary folder (kept while the folder lives): (folder, URL).
pub fn temp_sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("portal.db").display());
    (dir, url)
}

pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

impl TestApp {
    /// A fresh app. For PostgreSQL, `None` when the server cannot be reached (a loud skip), and a
    /// panic under `CI=true`.
    pub async fn new(kind: Kind, configure: impl FnOnce(&mut Config)) -> Option<TestApp> {
        Self::new_routed(kind, configure, |url| url.to_owned()).await
    }

    /// Like `new`, but the app reaches its database at `route(url)`: through a proxy that a fault
    /// test can cut.
    pub async fn new_routed(
        kind: Kind,
        configure: impl FnOnce(&mut Config),
        route: impl FnOnce(&str) -> String,
    ) -> Option<TestApp> {
        let mut config = Config::default();
        // Generous tiers: tests of the limits set their own.
        config.rate_limit.login = 0;
        config.rate_limit.auth = 0;
        config.rate_limit.admin = 0;
        config.rate_limit.public = 0;
        config.rate_limit.bot = 0;
        config.rate_limit.health = 0;
        // Tests share one Redis; each app gets its own keys unless a test says otherwise.
        config.redis_prefix = format!("portal-test-{}:", uuid::Uuid::new_v4().simple());
        configure(&mut config);
        let (dir, pg_database, url) = match kind {
            Kind::Sqlite => {
                let (dir, url) = temp_sqlite();
                (Some(dir), None, url)
            }
            Kind::Postgres => {
                let admin = pg_admin_url();
                let mut conn = match sqlx::PgConnection::connect(&admin).await {
                    Ok(conn) => conn,
                    Err(err) => {
                        if in_ci() {
                            panic!("PostgreSQL at {admin} is required under CI=true: {err}");
                        }
                        eprintln!("SKIPPED: PostgreSQL test, cannot reach {admin}: {err}");
                        return None;
                    }
                };
                let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                let _ = conn.close().await;
                let url = with_database(&admin, &name);
                (None, Some(name), url)
            }
        };
        let url = route(&url);
        config.database_url = Some(url.clone());
        let store = Store::connect(&url, &config.database).await.expect("connect");
        store.migrate().await.expect("migrate");
        let clock = ManualClock::new();
        let app = App::new(config, store, clock.clone() as Arc<dyn Clock>).expect("app");
        let peer: SocketAddr = "203.0.113.10:40000".parse().unwrap();
        let router = portal::http::router(app.clone()).layer(MockConnectInfo(peer));
        Some(TestApp {
            app,
            router,
            clock,
            peer,
            _dir: dir,
            pg_database,
        })
    }

    /// A second server on the same database and configuration: another node of one deployment.
    pub async fn second_node(&self) -> TestApp {
        self.second_node_with(|_| {}).await
    }

    /// Another node of the deployment whose configuration differs by `configure` (its own
    /// `browser.node_address`, say).
    pub async fn second_node_with(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.app.config.clone();
        configure(&mut config);
        let url = config.effective_database_url();
        let store = Store::connect(&url, &config.database).await.expect("connect");
        let clock = ManualClock::new();
        clock.set(self.clock.now());
        let app = App::new(config, store, clock.clone() as Arc<dyn Clock>).expect("app");
        let router = portal::http::router(app.clone()).layer(MockConnectInfo(self.peer));
        TestApp {
            app,
            router,
            clock,
            peer: self.peer,
            _dir: None,
            pg_database: None,
        }
    }

    /// Serves the app on a loopback port, for clients that need a real connection (WebSocket).
    /// A node of a deployment on PostgreSQL and Redis that beats every second, as the nodes of
    /// `ServerProcess::node_of` do, so a node that dies is noticed within three seconds; `None`
    /// (a loud skip, a failure under CI) without PostgreSQL or Redis.
    pub async fn beating_node() -> Option<TestApp> {
        let url = redis_url().await?;
        let node = TestApp::new(Kind::Postgres, |c| {
            c.redis_url = Some(url);
            c.presence.node_beat_s = 1;
        })
        .await?;
        assert!(
            node.app
                .ephemeral
                .wait_connected(std::time::Duration::from_secs(2))
                .await
        );
        Some(node)
    }

    pub async fn listen(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        self.listen_on(listener)
    }

    /// Serves the app on a listener bound before the app was made: for a node whose
    /// configuration names its own address.
    pub fn listen_on(&self, listener: tokio::net::TcpListener) -> SocketAddr {
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    pub fn backend(&self) -> Backend {
        self.app.store.backend()
    }

    /// The name of the test's PostgreSQL database.
    pub fn pg_database(&self) -> Option<&str> {
        self.pg_database.as_deref()
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            app: self,
            builder: Request::builder().method(method).uri(path),
            body: Body::empty(),
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder<'_> {
        self.req(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder<'_> {
        self.req(Method::POST, path)
    }

    pub async fn conn(&self) -> sqlx::pool::PoolConnection<sqlx::Any> {
        self.app.store.acquire().await.unwrap()
    }

    /// A user with one linked identity, made directly in the store (as the command-line tool does).
    pub async fn user(&self, platform_user_id: &str, level: i64) -> UserRow {
        let now = self.app.now();
        let mut tx = self.app.store.begin().await.unwrap();
        let username = format!("u{platform_user_id}");
        let user = store::users::insert(
            &mut tx,
            NewUser {
                username: &username,
                permission_level: 0,
                kind: UserKind::Registered,
                created_from_group: None,
                now,
            },
        )
        .await
        .unwrap();
        store::users::insert_link(
            &mut tx,
            NewLink {
                user_id: user.id,
                platform: "discord",
                platform_user_id,
                platform_username: platform_user_id,
                platform_avatar_url: Some("https://cdn.example.org/a.png"),
                last_authenticated_at: None,
                now,
            },
        )
        .await
        .unwrap();
        if level > 0 {
            let level = portal::level::Level::from_i64(level).unwrap();
            portal::domain::staff::set_level(&self.app, &mut tx, None, &user, level, Some("test"))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let mut conn = self.conn().await;
        store::users::by_id(&mut conn, user.id).await.unwrap().unwrap()
    }

    /// Registers a bot and returns its key.
    pub async fn bot(&self, owner: &UserRow, name: &str, platform: &str, bot_type: i64) -> String {
        let mut tx = self.app.store.begin().await.unwrap();
        let (_, key) = portal::domain::staff::register_bot(
            &self.app,
            &mut tx,
            None,
            portal::domain::staff::NewBotSpec {
                name,
                platform,
                owner,
                bot_type: portal::bot_type::BotType::from_i64(bot_type).expect("a bot type of 1–3"),
                rate_limit_per_hour: 1_000_000,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        key
    }

    /// A user at `level` with a live session: (user, session token).
    pub async fn staff(&self, bot_key: &str, platform_user_id: &str, level: i64) -> (UserRow, String) {
        let user = self.user(platform_user_id, level).await;
        let token = self.login(bot_key, platform_user_id).await;
        (user, token)
    }

    /// The id of the (active) bot with this key, as the bot itself learns it.
    pub async fn bot_id_of(&self, key: &str) -> i64 {
        self.get("/v1/bot/me").key(key).send().await.assert_ok()["id"]
            .as_i64()
            .unwrap()
    }

    /// The official Discord login bot's key (created on first use, owned by a fresh Owner).
    pub async fn login_bot(&self) -> String {
        let mut conn = self.conn().await;
        let existing: Option<(i64,)> = sqlx::query_as("SELECT id FROM bots WHERE name = 'Login Bot'")
            .fetch_optional(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert!(
            existing.is_none(),
            "login_bot() is meant to be called once per test; keep its key"
        );
        let owner = self.user("login-bot-owner", 3).await;
        self.bot(&owner, "Login Bot", "discord", 1).await
    }

    /// `POST /v1/authentication/verify` of `code`, with no cookie or other header.
    pub async fn verify(&self, code: &str) -> TestResponse {
        self.post("/v1/authentication/verify")
            .json(json!({"code": code}))
            .send()
            .await
    }

    /// Starts a web login for the identity of `report` (a bot's login-code body) and returns the
    /// code the bot fetches: request → bot login-code.
    pub async fn web_code(&self, bot_key: &str, report: Value) -> String {
        let platform_user_id = report["platform_user_id"].as_str().expect("platform_user_id");
        self.post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": platform_user_id}))
            .send()
            .await
            .assert_ok();
        let fetched = self
            .post("/v1/authentication/bot/login-code")
            .key(bot_key)
            .json(report)
            .send()
            .await;
        fetched.assert_ok()["code"].as_str().expect("a pending code").to_owned()
    }

    /// The single integer a counting query answers.
    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.conn().await;
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *conn).await.unwrap();
        n
    }

    /// Runs one statement straight against the store, for a state no endpoint sets up.
    pub async fn exec(&self, sql: &str) {
        let mut conn = self.conn().await;
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }

    /// Puts a platform action in force directly in the store, as another staff member would have
    /// (no issuer, no audit row); returns its end, `None` for a permanent one.
    pub async fn put_in_force(&self, user_id: i64, action_type: ActionType, expires_in_s: Option<i64>) -> Option<i64> {
        let now = self.app.now();
        let expires_at = expires_in_s.map(|s| now + s * SECOND);
        let mut conn = self.conn().await;
        store::history::insert_moderation(
            &mut conn,
            NewModeration {
                user_id,
                action_type,
                reason: Some("set up by the test"),
                chat_id: None,
                issued_by_id: None,
                expires_at,
                now,
            },
        )
        .await
        .unwrap();
        expires_at
    }

    /// Puts a platform timeout of `secs` seconds on a user directly in the store; returns its end.
    pub async fn time_out(&self, user_id: i64, secs: i64) -> i64 {
        self.put_in_force(user_id, ActionType::PlatformTimeout, Some(secs))
            .await
            .expect("a timeout ends")
    }

    /// Sets a user's subscription directly in the store (granted by no one, no history row).
    pub async fn set_subscription(&self, user_id: i64, tier: i64, expires_at: Option<i64>) {
        let mut conn = self.conn().await;
        store::users::set_subscription(
            &mut conn,
            user_id,
            SubscriptionChange {
                tier: portal::tier::Tier::from_i64(tier).expect("a tier of 0–3"),
                expires_at,
                granted_by: None,
                uses_trial: false,
                now: self.app.now(),
            },
        )
        .await
        .unwrap();
    }

    /// The web login flow up to verify (request → bot login-code → verify), returning verify's
    /// answer, for identities that may be refused.
    pub async fn try_login(&self, bot_key: &str, platform_user_id: &str) -> TestResponse {
        let report = json!({"platform": "discord", "platform_user_id": platform_user_id,
                            "platform_username": format!("name-{platform_user_id}"), "platform_avatar_url": null});
        let code = self.web_code(bot_key, report).await;
        self.verify(&code).await
    }

    /// Logs an identity in through the real web flow and returns the session token.
    pub async fn login(&self, bot_key: &str, platform_user_id: &str) -> String {
        let verified = self.try_login(bot_key, platform_user_id).await;
        verified.assert_ok();
        verified.session_cookie().expect("session cookie")
    }

    /// `POST path` with a JSON body as the holder of session `token`.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> TestResponse {
        self.post(path).cookie(token).json(body).send().await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let Some(name) = self.pg_database.take() else { return };
        // The test's runtime may be blocked here, so a private runtime on a thread drops the
        // database; FORCE ends the pool's connections without waiting for them.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

pub struct RequestBuilder<'a> {
    app: &'a TestApp,
    builder: axum::http::request::Builder,
    body: Body,
}

impl RequestBuilder<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn cookie(self, token: &str) -> Self {
        self.header("cookie", &format!("psession={token}"))
    }

    pub fn key(self, key: &str) -> Self {
        self.header("x-api-key", key)
    }

    pub fn json(mut self, value: Value) -> Self {
        self.builder = self.builder.header("content-type", "application/json");
        self.body = Body::from(value.to_string());
        self
    }

    pub fn raw(mut self, content_type: Option<&str>, body: impl Into<Body>) -> Self {
        if let Some(ct) = content_type {
            self.builder = self.builder.header("content-type", ct);
        }
        self.body = body.into();
        self
    }

    /// Status, headers and the body's bytes, for answers that are not text (an image).
    pub async fn send_bytes(self) -> (StatusCode, HeaderMap, bytes::Bytes) {
        let request = self.builder.body(self.body).unwrap();
        let response = self.app.router.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes)
    }

    /// Status and body text, for answers that are not JSON (the docs page).
    pub async fn send_raw(self) -> (StatusCode, String) {
        let request = self.builder.body(self.body).unwrap();
        let response = self.app.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn send(self) -> TestResponse {
        let request = self.builder.body(self.body).unwrap();
        let response = self.app.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("non-JSON body: {}", String::from_utf8_lossy(&bytes)))
        };
        TestResponse { status, headers, body }
    }
}

/// Logged-in users made for one test, sharing the login bot.
pub struct People<'a> {
    pub t: &'a TestApp,
    pub bot: String,
}

impl<'a> People<'a> {
    pub async fn new(t: &'a TestApp) -> People<'a> {
        People {
            t,
            bot: t.login_bot().await,
        }
    }

    /// A user of `level` made in the store (no welcome notification), with a session: (id, token).
    pub async fn at(&self, name: &str, level: i64) -> (i64, String) {
        let (user, token) = self.t.staff(&self.bot, name, level).await;
        (user.id, token)
    }

    /// A user who signs up through the login flow, and so gets the welcome notification.
    pub async fn signed_up(&self, name: &str) -> (i64, String) {
        let token = self.t.login(&self.bot, name).await;
        let me = self.t.get("/v1/users/me").cookie(&token).send().await;
        (me.assert_ok()["id"].as_i64().unwrap(), token)
    }

    /// A level-0 user with a Premium subscription that ends in `secs` seconds.
    pub async fn premium(&self, name: &str, secs: i64) -> (i64, String) {
        let (id, token) = self.at(name, 0).await;
        self.t
            .set_subscription(id, 2, Some(self.t.app.now() + secs * SECOND))
            .await;
        (id, token)
    }
}

/// The fields of a `Notification` (80-notifications-portal §1.1), sorted.
pub const NOTIFICATION_FIELDS: [&str; 8] = [
    "body",
    "created_at",
    "created_by",
    "id",
    "is_broadcast",
    "read_at",
    "title",
    "type",
];

/// An error answer with exactly the common fields plus `extra`.
#[track_caller]
pub fn assert_error_fields(r: &TestResponse, status: u16, code: &str, extra: &[&str]) {
    r.assert_error(status, code);
    let mut expected: Vec<String> = ["code", "correlation_id", "error"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    expected.sort();
    assert_eq!(keys(&r.body), expected, "body: {}", r.body);
}

/// The sorted keys of a JSON object.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

/// The audit rows of one event type, oldest first: (actor_id, target_type, target_id, metadata).
pub async fn audits(t: &TestApp, event_type: &str) -> Vec<(Option<i64>, String, Option<i64>, Value)> {
    let mut conn = t.conn().await;
    let rows: Vec<(Option<i64>, String, Option<i64>, String)> = sqlx::query_as(
        "SELECT actor_id, target_type, target_id, metadata FROM audit_log WHERE event_type = $1 ORDER BY id",
    )
    .bind(event_type)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(a, tt, ti, m)| (a, tt, ti, serde_json::from_str(&m).unwrap()))
        .collect()
}

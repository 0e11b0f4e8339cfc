//! The real portal, its router over a fresh database, served on a loopback port.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::MockConnectInfo;
use portal::action_type::ActionType;
use portal::config::Config;
use portal::domain::app::{App, AppState};
use portal::domain::users::NewAccount;
use portal::level::Level;
use portal::store::history::NewModeration;
use portal::store::users::UserRow;
use portal::store::{self, Store};
use portal::time::{Clock, SystemClock, Timestamp, MICROS_PER_SECOND};
use serde_json::{json, Value};
use sqlx::Connection;

use super::Switchable;

pub const PG_ADMIN_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub struct PortalServer {
    pub app: AppState,
    pub server: Switchable,
    http: reqwest::Client,
    owner: UserRow,
    _dir: Option<tempfile::TempDir>,
    pg_database: Option<String>,
}

fn pg_admin_url() -> String {
    std::env::var("PORTAL_TEST_DATABASE_URL").unwrap_or_else(|_| PG_ADMIN_DEFAULT.to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

impl PortalServer {
    /// A fresh portal. On PostgreSQL, `None` (a loud skip) when the server cannot be reached, and
    /// a panic under `CI=true`.
    pub async fn start(kind: Kind) -> Option<PortalServer> {
        let mut config = Config::default();
        // The tests of the bot are not about the portal's rate tiers.
        config.rate_limit.login = 0;
        config.rate_limit.auth = 0;
        config.rate_limit.admin = 0;
        config.rate_limit.public = 0;
        config.rate_limit.bot = 0;
        config.rate_limit.health = 0;
        let (dir, pg_database, url) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("portal.db").display());
                (Some(dir), None, url)
            }
            Kind::Postgres => {
                let admin = pg_admin_url();
                let mut conn = match sqlx::PgConnection::connect(&admin).await {
                    Ok(conn) => conn,
                    Err(err) if in_ci() => panic!("PostgreSQL at {admin} is required under CI=true: {err}"),
                    Err(err) => {
                        eprintln!("SKIPPED: PostgreSQL test, cannot reach {admin}: {err}");
                        return None;
                    }
                };
                let name = format!("portal_bot_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').expect("a database URL").0;
                (None, Some(name.clone()), format!("{base}/{name}"))
            }
        };
        config.database_url = Some(url.clone());
        let store = Store::connect(&url, &config.database).await.expect("connect");
        store.migrate().await.expect("migrate");
        let app = App::new(config, store, Arc::new(SystemClock) as Arc<dyn Clock>).expect("app");
        let peer: SocketAddr = "203.0.113.10:40000".parse().unwrap();
        let router = portal::http::router(app.clone()).layer(MockConnectInfo(peer));
        let owner = insert_user(&app, "discord", "owner-0").await;
        let owner = promote_to_owner(&app, owner).await;
        Some(PortalServer {
            owner,
            app,
            server: Switchable::start(router).await,
            http: reqwest::Client::new(),
            _dir: dir,
            pg_database,
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A user linked to one identity, made in the store as the command-line tool does.
    pub async fn user(&self, platform: &str, platform_user_id: &str) -> UserRow {
        insert_user(&self.app, platform, platform_user_id).await
    }

    /// An Official bot of `platform`, as an Owner registers it: (bot id, key).
    pub async fn official_bot(&self, platform: &str) -> (i64, String) {
        let mut tx = self.app.store.begin().await.unwrap();
        let (bot, key) = portal::domain::staff::register_bot(
            &self.app,
            &mut tx,
            None,
            portal::domain::staff::NewBotSpec {
                name: "Login Bot",
                platform,
                owner: &self.owner,
                bot_type: portal::bot_type::BotType::from_i64(1).unwrap(),
                rate_limit_per_hour: 100_000,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        (bot.id, key)
    }

    /// `POST /v1/admin/bots/{id}/regenerate-key` as the Owner: the bot's key stops working.
    pub async fn regenerate_key(&self, bot_id: i64) -> String {
        let actor = portal::domain::bots::Actor {
            id: self.owner.id,
            level: Level::Owner,
        };
        portal::domain::bots::regenerate_key(&self.app, actor, bot_id)
            .await
            .expect("regenerate")
            .1
    }

    /// Bans a user for `secs` seconds (or for good) as staff would; returns the ban's end as the
    /// API writes it.
    pub async fn ban(&self, user_id: i64, secs: Option<i64>) -> Option<String> {
        let now = self.app.now();
        let expires_at = secs.map(|s| now + s * MICROS_PER_SECOND);
        let mut conn = self.app.store.acquire().await.unwrap();
        store::history::insert_moderation(
            &mut conn,
            NewModeration {
                user_id,
                action_type: ActionType::PlatformBan,
                reason: Some("set up by the test"),
                chat_id: None,
                issued_by_id: None,
                expires_at,
                now,
            },
        )
        .await
        .unwrap();
        expires_at.map(|at| Timestamp(at).to_rfc3339())
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.url())).json(&body);
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        answer(request).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        answer(self.http.get(format!("{}{path}", self.url())).header("X-API-Key", key)).await
    }

    /// Flows A and B, step 2: the website asks for a code for this identity.
    pub async fn request_web_login(&self, platform: &str, platform_user_id: &str) {
        let (status, body) = self
            .post(
                "/v1/authentication/request",
                None,
                json!({"platform": platform, "platform_user_id": platform_user_id}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// The website's `POST /v1/authentication/verify`.
    pub async fn verify(&self, code: &str) -> (u16, Value) {
        self.post("/v1/authentication/verify", None, json!({ "code": code }))
            .await
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the portal answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A user at level 0 with one linked identity, made the one way an account comes to be.
async fn insert_user(app: &AppState, platform: &str, platform_user_id: &str) -> UserRow {
    let username = format!("u{}", platform_user_id.replace('-', ""));
    let mut tx = app.store.begin().await.unwrap();
    let account = NewAccount {
        username: Some(&username),
        platform,
        platform_user_id,
        platform_username: platform_user_id,
        platform_avatar_url: None,
    };
    let user = portal::domain::users::create_account(&mut tx, account, app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    user
}

async fn promote_to_owner(app: &AppState, user: UserRow) -> UserRow {
    let mut tx = app.store.begin().await.unwrap();
    portal::domain::staff::set_level(app, &mut tx, None, &user, Level::Owner, Some("test"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut conn = app.store.acquire().await.unwrap();
    store::users::by_id(&mut conn, user.id).await.unwrap().unwrap()
}

impl Drop for PortalServer {
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

//! The web front in a real browser: headless Chromium (`common::browser`) against the real
//! `portal` binary on SQLite and PostgreSQL. Each test sets up people and the login bot with the
//! command-line tool, as an operator would, and asserts on what a person sees in the page.

mod chats;
mod console;
mod live;
mod login;
mod pages;
mod rooms;
mod serving;

use serde_json::{json, Value};

use crate::common::browser::{self, Browser};
use crate::common::process::{cli, official_bot_create_args, user_create_args, ServerProcess};
use crate::common::TestApp;

/// Runs a browser test once per backend, on a running server with its login bot:
/// `browser_test!(name, |site: Site| async move { … });`, or with extra server environment
/// `browser_test!(name, &[("PORTAL_…", "…")], |site: Site| …)`.
macro_rules! browser_test {
    ($name:ident, $body:expr) => {
        browser_test!($name, &[], $body);
    };
    ($name:ident, $env:expr, $body:expr) => {
        both_backends!($name, |t: TestApp| async move {
            if let Some(site) = $crate::browser::Site::start(t, $env).await {
                ($body)(site).await;
            }
        });
    };
}
pub(crate) use browser_test;

/// The platform every test person logs in with.
const PLATFORM: &str = "discord";

/// A running server with an Owner (`owner`, Discord id `1`) whose Official bot delivers login codes.
pub struct Site {
    /// The test's database (held for as long as the site runs), for set-ups no API offers.
    pub t: TestApp,
    pub server: ServerProcess,
    pub database_url: String,
    pub bot_key: String,
}

impl Site {
    /// `None` (a loud skip, or a failure under `CI=true`) when there is no browser.
    pub async fn start(t: TestApp, env: &[(&str, &str)]) -> Option<Site> {
        browser::binaries()?;
        let database_url = t.app.config.effective_database_url();
        cli(&database_url, &user_create_args("owner", "1", "3"));
        let (bot, _) = cli(&database_url, &official_bot_create_args("Portal Login", "owner"));
        let bot_key = bot["api_key"].as_str().expect("a bot key").to_owned();
        // A closed tab leaves the list of who is online a second later, not five.
        let mut env = env.to_vec();
        env.push(("PORTAL_PRESENCE__LEAVE_GRACE_S", "1"));
        let server = ServerProcess::start(&database_url, &env).await;
        Some(Site {
            t,
            server,
            database_url,
            bot_key,
        })
    }

    /// A new browser on this site.
    pub async fn browser(&self) -> Browser {
        Browser::open(self.server.addr)
            .await
            .expect("the browser was found a moment ago")
    }

    /// A member made with the command-line tool; their id.
    pub fn member(&self, username: &str, platform_user_id: &str, level: &str) -> i64 {
        let (user, _) = cli(&self.database_url, &user_create_args(username, platform_user_id, level));
        user["id"].as_i64().expect("a user id")
    }

    /// What the bot does when the person sends it the login command (10-auth §2.4): send-code,
    /// which hands over the web code the page asked for.
    pub async fn bot_delivers_code(&self, platform_user_id: &str) -> String {
        let report = json!({
            "platform": PLATFORM,
            "platform_user_id": platform_user_id,
            "platform_username": format!("member-{platform_user_id}"),
        });
        let r = self
            .server
            .send(
                "POST",
                "/v1/authentication/bot/send-code",
                &[("X-API-Key", &self.bot_key)],
                Some(&report),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["code"].as_str().expect("a code").to_owned()
    }

    /// On the login page, asks for a code the way a person does — the username, then the platform —
    /// and returns the code the bot delivers.
    pub async fn ask_for_code(&self, browser: &Browser, username: &str, platform_user_id: &str) -> String {
        browser.wait_for_text("h1", "Log in").await;
        browser.type_into("input[name=username]", username).await;
        browser.press("Find my account").await;
        browser
            .wait_for_text("select[name=choice]", &format!("Discord (id {platform_user_id})"))
            .await;
        browser.press("Send me a code").await;
        browser.wait_for_text("#code-sent", "Your code is ready").await;
        self.bot_delivers_code(platform_user_id).await
    }

    /// Logs `username` in through the page: `ask_for_code`, then the code typed in. Ends on Home.
    pub async fn log_in(&self, browser: &Browser, username: &str, platform_user_id: &str) {
        browser.goto("/#/login").await;
        let code = self.ask_for_code(browser, username, platform_user_id).await;
        browser.type_into("input[name=code]", &code).await;
        browser.press("Log in").await;
        browser.wait_for_text("h1", "Home").await;
        browser.wait_for_text("#whoami", username).await;
    }

    /// A session of the Owner for requests made outside the browser (an admin's client).
    pub async fn owner_session(&self) -> String {
        self.server.login(&self.bot_key, "1").await.0
    }

    /// A `POST` to the server as a non-browser client with `token`'s session; its answer.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> Value {
        let cookie = format!("psession={token}");
        let r = self
            .server
            .send("POST", path, &[("Cookie", &cookie)], Some(&body))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.json()
    }
}

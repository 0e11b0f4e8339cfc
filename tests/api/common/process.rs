//! The real `portal` binary as a child process: `serve` on a free loopback port with its log
//! captured to a file, and the command-line tool. For tests of what only a process shows: `kill -9`,
//! log lines, connection-level limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::wire::{self, WireResponse};

pub const BINARY: &str = env!("CARGO_BIN_EXE_portal");

/// The environment every spawned process gets besides `REDIS_URL` removed: its database, rate tiers
/// off (tests of the limits set their own) and JSON log lines.
fn base_env(database_url: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        ("PORTAL_LOG_FORMAT".to_owned(), "json".to_owned()),
    ];
    for tier in ["LOGIN", "AUTH", "ADMIN", "PUBLIC", "BOT", "HEALTH"] {
        env.push((format!("PORTAL_RATE_LIMIT__{tier}"), "0".to_owned()));
    }
    env
}

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The environment it was started with, for `restart`.
    env: Vec<(String, String)>,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

fn spawn_serve(addr: SocketAddr, env: &[(String, String)], log: &std::path::Path) -> Child {
    Command::new(BINARY)
        .arg("serve")
        .env_remove("REDIS_URL")
        .env("PORTAL_BIND", addr.to_string())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("log file"),
        )
        .spawn()
        .expect("spawn portal")
}

impl ServerProcess {
    /// Starts `portal serve` on `database_url` with extra environment `env`, and waits until
    /// `GET /health` answers.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> ServerProcess {
        let log_dir = tempfile::tempdir().expect("temp dir");
        let log = log_dir.path().join("portal.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut all_env = base_env(database_url);
        all_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let child = spawn_serve(addr, &all_env, &log);
        let mut server = ServerProcess {
            child,
            addr,
            env: all_env,
            log,
            _log_dir: log_dir,
        };
        server.wait_ready().await;
        server
    }

    /// Starts the server again on the same address and database after `kill`: what clients see
    /// as an outage and a return.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn_serve(self.addr, &self.env, &self.log);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = wire::send(self.addr, "GET", "/health", &[], None).await {
                if r.status == 200 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("portal exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "portal did not start: {}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Another node of `t`'s deployment: a real server process on its database and Redis, beating
    /// every second (so its death shows within three seconds), with `extra` environment. It reaches
    /// Redis within a second of starting; until then it keeps its state alone, so this waits.
    pub async fn node_of(t: &super::TestApp, extra: &[(&str, &str)]) -> ServerProcess {
        let config = &t.app.config;
        let mut env = vec![
            (
                "REDIS_URL",
                config.redis_url.as_deref().expect("a deployment with Redis"),
            ),
            ("PORTAL_REDIS_PREFIX", config.redis_prefix.as_str()),
            ("PORTAL_PRESENCE__NODE_BEAT_S", "1"),
        ];
        env.extend_from_slice(extra);
        let node = ServerProcess::start(&config.effective_database_url(), &env).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        node
    }

    /// SIGTERM, then wait: a graceful stop, which writes out the buffered log lines.
    pub fn stop(&mut self) {
        self.terminate();
        let _ = self.child.wait();
    }

    /// SIGTERM without waiting: the server begins its graceful stop.
    pub fn terminate(&self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    /// `kill -9`: no shutdown, no flush, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> std::io::Result<WireResponse> {
        wire::send(self.addr, method, path, headers, body).await
    }

    /// The real web login flow (request, the login bot fetches the code, verify); returns the
    /// session token and the login code it used.
    pub async fn login(&self, bot_key: &str, platform_user_id: &str) -> (String, String) {
        self.login_with(&[], bot_key, platform_user_id).await
    }

    /// `login` with `headers` (a public key) on the website's requests.
    pub async fn login_with(
        &self,
        headers: &[(&str, &str)],
        bot_key: &str,
        platform_user_id: &str,
    ) -> (String, String) {
        let identity = serde_json::json!({"platform": "discord", "platform_user_id": platform_user_id});
        let r = self
            .send("POST", "/v1/authentication/request", headers, Some(&identity))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let fetch =
            serde_json::json!({"platform": "discord", "platform_user_id": platform_user_id, "platform_username": "n"});
        let r = self
            .send(
                "POST",
                "/v1/authentication/bot/login-code",
                &[("X-API-Key", bot_key)],
                Some(&fetch),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let code = r.json()["code"].as_str().expect("a code").to_owned();
        let r = self
            .send(
                "POST",
                "/v1/authentication/verify",
                headers,
                Some(&serde_json::json!({"code": code})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        (r.session_cookie().expect("session cookie"), code)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn run_cli(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(BINARY)
        .args(args)
        .env_remove("REDIS_URL")
        .envs(base_env(database_url))
        .stdin(Stdio::null())
        .output()
        .expect("run portal")
}

/// Runs a command of the command-line tool on `database_url`; returns its JSON output and stderr.
pub fn cli(database_url: &str, args: &[&str]) -> (Value, String) {
    let output = run_cli(database_url, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "portal {args:?} failed: {stderr}");
    let value = serde_json::from_slice(&output.stdout).expect("JSON output");
    (value, stderr)
}

/// The arguments of `portal user create` for a Discord identity with a name and a level.
pub fn user_create_args<'a>(username: &'a str, platform_user_id: &'a str, level: &'a str) -> [&'a str; 10] {
    [
        "user",
        "create",
        "--platform",
        "discord",
        "--platform-user-id",
        platform_user_id,
        "--username",
        username,
        "--level",
        level,
    ]
}

/// The arguments of `portal bot create` for an Official Discord bot.
pub fn official_bot_create_args<'a>(name: &'a str, owner: &'a str) -> [&'a str; 10] {
    [
        "bot",
        "create",
        "--name",
        name,
        "--owner",
        owner,
        "--platform",
        "discord",
        "--type",
        "official",
    ]
}

/// Runs a command of the command-line tool that must fail; returns its stderr.
pub fn cli_refused(database_url: &str, args: &[&str]) -> String {
    let output = run_cli(database_url, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "portal {args:?} succeeded");
    assert!(output.stdout.is_empty(), "a refusal prints nothing on stdout");
    stderr
}

//! The bot between fakes of its platforms and the real portal: the server's router over a fresh
//! database per test, on SQLite and on PostgreSQL (required under `CI=true`), served on a port
//! that a test can close and open again.

pub mod discord;
pub mod portal;
pub mod telegram;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use portal_bot::config::BotConfig;
use portal_bot::Platform;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// Long enough for the slowest wait of a test on a loaded 2-core machine (a gateway reconnect
/// after its backoff, say), short enough that a test that cannot pass fails in reasonable time.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Runs a test body once per backend, as the server's own tests do.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let portal = $crate::common::portal::PortalServer::start($crate::common::portal::Kind::Sqlite)
                    .await
                    .unwrap();
                ($body)(portal).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(portal) =
                    $crate::common::portal::PortalServer::start($crate::common::portal::Kind::Postgres).await
                else {
                    return;
                };
                ($body)(portal).await;
            }
        }
    };
}

/// Waits for `probe` to give a value, asking again every 20 ms; panics with `what` at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An HTTP server on a fixed loopback port that can go down (connections refused, open ones
/// cut) and come back on the same port.
pub struct Switchable {
    pub addr: SocketAddr,
    router: Router,
    serving: Option<JoinHandle<()>>,
}

impl Switchable {
    pub async fn start(router: Router) -> Switchable {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().unwrap();
        Switchable {
            addr,
            serving: Some(tokio::spawn(serve(listener, router.clone()))),
            router,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Returns once the port is closed.
    pub async fn stop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
            let _ = serving.await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.expect("the same port again");
        self.serving = Some(tokio::spawn(serve(listener, self.router.clone())));
    }
}

impl Drop for Switchable {
    fn drop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
        }
    }
}

/// Serves until aborted; the connections are the task's own, so aborting it cuts them too.
async fn serve(listener: TcpListener, router: Router) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        connections.spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// Settings for a bot of the tests: fast reports, a short cooldown unless a test wants one.
pub fn bot_config(portal_url: &str, api_key: &str) -> BotConfig {
    BotConfig {
        portal_url: portal_url.to_owned(),
        api_key: Some(api_key.to_owned()),
        cooldown_s: 0,
        report_interval_s: 1,
        portal_timeout_s: 2,
        ..BotConfig::default()
    }
}

/// The bot, running until it is stopped or the test ends.
pub struct RunningBot {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl RunningBot {
    pub fn start(platform: Platform, config: BotConfig) -> RunningBot {
        // The bot's log, shown with a failing test's output.
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "portal_bot=debug".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
        let (stop, stopped) = oneshot::channel();
        let stop_asked = async move {
            let _ = stopped.await;
        };
        RunningBot {
            stop: Some(stop),
            task: Some(tokio::spawn(portal_bot::run(platform, config, stop_asked))),
        }
    }

    /// Asks the bot to stop, as SIGTERM does, and waits until it has.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("a running bot");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the bot stops within 10 s")
            .expect("the bot's task ends without a panic")
    }
}

impl Drop for RunningBot {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The login code in a message the bot sent ("…code: Ab3dEf7h…").
pub fn code_in(text: &str) -> String {
    let after = text
        .split_once("code: ")
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .1;
    let code: String = after.chars().take_while(char::is_ascii_alphanumeric).collect();
    assert_eq!(code.len(), 8, "a code of 8 characters in {text:?}");
    code
}

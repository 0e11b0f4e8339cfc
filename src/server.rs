//! The server: its listeners, the bounds every connection is held to whatever protocol it speaks
//! (00-conventions §10.1), the background tasks, and the graceful stop.
//!
//! A connection is watched from its accept: a complete request head within
//! `server.header_read_timeout_s` of the accept (protocol detection included, so a client that
//! sends nothing, or only `PRI * HTTP/2.0`, is cut off), each later head within the same time of
//! its first byte, and an idle keep-alive connection closed after `server.keep_alive_timeout_s`.
//! The per-node and per-address-group caps are applied before a byte is read.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tower::ServiceExt;

use crate::config::Config;
use crate::connections::{ConnectionCounts, ConnectionSlot};
use crate::domain::app::{open_store, App, AppState};
use crate::http::error::CloseConnection;
use crate::time::SystemClock;

/// How long in-flight requests may run after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The HTTP layer's own head limits, above the contract's (`http::MAX_HEADERS`,
/// `http::MAX_HEAD_BYTES`), so that a head between the two is answered by the server with the JSON
/// 431; only a head past these gets the HTTP layer's bare one.
const HTTP_LAYER_MAX_HEADERS: usize = 128;
const HTTP_LAYER_MAX_BUF: usize = 128 * 1024;

/// `portal serve`: migrate, listen, and stop gracefully on SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<(), String> {
    let store = open_store(&config).await?;
    let bind = config.bind.clone();
    let app = App::new(config, store.clone(), Arc::new(SystemClock))?;
    if !app.derived.cookie_secure {
        tracing::warn!("the session cookie is sent without Secure: fine for a browser on this machine over plain HTTP, not behind a proxy (cookie.secure, trusted_proxies)");
    }
    let presence = app.presence.clone();
    if let Some(metrics_bind) = app.config.metrics.bind.clone() {
        let metrics_listener = tokio::net::TcpListener::bind(&metrics_bind)
            .await
            .map_err(|e| format!("cannot listen on {metrics_bind}: {e}"))?;
        let metrics = Listener::new(&app, crate::http::metrics_router(app.clone()));
        tokio::spawn(metrics.run(metrics_listener));
        tracing::info!(bind = %metrics_bind, "metrics listening");
    }
    let sweeper = tokio::spawn(crate::domain::subscriptions::run_sweeper(app.clone()));
    let housekeeping = tokio::spawn(crate::domain::housekeeping::run(app.clone()));
    let wiper = tokio::spawn(crate::domain::transport::deletion::run_wiper(app.clone()));
    let matchmaking = tokio::spawn(crate::domain::matchmaking::liveness::run_sweeps(app.clone()));
    let api = Listener::new(&app, crate::http::router(app.clone()));
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!(bind = %bind, backend = store.backend().name(), "portal listening");
    if let Ok(addr) = listener.local_addr() {
        app.browser.listening_on(addr.port());
    }
    let engine = &app.browser.engine;
    tracing::info!(engine = engine.kind.as_str(), reason = %engine.reason, identity = %app.browser.identity(), "browser engine");
    if app.config.browser.process.no_sandbox && engine.kind == crate::domain::browser::EngineKind::Process {
        tracing::warn!("Chromium runs without its sandbox (browser.process.no_sandbox)");
    }
    let browser_node = tokio::spawn(crate::domain::browser::lifecycle::run_node(app.clone()));
    api.run(listener).await;
    crate::domain::browser::lifecycle::shutdown(&app).await;
    browser_node.abort();
    // Upgraded connections are not the HTTP layer's any more: they are closed here, with 1001.
    presence.shutdown(SHUTDOWN_GRACE).await;
    sweeper.abort();
    housekeeping.abort();
    wiper.abort();
    matchmaking.abort();
    store.close().await;
    tracing::info!("portal stopped");
    Ok(())
}

/// One listener with its router, its bounds and its open connections.
pub struct Listener {
    app: AppState,
    router: axum::Router,
    counts: Arc<ConnectionCounts>,
    timeouts: Timeouts,
}

#[derive(Clone, Copy)]
struct Timeouts {
    header: Duration,
    keep_alive: Duration,
}

impl Listener {
    pub fn new(app: &AppState, router: axum::Router) -> Listener {
        let server = &app.config.server;
        Listener {
            app: app.clone(),
            router,
            counts: Arc::new(ConnectionCounts::new(
                server.max_connections,
                server.max_connections_per_ip,
            )),
            timeouts: Timeouts {
                header: Duration::from_secs(server.header_read_timeout_s.max(1)),
                keep_alive: Duration::from_secs(server.keep_alive_timeout_s.max(1)),
            },
        }
    }

    /// Serves connections until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run(self, listener: tokio::net::TcpListener) {
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // The watch below times heads from their first byte; hyper's own timer would also run
            // while a keep-alive connection is idle, and cut it at the head timeout.
            .header_read_timeout(None)
            .max_headers(HTTP_LAYER_MAX_HEADERS)
            .max_buf_size(HTTP_LAYER_MAX_BUF);
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown_signal());
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Out of file descriptors and similar: pause instead of spinning.
                        tracing::warn!(cause = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let slot = match self.admit(peer.ip()) {
                Ok(slot) => slot,
                Err(reason) => {
                    self.app.metrics.connection_refused(reason);
                    drop(stream);
                    continue;
                }
            };
            let watch = Arc::new(Activity::new());
            let router = self.router.clone();
            let service_watch = watch.clone();
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(slot.clone());
                let in_flight = service_watch.begin();
                let answer = router.clone().oneshot(request);
                async move {
                    let response = answer.await.unwrap_or_else(|never| match never {});
                    drop(in_flight);
                    if response.extensions().get::<CloseConnection>().is_some() {
                        // The HTTP layer drops a connection whose service fails, writing nothing.
                        return Err(ConnectionAbandoned);
                    }
                    Ok(response)
                }
            });
            let io = TokioIo::new(TimedIo {
                inner: stream,
                activity: watch.clone(),
            });
            let connection = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
            let timeouts = self.timeouts;
            tokio::spawn(async move {
                tokio::select! {
                    _ = connection => {}
                    _ = watch.expired(timeouts) => {}
                }
            });
        }
        drop(listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
            tracing::warn!("requests still running after the shutdown grace period were cut off");
        }
    }

    /// A place for a connection from `peer`, or the reason there is none. A trusted proxy is not
    /// held to the per-address cap: its connections carry many clients.
    fn admit(&self, peer: IpAddr) -> Result<Arc<ConnectionSlot>, &'static str> {
        let trusted = self.app.derived.trusted_proxies.iter().any(|net| net.contains(&peer));
        let group = (!trusted).then(|| self.app.address_group(peer));
        self.counts.admit(group)
    }
}

/// The service failed on purpose: the connection is to be dropped without an answer.
#[derive(Debug)]
struct ConnectionAbandoned;

impl std::fmt::Display for ConnectionAbandoned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection abandoned")
    }
}

impl std::error::Error for ConnectionAbandoned {}

/// What a connection is doing, for its watch: requests in flight, when the last one ended, and
/// when the first byte of the next head arrived. Times are milliseconds since the accept.
struct Activity {
    accepted: Instant,
    in_flight: AtomicUsize,
    served: AtomicU64,
    idle_since_ms: AtomicU64,
    /// 0 while no byte of a next head has arrived (a real time is stored plus one).
    head_started_ms: AtomicU64,
    changed: tokio::sync::Notify,
}

/// A request in flight; its end makes the connection idle again.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since_ms.store(activity.elapsed_ms(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        activity.changed.notify_one();
    }
}

impl Activity {
    fn new() -> Activity {
        Activity {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        self.accepted.elapsed().as_millis() as u64
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.fetch_add(1, Ordering::AcqRel);
        self.head_started_ms.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// Bytes arrived: while no request is in flight they are the start of the next head.
    fn read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && self.head_started_ms.load(Ordering::Acquire) == 0 {
            self.head_started_ms.store(self.elapsed_ms() + 1, Ordering::Release);
        }
    }

    /// When the connection is to be closed if nothing changes, or `None` while a request runs.
    fn deadline(&self, timeouts: Timeouts) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let header = timeouts.header.as_millis() as u64;
        let at_ms = match self.head_started_ms.load(Ordering::Acquire) {
            0 if self.served.load(Ordering::Acquire) == 0 => header,
            0 => self.idle_since_ms.load(Ordering::Acquire) + timeouts.keep_alive.as_millis() as u64,
            started => started - 1 + header,
        };
        Some(Duration::from_millis(at_ms))
    }

    /// Resolves when the connection has broken one of its time bounds.
    async fn expired(&self, timeouts: Timeouts) {
        loop {
            let changed = self.changed.notified();
            match self.deadline(timeouts) {
                Some(at) if self.accepted.elapsed() >= at => return,
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until((self.accepted + at).into()) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// The socket, telling the watch when bytes arrive.
struct TimedIo {
    inner: tokio::net::TcpStream,
    activity: Arc<Activity>,
}

impl tokio::io::AsyncRead for TimedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
            self.activity.changed.notify_one();
        }
        polled
    }
}

impl tokio::io::AsyncWrite for TimedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

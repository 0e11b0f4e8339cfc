//! The application state shared by every request, and how the server is started and stopped.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tower::ServiceExt;

use crate::config::{Config, Derived};
use crate::domain::presence::Presence;
use crate::domain::statistics::StatisticsCache;
use crate::ephemeral::Ephemeral;
use crate::geo::GeoReader;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::time::{Clock, SystemClock};

pub type AppState = Arc<App>;

pub struct App {
    pub config: Config,
    pub derived: Derived,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub ephemeral: Arc<Ephemeral>,
    pub metrics: Metrics,
    pub geo: GeoReader,
    pub started_at: i64,
    /// The public counters, recomputed at most once per `statistics.cache_s`.
    pub statistics: StatisticsCache,
    /// Who is online through the realtime connections (shared by the nodes when Redis is set).
    pub presence: Arc<Presence>,
}

impl App {
    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Result<AppState, String> {
        let derived = config.derive()?;
        let geo = GeoReader::open(&config.geo)?;
        let started_at = clock.now();
        let ephemeral = Arc::new(Ephemeral::new(config.redis_url.as_deref(), &config.redis_prefix)?);
        ephemeral.start();
        let presence = Presence::new(config.presence.clone(), ephemeral.clone());
        let app = Arc::new(App {
            config,
            derived,
            store,
            clock,
            ephemeral,
            metrics: Metrics::default(),
            geo,
            started_at,
            statistics: StatisticsCache::default(),
            presence,
        });
        tokio::spawn(crate::domain::presence::follow_writes(Arc::downgrade(&app)));
        tokio::spawn(crate::domain::presence::follow_other_nodes(Arc::downgrade(&app)));
        if app.ephemeral.uses_redis() {
            tokio::spawn(crate::domain::presence::keep_shared_presence(Arc::downgrade(&app)));
        }
        Ok(app)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// Opens the database named by the configuration and migrates it.
pub async fn open_store(config: &Config) -> Result<Store, String> {
    let url = config.effective_database_url();
    let store = Store::connect(&url, &config.database)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    store.migrate().await.map_err(|e| format!("migration failed: {e}"))?;
    Ok(store)
}

/// `portal serve`: migrate, listen, and stop gracefully on SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<(), String> {
    let store = open_store(&config).await?;
    let bind = config.bind.clone();
    let header_read_timeout = Duration::from_millis(config.http.header_read_timeout_ms);
    let app = App::new(config, store.clone(), Arc::new(SystemClock))?;
    let presence = app.presence.clone();
    if let Some(metrics_bind) = app.config.metrics_bind.clone() {
        let metrics_listener = tokio::net::TcpListener::bind(&metrics_bind)
            .await
            .map_err(|e| format!("cannot listen on {metrics_bind}: {e}"))?;
        let metrics_router = crate::http::metrics_router(app.clone());
        tokio::spawn(async move {
            let _ = axum::serve(metrics_listener, metrics_router).await;
        });
        tracing::info!(bind = %metrics_bind, "metrics listening");
    }
    let sweeper = tokio::spawn(crate::domain::subscriptions::run_sweeper(app.clone()));
    let housekeeping = tokio::spawn(crate::domain::housekeeping::run(app.clone()));
    let router = crate::http::router(app);
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!(bind = %bind, backend = store.backend().name(), "portal listening");
    accept_loop(listener, router, header_read_timeout).await;
    // Upgraded connections are not the HTTP layer's any more: they are closed here, with 1001.
    presence.shutdown(SHUTDOWN_GRACE).await;
    sweeper.abort();
    housekeeping.abort();
    store.close().await;
    tracing::info!("portal stopped");
    Ok(())
}

/// Requests with more header fields than this are refused by the HTTP layer (431).
const MAX_HEADERS: usize = 64;
/// The most a request head (request line and headers) may take; a larger one is refused (431).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long in-flight requests may run after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves connections until SIGINT/SIGTERM, then lets in-flight requests finish. A client that
/// takes longer than `header_read_timeout` to send its request headers is disconnected, so slow
/// clients cannot hold connections.
async fn accept_loop(listener: tokio::net::TcpListener, router: axum::Router, header_read_timeout: Duration) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEAD_BYTES);
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
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after the shutdown grace period were cut off");
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

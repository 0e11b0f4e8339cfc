//! The application state shared by every request, and how the server is started and stopped.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Config, Derived};
use crate::domain::statistics::StatisticsCache;
use crate::ephemeral::Ephemeral;
use crate::geo::GeoReader;
use crate::store::Store;
use crate::time::{Clock, SystemClock};

pub type AppState = Arc<App>;

pub struct App {
    pub config: Config,
    pub derived: Derived,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub ephemeral: Ephemeral,
    pub geo: GeoReader,
    pub started_at: i64,
    /// The public counters, recomputed at most once per `statistics.cache_s`.
    pub statistics: StatisticsCache,
}

impl App {
    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Result<AppState, String> {
        let derived = config.derive()?;
        let geo = GeoReader::open(&config.geo)?;
        let started_at = clock.now();
        Ok(Arc::new(App {
            config,
            derived,
            store,
            clock,
            ephemeral: Ephemeral::default(),
            geo,
            started_at,
            statistics: StatisticsCache::default(),
        }))
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
    let app = App::new(config, store.clone(), Arc::new(SystemClock))?;
    let router = crate::http::router(app);
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!(bind = %bind, backend = store.backend().name(), "portal listening");
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    store.close().await;
    tracing::info!("portal stopped");
    Ok(())
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

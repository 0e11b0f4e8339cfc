//! The application state shared by every request, and how the server is started and stopped.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Config, Derived};
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
}

impl App {
    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Result<AppState, String> {
        let derived = config.derive()?;
        let geo = GeoReader::open(&config.geo)?;
        let started_at = clock.now();
        let ephemeral = Arc::new(Ephemeral::new(config.redis_url.as_deref(), &config.redis_prefix)?);
        ephemeral.start();
        Ok(Arc::new(App {
            config,
            derived,
            store,
            clock,
            ephemeral,
            metrics: Metrics::default(),
            geo,
            started_at,
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

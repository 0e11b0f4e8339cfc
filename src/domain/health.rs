//! The health of the server and what it depends on (70-statistics-health §2): the database answers
//! within two seconds, the live state (Redis, when configured) is reachable, and for staff the
//! pool, cache and build details.

use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::time::Timestamp;

#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    pub status: &'static str,
    pub database: bool,
    pub cache: bool,
    #[schema(value_type = String, format = DateTime)]
    started_at: Timestamp,
    errors: Vec<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct DbStatistics {
    size: u32,
    checked_in: u32,
    checked_out: u32,
    overflow: u32,
    total: u32,
    latency_ms: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct CacheStatistics {
    memory_usage_bytes: Option<u64>,
    total_keys: Option<u64>,
    connected_clients: Option<u64>,
    uptime_seconds: Option<u64>,
    evicted_keys: Option<u64>,
    hit_rate: Option<f64>,
    total_commands_processed: Option<u64>,
    latency_ms: Option<f64>,
}

/// This node's browser machines (92-browser-rooms §5.5); never changes `status`.
#[derive(Serialize, ToSchema)]
pub struct BrowserHealth {
    /// `off`, `process` or `docker`.
    engine: &'static str,
    available: bool,
    machines: i64,
    max_machines: u32,
    viewers: i64,
}

#[derive(Serialize, ToSchema)]
pub struct FullHealthReport {
    #[serde(flatten)]
    basic: HealthReport,
    db_statistics: DbStatistics,
    cache_statistics: CacheStatistics,
    browser: BrowserHealth,
    source_hash: &'static str,
}

/// The basic report and the database's answer time in milliseconds (when it answered).
pub async fn check(app: &App) -> (HealthReport, Option<f64>) {
    let started = Instant::now();
    let database = matches!(
        tokio::time::timeout(Duration::from_secs(2), app.store.ping()).await,
        Ok(Ok(()))
    );
    let latency = database.then(|| started.elapsed().as_secs_f64() * 1000.0);
    let cache = app.ephemeral.healthy().await;
    let mut errors = Vec::new();
    if !database {
        errors.push("database unavailable");
    }
    if !cache {
        errors.push("cache unavailable");
    }
    let status = match (database, cache) {
        (false, _) => "unhealthy",
        (true, false) => "degraded",
        (true, true) => "healthy",
    };
    (
        HealthReport {
            status,
            database,
            cache,
            started_at: Timestamp(app.started_at),
            errors,
        },
        latency,
    )
}

async fn browser_health(app: &App) -> BrowserHealth {
    let (machines, viewers) = crate::domain::browser::node_load(app).await;
    BrowserHealth {
        engine: app.browser.engine.kind.as_str(),
        available: crate::domain::browser::engine_available(app).await,
        machines,
        max_machines: app.config.browser.max_machines,
        viewers,
    }
}

/// The full report for staff, and whether the server is healthy (the database answers).
pub async fn full(app: &App) -> (FullHealthReport, bool) {
    let (basic, latency) = check(app).await;
    let pool = app.store.pool_stats();
    let cache = if basic.cache { app.ephemeral.stats().await } else { None };
    let healthy = basic.database;
    let report = FullHealthReport {
        db_statistics: DbStatistics {
            size: pool.size,
            checked_in: pool.checked_in,
            checked_out: pool.checked_out,
            overflow: 0,
            total: pool.checked_in + pool.checked_out,
            latency_ms: latency,
        },
        cache_statistics: CacheStatistics {
            memory_usage_bytes: cache.as_ref().map(|c| c.memory_usage_bytes),
            total_keys: cache.as_ref().map(|c| c.total_keys),
            connected_clients: cache.as_ref().map(|c| c.connected_clients),
            uptime_seconds: cache.as_ref().map(|c| c.uptime_seconds),
            evicted_keys: cache.as_ref().map(|c| c.evicted_keys),
            hit_rate: cache.as_ref().map(|c| c.hit_rate),
            total_commands_processed: cache.as_ref().map(|c| c.total_commands_processed),
            latency_ms: cache.as_ref().map(|c| c.latency_ms),
        },
        source_hash: env!("PORTAL_SOURCE_HASH"),
        browser: browser_health(app).await,
        basic,
    };
    (report, healthy)
}

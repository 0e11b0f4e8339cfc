//! `GET /health` and `GET /v1/admin/health` (70-statistics-health §2).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, AppState};
use crate::error::ApiError;
use crate::http::caller::RequireAdmin;
use crate::time::Timestamp;

pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_health))
}

#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    status: &'static str,
    database: bool,
    cache: bool,
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

#[derive(Serialize, ToSchema)]
pub struct FullHealthReport {
    #[serde(flatten)]
    basic: HealthReport,
    db_statistics: DbStatistics,
    cache_statistics: CacheStatistics,
    source_hash: &'static str,
}

async fn check(app: &App) -> (HealthReport, Option<f64>) {
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

/// Unhealthy answers are 503 with the error fields merged into the report.
fn answer<T: Serialize>(healthy: bool, report: T) -> Response {
    let mut body = serde_json::to_value(report).unwrap_or(Value::Null);
    if healthy {
        return Json(body).into_response();
    }
    let error = ApiError::Unavailable;
    if let Value::Object(map) = &mut body {
        map.extend(error.body_fields());
    }
    let mut response = (error.status(), Json(body)).into_response();
    response
        .extensions_mut()
        .insert(crate::http::correlation::RenderedError);
    response
}

/// Liveness and dependency status.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = HealthReport), (status = 503, description = "unhealthy: the report plus the error fields")))]
async fn health(State(app): State<AppState>) -> Response {
    let (report, _) = check(&app).await;
    answer(report.database, report)
}

/// The same plus pool, cache and build details (Admin+).
#[utoipa::path(get, path = "/v1/admin/health", tag = "health", security(("session" = [])),
    responses((status = 200, body = FullHealthReport), (status = 401, body = crate::http::openapi::ErrorBody),
              (status = 403, body = crate::http::openapi::ErrorBody), (status = 503, body = crate::http::openapi::ErrorBody)))]
async fn admin_health(State(app): State<AppState>, _admin: RequireAdmin) -> Response {
    let (basic, latency) = check(&app).await;
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
        basic,
    };
    answer(healthy, report)
}

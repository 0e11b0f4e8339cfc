//! `GET /health` and `GET /v1/admin/health` (70-statistics-health §2).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::AppState;
use crate::domain::health::{self, FullHealthReport, HealthReport};
use crate::error::ApiError;
use crate::http::caller::RequireAdmin;

pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_health))
}

/// Unhealthy answers are 503 with the error fields merged into the report.
fn answer<T: Serialize>(healthy: bool, report: T) -> Response {
    let mut body = serde_json::to_value(report).unwrap_or(Value::Null);
    if healthy {
        return Json(body).into_response();
    }
    let error = ApiError::Unavailable;
    if let Value::Object(map) = &mut body {
        map.extend(crate::http::error::body_fields(&error));
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
    let (report, _) = health::check(&app).await;
    answer(report.database, report)
}

/// The same plus pool, cache and build details (Admin+).
#[utoipa::path(get, path = "/v1/admin/health", tag = "health", security(("session" = [])),
    responses((status = 200, body = FullHealthReport), (status = 401, body = crate::http::openapi::ErrorBody),
              (status = 403, body = crate::http::openapi::ErrorBody), (status = 503, body = crate::http::openapi::ErrorBody)))]
async fn admin_health(State(app): State<AppState>, _admin: RequireAdmin) -> Response {
    let (report, healthy) = health::full(&app).await;
    answer(healthy, report)
}

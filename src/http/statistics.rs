//! `/v1/statistics/…` (70-statistics-health §1): the only answers a client may cache.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::statistics::{self, StatisticsBots, StatisticsChats, StatisticsUsers};
use crate::error::ApiResult;
use crate::http::caller::Public;
use crate::http::openapi::ErrorBody;
use crate::time::{Timestamp, MICROS_PER_SECOND};

pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(user_statistics))
        .routes(routes!(bot_statistics))
        .routes(routes!(chat_statistics))
        .routes(routes!(app_statistics))
}

/// The answer with `Cache-Control: private, max-age=<statistics.cache_s>`, since a count may be
/// that old anyway.
fn cacheable<T: Serialize>(app: &App, value: T) -> Response {
    let mut response = Json(value).into_response();
    let policy = format!("private, max-age={}", app.config.statistics.cache_s);
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CACHE_CONTROL, policy);
    }
    response
}

/// User counts by effective subscription tier.
#[utoipa::path(get, path = "/v1/statistics/users", tag = "statistics", security((), ("session" = []), ("api_key" = [])),
    responses((status = 200, body = StatisticsUsers), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn user_statistics(State(app): State<AppState>, _caller: Public) -> ApiResult<Response> {
    Ok(cacheable(&app, statistics::users(&app).await?))
}

/// Bot counts by verification and activity.
#[utoipa::path(get, path = "/v1/statistics/bots", tag = "statistics", security((), ("session" = []), ("api_key" = [])),
    responses((status = 200, body = StatisticsBots), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bot_statistics(State(app): State<AppState>, _caller: Public) -> ApiResult<Response> {
    Ok(cacheable(&app, statistics::bots(&app).await?))
}

/// Chat counts by visibility.
#[utoipa::path(get, path = "/v1/statistics/chats", tag = "statistics", security((), ("session" = []), ("api_key" = [])),
    responses((status = 200, body = StatisticsChats), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn chat_statistics(State(app): State<AppState>, _caller: Public) -> ApiResult<Response> {
    Ok(cacheable(&app, statistics::chats(&app).await?))
}

#[derive(Serialize, ToSchema)]
pub struct AppStatistics {
    application_name: String,
    version: &'static str,
    #[schema(value_type = String, format = DateTime)]
    started_at: Timestamp,
    uptime_seconds: i64,
    users: StatisticsUsers,
    bots: StatisticsBots,
    chats: StatisticsChats,
}

/// Name, version, uptime and every count.
#[utoipa::path(get, path = "/v1/statistics/app", tag = "statistics", security((), ("session" = []), ("api_key" = [])),
    responses((status = 200, body = AppStatistics), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn app_statistics(State(app): State<AppState>, _caller: Public) -> ApiResult<Response> {
    let answer = AppStatistics {
        application_name: app.config.application_name.clone(),
        version: env!("CARGO_PKG_VERSION"),
        started_at: Timestamp(app.started_at),
        uptime_seconds: ((app.now() - app.started_at) / MICROS_PER_SECOND).max(0),
        users: statistics::users(&app).await?,
        bots: statistics::bots(&app).await?,
        chats: statistics::chats(&app).await?,
    };
    Ok(cacheable(&app, answer))
}

//! The HTTP surface: one router per rate tier, each behind the credential guard, merged into one
//! application with the edge middleware around everything.

use std::panic::AssertUnwindSafe;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::FutureExt;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::domain::app::AppState;
use crate::error::ApiError;

mod auth;
pub mod body;
mod bots;
mod browser;
mod browser_relay;
pub mod caller;
mod chats;
pub mod correlation;
mod cors;
pub mod error;
mod health;
mod match_staff;
mod matchmaking;
mod moderation;
mod notifications;
mod openapi;
mod portal;
mod realtime;
mod statistics;
mod subscriptions;
mod transport;
pub mod users;
pub mod web;
mod websocket;

use caller::{guard, Tier};

fn tier(app: &AppState, tier: Tier, routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    routes.route_layer(from_fn_with_state((app.clone(), tier), guard))
}

/// The routes and the OpenAPI document they describe.
pub fn api(app: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(tier(app, Tier::Health, health::public_routes()))
        .merge(tier(app, Tier::Login, auth::login_routes()))
        .merge(tier(app, Tier::Bot, auth::bot_routes()))
        .merge(tier(app, Tier::Bot, bots::bot_routes()))
        .merge(tier(app, Tier::Public, users::public_routes()))
        .merge(tier(app, Tier::Public, bots::public_routes()))
        .merge(tier(app, Tier::Public, statistics::public_routes()))
        .merge(tier(app, Tier::Auth, users::auth_routes()))
        .merge(tier(app, Tier::Auth, chats::portal_routes()))
        .merge(tier(app, Tier::Auth, bots::auth_routes()))
        .merge(tier(app, Tier::Auth, notifications::auth_routes()))
        .merge(tier(app, Tier::Auth, portal::routes()))
        .merge(tier(app, Tier::Auth, realtime::routes()))
        .merge(tier(app, Tier::Auth, transport::routes()))
        .merge(tier(app, Tier::Auth, matchmaking::routes()))
        .merge(tier(app, Tier::Auth, browser::portal_routes()))
        .merge(tier(app, Tier::Admin, health::admin_routes()))
        .merge(tier(app, Tier::Admin, chats::admin_routes()))
        .merge(tier(app, Tier::Admin, browser::admin_routes()))
        .merge(tier(app, Tier::Admin, moderation::routes()))
        .merge(tier(app, Tier::Admin, match_staff::routes()))
        .merge(tier(app, Tier::Admin, subscriptions::routes()))
        .merge(tier(app, Tier::Admin, bots::admin_routes()))
        .merge(tier(app, Tier::Admin, notifications::admin_routes()))
        .split_for_parts();
    (
        routes,
        openapi::with_configured_platforms(document, &app.config.platforms),
    )
}

pub fn router(app: AppState) -> Router {
    let (mut routes, document) = api(&app);
    if app.config.metrics.bind.is_none() {
        routes = routes.route("/metrics", get(allowed_metrics));
    }
    let routes = routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .merge(web::routes())
        .merge(browser_relay::internal_routes(&app))
        .fallback(|| async { ApiError::NotFound })
        .with_state(app.clone());
    behind_edge(app, routes)
}

/// `routes` behind the edge middleware: the API's, and a test's own.
pub fn behind_edge(app: AppState, routes: Router) -> Router {
    routes.layer(from_fn_with_state(app, edge))
}

/// What every request passes through, in order: its correlation id, CORS, the write runtime, a
/// handler's panic, the contract's body for the framework's own errors, default headers and the
/// log line. One middleware rather than one each, because axum clones a route's whole stack of
/// middleware for every request: five layers cost a cached read 23–25 µs of CPU, one 18–19
/// (bench/README.md).
async fn edge(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let trace = correlation::Trace::begin(&request);
    let cors = cors::Cors::of(&app, &request);
    let mut response = trace
        .scope(async {
            let mut response = if head_too_large(&request) {
                ApiError::HeadersTooLarge.into_response()
            } else if cors.is_preflight() {
                cors.preflight_answer()
            } else {
                // A panicking handler answers 500 like any internal error; the server goes on.
                AssertUnwindSafe(on_write_runtime(&app, request, next))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| ApiError::internal("a handler panicked").into_response())
            };
            cors.decorate(&mut response);
            correlation::normalize_framework_error(response)
        })
        .await;
    // Every answer is `no-store` unless its handler chose a policy (only the statistics do,
    // 00-conventions §1.4).
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    trace.finish(&app, &mut response);
    response
}

/// Header fields a request may carry, and bytes its head may take (00-conventions §10.1). The HTTP
/// layer is set to allow somewhat more, so that a head over these gets the contract's JSON 431.
pub const MAX_HEADERS: usize = 64;
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

fn head_too_large(request: &Request) -> bool {
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        return true;
    }
    // The request line and each field as written on the wire: name, ": ", value, CRLF.
    let uri = request.uri();
    let target = uri.authority().map_or(0, |a| a.as_str().len()) + uri.path_and_query().map_or(1, |p| p.as_str().len());
    let line = request.method().as_str().len() + target + 12;
    let fields: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    line + fields > MAX_HEAD_BYTES
}

/// A `POST` (the API's only writing method) is handled whole on the store's write runtime where
/// the backend has one, so its statements never wait on a hand-off between CPUs (`store::write_thread`).
async fn on_write_runtime(app: &AppState, request: Request, next: Next) -> Response {
    match app.store.write_runtime() {
        Some(runtime) if request.method() == Method::POST => runtime
            .spawn(correlation::carried(next.run(request)))
            .await
            .unwrap_or_else(|e| ApiError::internal(e).into_response()),
        _ => next.run(request).await,
    }
}

/// `/metrics` alone, for `metrics.bind`.
pub fn metrics_router(app: AppState) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(app)
}

/// `/metrics` on the API listener: only for clients in `metrics.allowed_ips`; to anyone else the
/// route does not exist (00-conventions §10.2).
async fn allowed_metrics(State(app): State<AppState>, request: Request) -> Response {
    let client = caller::client_ip_of(&app, &request);
    if app.derived.metrics_allowed.iter().any(|net| net.contains(&client)) {
        metrics(State(app)).await.into_response()
    } else {
        ApiError::NotFound.into_response()
    }
}

/// Prometheus text format.
async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let body = app.metrics.render(&app.store.pool_stats());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

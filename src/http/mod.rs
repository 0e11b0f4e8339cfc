//! The HTTP surface: one router per rate tier, each behind the credential guard, merged into one
//! application with the correlation-id middleware around everything.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::from_fn;
use axum::middleware::from_fn_with_state;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;
use crate::error::ApiError;

mod auth;
pub mod body;
mod bots;
pub mod caller;
pub mod correlation;
mod health;
mod openapi;
mod statistics;
pub mod users;

use caller::{guard, Tier};

fn tier(app: &AppState, tier: Tier, routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    routes.route_layer(from_fn_with_state((app.clone(), tier), guard))
}

/// The routes and the OpenAPI document they describe.
pub fn api(app: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(tier(app, Tier::Health, health::public_routes()))
        .merge(tier(app, Tier::Login, auth::login_routes()))
        .merge(tier(app, Tier::Bot, auth::bot_routes()))
        .merge(tier(app, Tier::Bot, bots::bot_routes()))
        .merge(tier(app, Tier::Public, users::public_routes()))
        .merge(tier(app, Tier::Public, bots::public_routes()))
        .merge(tier(app, Tier::Public, statistics::public_routes()))
        .merge(tier(app, Tier::Auth, users::auth_routes()))
        .merge(tier(app, Tier::Auth, bots::auth_routes()))
        .merge(tier(app, Tier::Admin, health::admin_routes()))
        .merge(tier(app, Tier::Admin, bots::admin_routes()))
        .split_for_parts()
}

pub fn router(app: AppState) -> Router {
    let (routes, document) = api(&app);
    routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .fallback(|| async { ApiError::NotFound })
        .with_state(app)
        .layer(CatchPanicLayer::new())
        .layer(from_fn(correlation::middleware))
        .layer(from_fn(no_store_by_default))
}

/// Every answer is `Cache-Control: no-store` unless its handler chose a policy (only the
/// statistics do, 00-conventions §1.4).
async fn no_store_by_default(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

//! The ceiling: the least an axum server can do for an authenticated JSON read on this machine.
//! It checks that a `psession` cookie is present and answers a fixed four-field object, so every
//! portal figure can be read as a share of what the framework, the kernel and the load tool allow.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Card {
    id: i64,
    username: &'static str,
    avatar_url: Option<&'static str>,
    subscription_tier: i64,
}

async fn answer(headers: HeaderMap) -> Response {
    let has_session = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|pair| pair.trim().starts_with("psession="));
    if !has_session {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(Card {
        id: 1,
        username: "ceiling",
        avatar_url: None,
        subscription_tier: 0,
    })
    .into_response()
}

#[tokio::main]
async fn main() {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    println!("{}", listener.local_addr().expect("local address"));
    let app = Router::new().fallback(get(answer));
    axum::serve(listener, app).await.expect("serve");
}

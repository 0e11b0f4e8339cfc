//! The correlation id of every request, the one log line per request, and the rewriting of
//! framework rejections (unknown route, wrong method, …) into the JSON error body.

use std::fmt;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::domain::app::AppState;
use crate::error::ApiError;

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The id of the request being handled; empty outside a request.
pub fn current() -> String {
    CORRELATION_ID.try_with(|id| id.clone()).unwrap_or_default()
}

/// `future` with the current request's id, for work handed to another task.
pub fn carried<F: std::future::Future>(future: F) -> impl std::future::Future<Output = F::Output> {
    CORRELATION_ID.scope(current(), future)
}

/// Marks responses whose body is already the JSON error, so it is not rewritten.
#[derive(Clone, Copy)]
pub struct RenderedError;

pub const CORRELATION_ID_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

fn from_headers(headers: &HeaderMap) -> Option<String> {
    [CORRELATION_ID_HEADER, REQUEST_ID_HEADER].iter().find_map(|name| {
        let value = headers.get(name)?.to_str().ok()?;
        let parsed = Uuid::try_parse(value).ok()?;
        // Only the canonical hyphenated 36-character form is accepted.
        (value.len() == 36).then(|| parsed.hyphenated().to_string())
    })
}

/// One request from its arrival to its log line: its correlation id, route and start time.
pub struct Trace {
    id: String,
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
}

impl Trace {
    pub fn begin(request: &Request) -> Trace {
        Trace {
            // A random (version 4) id from the thread's generator: no system call per request.
            id: from_headers(request.headers())
                .unwrap_or_else(|| uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string()),
            started: Instant::now(),
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
        }
    }

    /// Runs `future` with this request's id as the current one (`current`).
    pub async fn scope<F: std::future::Future>(&self, future: F) -> F::Output {
        CORRELATION_ID.scope(self.id.clone(), future).await
    }

    /// Stamps the answer with the id and the headers every answer carries, counts it, and writes
    /// the request's log line.
    pub fn finish(self, app: &AppState, response: &mut Response) {
        if self.method == Method::HEAD {
            *response.body_mut() = Body::empty();
        }
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&self.id) {
            headers.insert(CORRELATION_ID_HEADER, value);
        }
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        let matched = self.route.as_ref().map(MatchedPath::as_str);
        let route = matched.unwrap_or("<unmatched>");
        let status = response.status().as_u16();
        let elapsed = self.started.elapsed();
        app.metrics
            .request(self.method.as_str(), matched, status, elapsed.as_secs_f64());
        tracing::info!(
            target: "portal::request",
            method = crate::metrics::method_label(self.method.as_str()),
            route = %route,
            status,
            latency_ms = %Millis(elapsed),
            correlation_id = %self.id,
            "request"
        );
    }
}

/// Milliseconds with three decimals. A raw f64 would print binary noise such as
/// 0.014036000000000002, and formatting a float to three places cost each request's log line
/// more than these two integers do.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.as_micros();
        write!(out, "{}.{:03}", micros / 1000, micros % 1000)
    }
}

/// Responses made by the framework (not by `ApiError`) carry plain text; give them the contract's
/// body with the code that matches their status.
pub fn normalize_framework_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<RenderedError>().is_some()
    {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => ApiError::InvalidJson,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable,
        _ => ApiError::Internal,
    };
    let (parts, _) = response.into_parts();
    let mut rebuilt = error.into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.headers_mut().append(name.clone(), value.clone());
        }
    }
    rebuilt
}

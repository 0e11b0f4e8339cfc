//! CORS (00-conventions §1.7): off unless `cors.allowed_origins` lists the origin. Preflights are
//! answered here, before credentials and rate limits.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::app::AppState;

const EXPOSED: &str =
    "X-Correlation-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-Total-Count";

/// What CORS makes of one request: whether its origin is allowed, and whether it is a preflight.
pub struct Cors {
    allowed_origin: Option<HeaderValue>,
    preflight: bool,
}

impl Cors {
    pub fn of(app: &AppState, request: &Request) -> Cors {
        let origin = request.headers().get(header::ORIGIN);
        let allowed = origin
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| app.config.cors.allowed_origins.iter().any(|a| a == o));
        Cors {
            allowed_origin: origin.filter(|_| allowed).cloned(),
            preflight: request.method() == Method::OPTIONS
                && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD),
        }
    }

    /// A preflight is answered here, before credentials and rate limits.
    pub fn is_preflight(&self) -> bool {
        self.preflight
    }

    pub fn preflight_answer(&self) -> Response {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if self.allowed_origin.is_some() {
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Content-Type, X-API-Key, X-Correlation-ID, X-Request-ID"),
            );
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
        response
    }

    /// The headers that let an allowed origin read the answer.
    pub fn decorate(&self, response: &mut Response) {
        let Some(origin) = &self.allowed_origin else { return };
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

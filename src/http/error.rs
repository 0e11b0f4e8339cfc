//! `ApiError` as an answer: the contract's JSON body with the request's correlation id, its
//! `Retry-After`, and the mark that keeps the edge from rewriting it.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::http::correlation;

/// The error fields of the body; health reports merge them into their own body.
pub fn body_fields(error: &ApiError) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("error".into(), json!(error.to_string()));
    body.insert("code".into(), json!(error.code()));
    body.insert("correlation_id".into(), json!(correlation::current()));
    match error {
        ApiError::Validation { field, .. } => {
            body.insert("field".into(), json!(field));
        }
        ApiError::AccountBanned { expires_at } | ApiError::AccountTimedOut { expires_at } => {
            body.insert("expires_at".into(), json!(expires_at.map(crate::time::Timestamp)));
        }
        ApiError::ChatSlotLimit { limit } => {
            body.insert("limit".into(), json!(limit));
        }
        _ => {}
    }
    body
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(Value::Object(body_fields(&self)))).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(correlation::RenderedError);
        if matches!(self, ApiError::BodyTimedOut) {
            response.extensions_mut().insert(CloseConnection);
        }
        response
    }
}

/// Marks an answer that must not be written: the server drops its connection instead.
#[derive(Debug, Clone, Copy)]
pub struct CloseConnection;

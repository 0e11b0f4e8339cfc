//! `ApiError` as an answer: the contract's JSON body with the request's correlation id, its
//! `Retry-After`, and the mark that keeps the edge from rewriting it.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::http::correlation;
use crate::time::Timestamp;

/// The body of every non-2xx answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: String,
    code: String,
    correlation_id: String,
    /// Only with `ERR_VALIDATION` and `ERR_MATCH_UNSUPPORTED_INTEREST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    field: Option<Option<String>>,
    /// Only with `ERR_ACCOUNT_BANNED`, `ERR_ACCOUNT_TIMED_OUT`, `ERR_HARD_MUTED` and
    /// `ERR_STRANGER_BLOCKED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<Option<Timestamp>>,
    /// Only with `ERR_CHAT_SLOT_LIMIT`, `ERR_MATCH_SLOT_LIMIT` and `ERR_BROWSER_USER_LIMIT`: the
    /// caller's limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<i64>,
    /// Only with `ERR_CHAT_MUTED`: whole seconds of the mute left, `0` = indefinite.
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
    /// Only with `ERR_EPOCH_MISMATCH`: the chat's current epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<i64>,
}

impl ErrorBody {
    fn of(error: &ApiError) -> Self {
        let mut body = ErrorBody {
            error: error.to_string(),
            code: error.code().to_owned(),
            correlation_id: correlation::current(),
            field: None,
            expires_at: None,
            limit: None,
            ttl: None,
            epoch: None,
        };
        match error {
            ApiError::Validation { field, .. } => body.field = Some(field.clone()),
            ApiError::UnsupportedInterest { field, .. } => body.field = Some(Some(field.clone())),
            ApiError::AccountBanned { expires_at }
            | ApiError::AccountTimedOut { expires_at }
            | ApiError::HardMuted { expires_at }
            | ApiError::StrangerBlocked { expires_at } => {
                body.expires_at = Some(expires_at.map(Timestamp));
            }
            ApiError::ChatSlotLimit { limit }
            | ApiError::MatchSlotLimit { limit }
            | ApiError::BrowserUserLimit { limit } => body.limit = Some(*limit),
            ApiError::ChatMuted { ttl } => body.ttl = Some(*ttl),
            ApiError::EpochMismatch { epoch } => body.epoch = Some(*epoch),
            _ => {}
        }
        body
    }
}

/// The error fields of the body; health reports merge them into their own body.
pub fn body_fields(error: &ApiError) -> Map<String, Value> {
    match serde_json::to_value(ErrorBody::of(error)) {
        Ok(Value::Object(body)) => body,
        _ => Map::new(),
    }
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

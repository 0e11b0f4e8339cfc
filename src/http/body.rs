//! Request input: the JSON object body (size limit, media type, duplicate keys) and the typed
//! bodies read from it, query strings and path parameters, with the messages of 00-conventions §5.2.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::Duration;

use axum::body::Body as RawBody;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::domain::app::{App, AppState};
use crate::domain::input::{check_range, invalid_characters, Fields};
use crate::error::{ApiError, ApiResult};
use crate::time::Timestamp;

pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
pub const LARGE_BODY_LIMIT: usize = 1024 * 1024;

/// A JSON request body that is its own OpenAPI schema (it derives `utoipa::ToSchema`, with the
/// rules `parse` enforces as `#[schema(...)]` constraints) and its own parser.
pub trait RequestBody: Sized {
    /// Reads the fields in the order the endpoint's table lists them, so the first invalid one is
    /// the one reported. `app` gives what some rules need: the configured platforms, the time.
    fn parse(fields: &mut Fields, app: &App) -> ApiResult<Self>;
}

/// A body field the contract has checked and then ignored: it is in the schema (as the
/// `value_type` its `#[schema]` names), and nothing of it is kept.
pub type CheckedOnly<T> = PhantomData<T>;

/// A POST body read as one JSON object (an empty body reads as `{}`) and parsed into `T`.
///
/// The order of checks (00-conventions §4) puts the body's transport (step 7) before the
/// validation of path parameters, and those before the body's fields (step 8), so between reading
/// the object and parsing it the route's id parameters (every path parameter named `…_id` on a
/// route with a body) are checked as the handler checks them with `parse_path_id`.
pub struct Body<T, const LIMIT: usize = DEFAULT_BODY_LIMIT>(pub T);

impl<T: RequestBody, const LIMIT: usize> FromRequest<AppState> for Body<T, LIMIT> {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let timeout = Duration::from_secs(app.config.server.body_read_timeout_s);
        let map = read_object(&parts.headers, body, LIMIT, timeout).await?;
        if let Ok(params) = RawPathParams::from_request_parts(&mut parts, app).await {
            for (name, value) in &params {
                if name.ends_with("_id") {
                    parse_path_id(name, value)?;
                }
            }
        }
        T::parse(&mut Fields(map), app).map(Body)
    }
}

async fn read_object(
    headers: &HeaderMap,
    body: RawBody,
    limit: usize,
    timeout: Duration,
) -> Result<Map<String, Value>, ApiError> {
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    // The header read timeout ends where the body begins; without this a client could send its
    // headers and then hold the connection by trickling the body, or never sending it.
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| ApiError::BodyTimedOut)?;
    let bytes = collected.map_err(|err| {
        if err.downcast_ref::<LengthLimitError>().is_some() {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidJson
        }
    })?;
    let bytes = bytes.to_bytes();
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    if !is_json_media_type(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let value = StrictValue
        .deserialize(&mut deserializer)
        .map_err(|_| ApiError::InvalidJson)?;
    deserializer.end().map_err(|_| ApiError::InvalidJson)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::Validation {
            field: None,
            message: "body must be a JSON object".into(),
        }),
    }
}

fn is_json_media_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserializes JSON into a `Value`, refusing an object that names the same key twice.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or(Value::Null))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(StrictValue)?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate key"));
            }
        }
        Ok(Value::Object(map))
    }
}

/// The query string as a map; a parameter given twice keeps its last value.
#[derive(Debug, Default)]
pub struct Query(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
        if let Some((name, _)) = pairs.iter().find(|(_, value)| value.contains('\0')) {
            return Err(invalid_characters(name));
        }
        Ok(Query(pairs.into_iter().collect()))
    }
}

impl Query {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(text) => parse_query_int(text)
                .map(Some)
                .ok_or_else(|| ApiError::validation(name, format!("{name} must be an integer"))),
        }
    }

    pub fn i64_in(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let value = self.i64(name)?.unwrap_or(default);
        check_range(name, value, min, max)
    }

    /// An id filter: a positive integer when present.
    pub fn id(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.i64(name)? {
            Some(v) if v < 1 => Err(ApiError::validation(name, format!("{name} must be at least 1"))),
            other => Ok(other),
        }
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        Ok(self.opt_bool(name)?.unwrap_or(default))
    }

    /// A boolean filter: `None` when absent.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name).map(String::as_str) {
            None => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(_) => Err(ApiError::validation(name, format!("{name} must be a boolean"))),
        }
    }

    pub fn timestamp(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(text) => Timestamp::parse(text)
                .map(Some)
                .ok_or_else(|| ApiError::validation(name, format!("{name} must be a valid timestamp"))),
        }
    }

    /// `offset` and `limit` with the endpoint's defaults and ranges.
    pub fn page(&self, default_limit: i64, max_limit: i64, max_offset: i64) -> Result<Page, ApiError> {
        let offset = self.i64_in("offset", 0, 0, max_offset)?;
        let limit = self.i64_in("limit", default_limit, 1, max_limit)?;
        Ok(Page { offset, limit })
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

fn parse_query_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A path id: decimal digits naming a positive 64-bit integer.
pub fn parse_path_id(name: &str, raw: &str) -> Result<i64, ApiError> {
    parse_query_int(raw)
        .filter(|v| *v >= 1)
        .ok_or_else(|| ApiError::validation(name, format!("{name} must be a positive integer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let parse = |text: &str| {
            let mut de = serde_json::Deserializer::from_str(text);
            StrictValue.deserialize(&mut de).is_ok()
        };
        assert!(parse(r#"{"a":1,"b":{"c":2}}"#));
        assert!(!parse(r#"{"a":1,"a":2}"#));
        assert!(!parse(r#"{"a":[{"x":1,"x":1}]}"#));
    }

    #[test]
    fn path_ids_must_be_positive_integers() {
        assert_eq!(parse_path_id("user_id", "42").unwrap(), 42);
        for bad in ["0", "-1", "abc", "99999999999999999999", "", "1.0", "+1"] {
            assert!(parse_path_id("user_id", bad).is_err(), "{bad}");
        }
    }
}

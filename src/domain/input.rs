//! Reading request input with the contract's validation messages (00-conventions §5.2): named
//! fields of a JSON object, text lengths and alphabets, integer ranges. The HTTP layer extracts the
//! object; the rules that check it are the domain's, shared with the command-line tool.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Reads named fields out of a JSON object with the contract's validation messages. Callers read
/// fields in the order the endpoint's table lists them, so the first failure is the one reported.
#[derive(Debug, Default)]
pub struct Fields(pub Map<String, Value>);

fn type_error(name: &str, kind: &str) -> ApiError {
    ApiError::validation(name, format!("{name} must be {kind}"))
}

impl Fields {
    fn present(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.present(name).is_some()
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A string field. NUL characters are refused here for every field: no field may hold one,
    /// and PostgreSQL cannot store them.
    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => storable(name, s).map(Some),
            Some(_) => Err(type_error(name, "a string")),
        }
    }

    pub fn req_str(&self, name: &str) -> Result<&str, ApiError> {
        self.opt_str(name)?.ok_or_else(|| required(name))
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(_) => Err(type_error(name, "an integer")),
        }
    }

    pub fn req_i64(&self, name: &str) -> Result<i64, ApiError> {
        self.opt_i64(name)?.ok_or_else(|| required(name))
    }

    /// A required id or counter: an integer of at least 1.
    pub fn req_positive(&self, name: &str) -> Result<i64, ApiError> {
        self.opt_positive(name)?.ok_or_else(|| required(name))
    }

    /// An optional id or counter: an integer of at least 1 when present.
    pub fn opt_positive(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.opt_i64(name)? {
            Some(value) if value < 1 => Err(ApiError::validation(name, format!("{name} must be at least 1"))),
            other => Ok(other),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(name, "a boolean")),
        }
    }

    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(type_error(name, "a number")),
        }
    }
}

/// A string field as read: no field may hold a NUL character, which PostgreSQL cannot store.
pub fn storable<'a>(name: &str, text: &'a str) -> Result<&'a str, ApiError> {
    if text.contains('\0') {
        Err(invalid_characters(name))
    } else {
        Ok(text)
    }
}

pub fn invalid_characters(name: &str) -> ApiError {
    ApiError::validation(name, format!("{name} contains invalid characters"))
}

/// Names a validation error of a nested object by its full path: reading `count` out of
/// `commands[3]` reports `commands[3].count`.
pub fn nested(prefix: &str, err: ApiError) -> ApiError {
    match err {
        ApiError::Validation {
            field: Some(field),
            message,
        } => ApiError::Validation {
            field: Some(format!("{prefix}.{field}")),
            message: format!("{prefix}.{message}"),
        },
        other => other,
    }
}

pub fn required(name: &str) -> ApiError {
    ApiError::validation(name, format!("{name} is required"))
}

/// Checks a string's length in characters and its alphabet.
pub fn check_text(
    name: &str,
    value: &str,
    min: usize,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ApiError> {
    let len = value.chars().count();
    if len < min {
        return Err(ApiError::validation(
            name,
            format!("{name} must be at least {min} characters"),
        ));
    }
    if len > max {
        return Err(ApiError::validation(
            name,
            format!("{name} must be at most {max} characters"),
        ));
    }
    if !value.chars().all(allowed) {
        return Err(ApiError::validation(
            name,
            format!("{name} contains invalid characters"),
        ));
    }
    Ok(())
}

pub fn check_range(name: &str, value: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    if value < min || value > max {
        return Err(ApiError::validation(
            name,
            format!("{name} must be between {min} and {max}"),
        ));
    }
    Ok(value)
}

/// Free text is trimmed before validation; a required one that is empty fails its minimum.
pub fn trimmed_text(name: &str, value: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let trimmed = value.trim();
    check_text(name, trimmed, min, max, |_| true)?;
    Ok(trimmed.to_owned())
}

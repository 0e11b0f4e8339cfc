//! The document's frame; every path and schema comes from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Portal API", description = "Code logins, sessions, a rank ladder, moderation, subscriptions, bots and chats."),
    modifiers(&Credentials),
    components(schemas(crate::http::openapi::ErrorBody))
)]
pub struct ApiDoc;

struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("psession"))),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The body of every non-2xx answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: String,
    code: String,
    correlation_id: String,
    /// Only with `ERR_VALIDATION`.
    field: Option<String>,
    /// Only with `ERR_ACCOUNT_BANNED` and `ERR_ACCOUNT_TIMED_OUT`.
    expires_at: Option<String>,
    /// Only with `ERR_CHAT_SLOT_LIMIT`: the caller's chat-slot limit.
    limit: Option<i64>,
}

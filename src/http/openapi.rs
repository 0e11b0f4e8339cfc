//! The document's frame; every path and schema comes from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use crate::http::error::ErrorBody;

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

/// A platform group id: a string of 1–64 characters, or a non-negative integer.
pub struct GroupId;

impl utoipa::PartialSchema for GroupId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some(r"^[^\u0000]*$"));
        let number = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
        OneOfBuilder::new().item(text).item(number).into()
    }
}

impl utoipa::ToSchema for GroupId {}

/// The document with every request body field named `platform` limited to the configured
/// platforms, the list the parsers check against: known only at run time, so it is set here.
pub fn with_configured_platforms(document: utoipa::openapi::OpenApi, platforms: &[String]) -> utoipa::openapi::OpenApi {
    let Ok(mut value) = serde_json::to_value(&document) else {
        return document;
    };
    let bodies: Vec<String> = value["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(|path| path.as_object())
        .flat_map(|operations| operations.values())
        .filter_map(|operation| operation.pointer("/requestBody/content/application~1json/schema/$ref"))
        .filter_map(|reference| reference.as_str()?.strip_prefix("#/components/schemas/"))
        .map(str::to_owned)
        .collect();
    for name in bodies {
        if let Some(platform) = value["components"]["schemas"][&name].pointer_mut("/properties/platform") {
            platform["enum"] = serde_json::json!(platforms);
        }
    }
    serde_json::from_value(value).unwrap_or(document)
}

/// The schema of input that takes one of the words a parser checks against, as a string enum.
pub fn words_schema(words: &[&str]) -> utoipa::openapi::schema::ObjectBuilder {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(words.iter().copied()))
}

/// Declares the schema of input that takes one of a fixed list of words (the list its parser
/// checks against), for parameters (`inline(Option<Name>)`) and body fields (`#[schema(inline)]`).
/// With `numbers`, the integers the parser accepts as well (`1, 2, 3` for tiers and bot types).
macro_rules! one_of {
    ($(#[$doc:meta])* $name:ident, $words:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                words_schema(&$words).into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
    ($(#[$doc:meta])* $name:ident, $words:expr, numbers $low:literal ..= $high:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let numbers = utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .minimum(Some($low))
                    .maximum(Some($high));
                utoipa::openapi::schema::OneOfBuilder::new()
                    .item(words_schema(&$words))
                    .item(numbers)
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

one_of!(
    /// An audit event type (30-admin-moderation §8.3).
    EventTypeName,
    crate::domain::audit::EVENT_TYPES
);
one_of!(
    /// What an audit row is about.
    TargetTypeName,
    crate::domain::audit::TARGET_TYPES
);
one_of!(
    /// A moderation action type.
    ActionTypeName,
    crate::action_type::ACTION_TYPES
);
one_of!(
    /// A chat's visibility, as staff may set it.
    VisibilityName,
    crate::domain::chats::input::VISIBILITIES
);
one_of!(
    /// A chat's visibility as the admin list filters on it.
    ListedVisibilityName,
    crate::domain::chats::input::LISTED_VISIBILITIES
);
one_of!(
    /// A notification's kind.
    NotificationKind,
    crate::domain::notifications::TYPES
);
one_of!(
    /// A subscription tier by name (any case in requests) or number.
    TierName,
    crate::domain::subscriptions::TIER_NAMES,
    numbers 1 ..= 3
);
one_of!(
    /// A bot type by name (any case in requests) or number.
    BotTypeName,
    crate::bot_type::BOT_TYPE_NAMES,
    numbers 1 ..= 3
);

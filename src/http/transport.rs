//! The chat transport's endpoints (90-chat-transport): device keys, key blobs, messages and
//! history. The rules are in
//! `domain::transport`.

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::chats::input::{check_name, check_slug};
use crate::domain::input::{check_range, nested, required, Fields};
use crate::domain::transport::deletion::{self, Cleared, Deleted, Selection, WIPE_PRESETS};
use crate::domain::transport::handover::{self, BlobItem, Uploaded};
use crate::domain::transport::keys::{self, KeyRegistered, MyRoomKey};
use crate::domain::transport::messages::{self, parse_message_id, HistoryPage, MessageSent, Page};
use crate::domain::transport::settings::{self, ConfigUpdate, ConfigUpdated};
use crate::domain::transport::{canonical_key, decode_base64};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{parse_path_id, Body, Query, RequestBody};
use crate::http::caller::{AnySession, Authenticated, Unrestricted};
use crate::http::openapi::ErrorBody;
use crate::http::users::PathParam;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_key))
        .routes(routes!(my_room_key))
        .routes(routes!(upload_keys))
        .routes(routes!(send_message))
        .routes(routes!(read_history))
        .routes(routes!(delete_messages))
        .routes(routes!(delete_last_messages))
        .routes(routes!(delete_my_messages))
        .routes(routes!(clear_chat))
        .routes(routes!(update_config))
}

#[derive(ToSchema)]
pub struct ChatConfigBody {
    /// `off`, `1m`, `15m`, `1h`, `4h` or `24h`; carrying it restarts the timer.
    #[schema(value_type = Option<String>, pattern = "^(off|1m|15m|1h|4h|24h)$")]
    wipe_preset: Option<String>,
    history_visible: Option<bool>,
    allow_control_requests: Option<bool>,
    locked_controls: Option<bool>,
    implicit_hosting: Option<bool>,
    inactive_cursors: Option<bool>,
    /// 2–64 characters after trimming, no control characters.
    #[schema(min_length = 2, max_length = 64)]
    name: Option<String>,
    /// `^[a-z0-9-]{2,32}$`; `null` clears it, which makes the chat private. Admin only.
    #[schema(value_type = Option<String>, pattern = "^[a-z0-9-]{2,32}$")]
    slug: Option<Option<String>>,
}

impl RequestBody for ChatConfigBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let wipe_preset = match fields.opt_str("wipe_preset")? {
            Some(preset) if !WIPE_PRESETS.iter().any(|(name, _)| *name == preset) => {
                let names: Vec<&str> = WIPE_PRESETS.iter().map(|(name, _)| *name).collect();
                return Err(ApiError::validation(
                    "wipe_preset",
                    format!("wipe_preset must be one of: {}", names.join(", ")),
                ));
            }
            other => other.map(str::to_owned),
        };
        let history_visible = fields.opt_bool("history_visible")?;
        let allow_control_requests = fields.opt_bool("allow_control_requests")?;
        let locked_controls = fields.opt_bool("locked_controls")?;
        let implicit_hosting = fields.opt_bool("implicit_hosting")?;
        let inactive_cursors = fields.opt_bool("inactive_cursors")?;
        let name = fields.opt_str("name")?.map(check_name).transpose()?;
        let slug = match fields.raw("slug") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => Some(Some(check_slug(fields.req_str("slug")?)?)),
        };
        Ok(ChatConfigBody {
            wipe_preset,
            history_visible,
            allow_control_requests,
            locked_controls,
            implicit_hosting,
            inactive_cursors,
            name,
            slug,
        })
    }
}

impl From<ChatConfigBody> for ConfigUpdate {
    fn from(body: ChatConfigBody) -> Self {
        ConfigUpdate {
            wipe_preset: body.wipe_preset,
            history_visible: body.history_visible,
            allow_control_requests: body.allow_control_requests,
            locked_controls: body.locked_controls,
            implicit_hosting: body.implicit_hosting,
            inactive_cursors: body.inactive_cursors,
            name: body.name,
            slug: body.slug,
        }
    }
}

const MESSAGE_ID_PATTERN: &str = r"^(0|[1-9][0-9]{0,18})-(0|[1-9][0-9]{0,18})$";

/// The schema of a message id (90-chat-transport §1.4), `{ms}-{seq}`, as list items carry it.
pub struct MessageIdText;

impl utoipa::PartialSchema for MessageIdText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(MESSAGE_ID_PATTERN))
            .description(Some("A message id: `{ms}-{seq}`"))
            .into()
    }
}

impl ToSchema for MessageIdText {}

#[derive(ToSchema)]
pub struct DeleteMessagesBody {
    /// Message ids of this chat; unknown ones are skipped, a repeated one counts once.
    #[schema(value_type = Vec<MessageIdText>, min_items = 1, max_items = 100)]
    ids: Vec<(i64, i64)>,
    #[schema(ignore)]
    sent: usize,
}

impl RequestBody for DeleteMessagesBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let items = match fields.0.remove("ids") {
            None | Some(Value::Null) => return Err(required("ids")),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(ApiError::validation("ids", "ids must be an array")),
        };
        if items.is_empty() {
            return Err(ApiError::validation("ids", "ids must have at least 1 items"));
        }
        if items.len() > 100 {
            return Err(ApiError::validation("ids", "ids must have at most 100 items"));
        }
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let name = format!("ids[{i}]");
            let id = item
                .as_str()
                .ok_or_else(|| ApiError::validation(&name, format!("{name} must be a message id")))
                .and_then(|text| parse_message_id(&name, text))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(DeleteMessagesBody { ids, sent: items.len() })
    }
}

#[derive(ToSchema)]
pub struct DeleteLastBody {
    /// How many of the newest messages to delete.
    #[schema(minimum = 1, maximum = 100)]
    count: i64,
}

impl RequestBody for DeleteLastBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let count = check_range("count", fields.req_i64("count")?, 1, 100)?;
        Ok(DeleteLastBody { count })
    }
}

/// The longest `content` of a message, in characters.
const MAX_CONTENT: usize = 4096;

#[derive(ToSchema)]
pub struct MessageBody {
    /// A CiphertextV2 bundle serialised as JSON: `{"v": 2, "epoch": <int>, "ct": "<base64>"}`.
    #[schema(max_length = 4096)]
    content: String,
}

impl RequestBody for MessageBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let content = fields.req_str("content")?;
        if content.chars().count() > MAX_CONTENT {
            return Err(ApiError::validation(
                "content",
                format!("content must be at most {MAX_CONTENT} characters"),
            ));
        }
        Ok(MessageBody {
            content: content.to_owned(),
        })
    }
}

/// The body limit of a key upload: 500 blobs of up to 256 characters, with their names.
const UPLOAD_LIMIT: usize = 256 * 1024;
const MAX_BLOBS: usize = 500;

#[derive(ToSchema)]
pub struct KeyUploadBody {
    /// The chat's current epoch, which the blobs are for.
    #[schema(minimum = 1)]
    epoch: i64,
    /// One blob per device, no device twice.
    #[schema(min_items = 1, max_items = 500)]
    blobs: Vec<BlobItem>,
}

impl RequestBody for KeyUploadBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let epoch = fields.req_positive("epoch")?;
        let items = match fields.0.remove("blobs") {
            None | Some(Value::Null) => return Err(required("blobs")),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(ApiError::validation("blobs", "blobs must be an array")),
        };
        if items.is_empty() {
            return Err(ApiError::validation("blobs", "blobs must have at least 1 items"));
        }
        if items.len() > MAX_BLOBS {
            return Err(ApiError::validation(
                "blobs",
                format!("blobs must have at most {MAX_BLOBS} items"),
            ));
        }
        let mut blobs: Vec<BlobItem> = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let name = format!("blobs[{i}]");
            let Value::Object(map) = item else {
                return Err(ApiError::validation(&name, format!("{name} must be an object")));
            };
            let blob = blob_item(&Fields(map)).map_err(|err| nested(&name, err))?;
            if blobs
                .iter()
                .any(|b| b.user_id == blob.user_id && b.device_id == blob.device_id)
            {
                return Err(ApiError::validation(&name, format!("{name} repeats a device")));
            }
            blobs.push(blob);
        }
        Ok(KeyUploadBody { epoch, blobs })
    }
}

fn blob_item(fields: &Fields) -> ApiResult<BlobItem> {
    let user_id = fields.req_positive("user_id")?;
    let device_id = fields.req_str("device_id")?;
    if device_id.len() != 6
        || !device_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err(ApiError::validation("device_id", "device_id must be a device id"));
    }
    let blob = fields.req_str("blob")?;
    if blob.is_empty() {
        return Err(ApiError::validation("blob", "blob must be at least 1 characters"));
    }
    if blob.chars().count() > 256 {
        return Err(ApiError::validation("blob", "blob must be at most 256 characters"));
    }
    if decode_base64(blob).is_none_or(|bytes| bytes.is_empty()) {
        return Err(ApiError::validation("blob", "blob must be base64"));
    }
    let public_key = match fields.opt_str("public_key")? {
        None => None,
        Some(text) => Some(device_key("public_key", text)?),
    };
    Ok(BlobItem {
        user_id,
        device_id: device_id.to_owned(),
        blob: blob.to_owned(),
        public_key: public_key.map(|key| canonical_key(&key)),
    })
}

/// A device public key in any base64 form of §1.4.
fn device_key(name: &str, text: &str) -> ApiResult<[u8; 32]> {
    decode_base64(text)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| ApiError::validation(name, format!("{name} must be base64 of exactly 32 bytes")))
}

#[derive(ToSchema)]
pub struct DeviceKeyBody {
    /// The session's X25519 public key: base64 (standard or URL-safe alphabet, padding optional)
    /// of exactly 32 bytes.
    #[schema(value_type = String, min_length = 43, max_length = 44, pattern = r"^(?:[A-Za-z0-9+/]{43}|[A-Za-z0-9_-]{43})=?$")]
    public_key: [u8; 32],
}

impl RequestBody for DeviceKeyBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let public_key = device_key("public_key", fields.req_str("public_key")?)?;
        Ok(DeviceKeyBody { public_key })
    }
}

/// Register the calling session's X25519 public key (its device key).
#[utoipa::path(post, path = "/v1/portal/keys", tag = "portal", request_body = DeviceKeyBody, security(("session" = [])),
    responses((status = 200, body = KeyRegistered), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn register_key(
    State(app): State<AppState>,
    auth: AnySession,
    Body(body): Body<DeviceKeyBody>,
) -> ApiResult<Json<KeyRegistered>> {
    Ok(Json(keys::register(&app, &auth.session, &body.public_key).await?))
}

/// The caller's device's key blob at the chat's current epoch, for a client that missed `room:key`.
#[utoipa::path(get, path = "/v1/portal/chats/{chat_id}/keys/me", tag = "portal", security(("session" = [])),
    params(("chat_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = MyRoomKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn my_room_key(
    State(app): State<AppState>,
    auth: AnySession,
    PathParam(raw): PathParam,
) -> ApiResult<Json<MyRoomKey>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    Ok(Json(keys::mine(&app, &auth.session, chat_id).await?))
}

/// Upload chat-key blobs sealed for devices of the room: by a device holding the current epoch's
/// key, or by the epoch's generator making its first upload. Items are judged one by one.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/keys", tag = "portal", request_body = KeyUploadBody,
    security(("session" = [])), params(("chat_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = Uploaded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn upload_keys(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<AnySession>,
    PathParam(raw): PathParam,
    Body(body): Body<KeyUploadBody, UPLOAD_LIMIT>,
) -> ApiResult<Json<Uploaded>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    Ok(Json(
        handover::upload(&app, &auth.session, chat_id, body.epoch, &body.blobs).await?,
    ))
}

/// Send an end-to-end-encrypted message to the chat's room; it arrives as `message:new`.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/messages", tag = "portal", request_body = MessageBody,
    security(("session" = [])), params(("chat_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = MessageSent), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn send_message(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<AnySession>,
    PathParam(raw): PathParam,
    Body(body): Body<MessageBody>,
) -> ApiResult<Json<MessageSent>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    Ok(Json(messages::send(&app, &auth.session, chat_id, &body.content).await?))
}

/// A page of the chat's messages the caller may see, oldest first.
#[utoipa::path(get, path = "/v1/portal/chats/{chat_id}/history", tag = "portal", security(("session" = [])),
    params(("chat_id" = i64, Path, minimum = 1),
           ("before" = Option<MessageIdText>, Query, description = "Only messages with a smaller id"),
           ("after" = Option<MessageIdText>, Query, description = "Only messages with a larger id; not with `before`"),
           ("limit" = Option<i64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn read_history(
    State(app): State<AppState>,
    auth: AnySession,
    PathParam(raw): PathParam,
    query: Query,
) -> ApiResult<Json<HistoryPage>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    let id = |name: &str| query.str(name).map(|text| parse_message_id(name, text)).transpose();
    let before = id("before")?;
    let after = id("after")?;
    let page = match (before, after) {
        (Some(_), Some(_)) => return Err(ApiError::validation("after", "after cannot be combined with before")),
        (before, None) => Page::Before(before),
        (None, Some(after)) => Page::After(after),
    };
    let limit = query.i64_in("limit", 50, 1, 100)?;
    Ok(Json(
        messages::history(&app, &auth.session, chat_id, page, limit).await?,
    ))
}

/// Delete messages of the chat by id (chat authority).
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/messages/delete", tag = "portal", request_body = DeleteMessagesBody,
    security(("session" = [])), params(("chat_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = Deleted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_messages(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(body): Body<DeleteMessagesBody>,
) -> ApiResult<Json<Deleted>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    let selection = Selection::Ids {
        ids: body.ids,
        sent: body.sent,
    };
    Ok(Json(
        deletion::delete(&app, &auth.session.user, chat_id, selection).await?,
    ))
}

/// Delete the chat's newest messages, whoever sent them (chat authority).
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/messages/delete-last", tag = "portal", request_body = DeleteLastBody,
    security(("session" = [])), params(("chat_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = Deleted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_last_messages(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(body): Body<DeleteLastBody>,
) -> ApiResult<Json<Deleted>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    let selection = Selection::Newest(body.count);
    Ok(Json(
        deletion::delete(&app, &auth.session.user, chat_id, selection).await?,
    ))
}

/// Delete every message the caller sent in the chat.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/messages/delete-mine", tag = "portal",
    security(("session" = [])), params(("chat_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = Deleted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_my_messages(
    State(app): State<AppState>,
    auth: AnySession,
    PathParam(raw): PathParam,
) -> ApiResult<Json<Deleted>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    Ok(Json(deletion::delete_mine(&app, &auth.session.user, chat_id).await?))
}

/// Delete every message of the chat; the epoch rotates and the wipe timer restarts.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/clear", tag = "portal",
    security(("session" = [])), params(("chat_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = Cleared), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn clear_chat(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
) -> ApiResult<Json<Cleared>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    Ok(Json(deletion::clear(&app, &auth.session.user, chat_id).await?))
}

/// Change the chat's settings, name or slug (the chat's managers; the slug needs Admin).
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/config/update", tag = "portal", request_body = ChatConfigBody,
    security(("session" = [])), params(("chat_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = ConfigUpdated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn update_config(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(body): Body<ChatConfigBody>,
) -> ApiResult<Json<ConfigUpdated>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    Ok(Json(
        settings::update(&app, &auth.session.user, chat_id, body.into()).await?,
    ))
}

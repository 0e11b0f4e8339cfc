//! The chat transport's endpoints (90-chat-transport): device keys so far. The rules are in
//! `domain::transport`.

use axum::extract::State;
use axum::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::input::Fields;
use crate::domain::transport::decode_base64;
use crate::domain::transport::keys::{self, KeyRegistered, MyRoomKey};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{parse_path_id, Body, RequestBody};
use crate::http::caller::Authenticated;
use crate::http::openapi::ErrorBody;
use crate::http::users::PathParam;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_key))
        .routes(routes!(my_room_key))
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
        let text = fields.req_str("public_key")?;
        let public_key = decode_base64(text)
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| ApiError::validation("public_key", "public_key must be base64 of exactly 32 bytes"))?;
        Ok(DeviceKeyBody { public_key })
    }
}

/// Register the calling session's X25519 public key (its device key).
#[utoipa::path(post, path = "/v1/portal/keys", tag = "portal", request_body = DeviceKeyBody, security(("session" = [])),
    responses((status = 200, body = KeyRegistered), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn register_key(
    State(app): State<AppState>,
    auth: Authenticated,
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
    auth: Authenticated,
    PathParam(raw): PathParam,
) -> ApiResult<Json<MyRoomKey>> {
    let chat_id = parse_path_id("chat_id", &raw)?;
    Ok(Json(keys::mine(&app, &auth.session, chat_id).await?))
}

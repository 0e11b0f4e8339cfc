//! `GET /v1/portal/status`, the hard mute and moderation inside a chat (80-notifications-portal
//! §2, §4, §5). The realtime connection is in `http::realtime`.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::chats::input::optional_text;
use crate::domain::chats::moderation::{self, Sanction};
use crate::domain::input::{check_range, trimmed_text, Fields};
use crate::domain::moderation as platform;
use crate::domain::presence::{self, PortalStatus};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{parse_path_id, Body, RequestBody};
use crate::http::caller::{Authenticated, RequireAdmin, RequireLevel, RequireModerator, Unrestricted};
use crate::http::openapi::ErrorBody;
use crate::http::users::PathParam;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(hard_mute))
        .routes(routes!(hard_unmute))
        .routes(routes!(chat_mute))
        .routes(routes!(chat_unmute))
        .routes(routes!(chat_ban))
        .routes(routes!(chat_unban))
        .routes(routes!(chat_kick))
        .routes(routes!(chat_timeout))
        .routes(routes!(chat_warn))
}

const MUTE_MAX_S: i64 = 86_400;
const CHAT_BAN_MAX_S: i64 = 30 * 86_400;
const TIMEOUT_MAX_S: i64 = 30 * 86_400;

/// `duration` of a mute: seconds, default 300, 0–86400, 0 = indefinite.
fn mute_duration(fields: &Fields) -> Result<i64, ApiError> {
    check_range("duration", fields.opt_i64("duration")?.unwrap_or(300), 0, MUTE_MAX_S)
}

/// An optional `reason`: at most 500 characters after trimming; empty counts as `null`.
fn optional_reason(fields: &Fields) -> Result<Option<String>, ApiError> {
    optional_text("reason", fields.opt_str("reason")?, 500)
}

/// The `reason` every portal-wide sanction needs: 1–500 characters after trimming.
fn required_reason(fields: &Fields) -> Result<String, ApiError> {
    trimmed_text("reason", fields.req_str("reason")?, 1, 500)
}

#[derive(Serialize, ToSchema)]
pub struct OkAnswer {
    ok: bool,
}

fn ok() -> Json<OkAnswer> {
    Json(OkAnswer { ok: true })
}

/// Who is online, and whether the caller is hard-muted.
#[utoipa::path(get, path = "/v1/portal/status", tag = "portal", security(("session" = [])),
    responses((status = 200, body = PortalStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn status(State(app): State<AppState>, auth: Authenticated) -> ApiResult<Json<PortalStatus>> {
    Ok(Json(presence::status(&app, &auth.session.user).await?))
}

#[derive(ToSchema)]
pub struct HardMuteBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
    /// Seconds, 0–86400, default 300; `0` = indefinite.
    #[schema(required = false, nullable, default = 300, minimum = 0, maximum = 86400)]
    duration: i64,
    /// At most 500 characters after trimming.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    reason: Option<String>,
}

impl RequestBody for HardMuteBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(HardMuteBody {
            user_id: fields.req_positive("user_id")?,
            duration: mute_duration(fields)?,
            reason: optional_reason(fields)?,
        })
    }
}

/// Mute a user in every chat.
#[utoipa::path(post, path = "/v1/portal/hard-mute", tag = "portal", request_body = HardMuteBody, security(("session" = [])),
    responses((status = 200, body = OkAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn hard_mute(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireAdmin>,
    Body(body): Body<HardMuteBody>,
) -> ApiResult<Json<OkAnswer>> {
    platform::hard_mute(&app, auth.actor(), body.user_id, body.duration, body.reason.as_deref()).await?;
    Ok(ok())
}

#[derive(ToSchema)]
pub struct HardUnmuteBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
    /// At most 500 characters after trimming.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    reason: Option<String>,
}

impl RequestBody for HardUnmuteBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(HardUnmuteBody {
            user_id: fields.req_positive("user_id")?,
            reason: optional_reason(fields)?,
        })
    }
}

/// Lift every hard mute of a user in force (nothing happens when there is none).
#[utoipa::path(post, path = "/v1/portal/hard-unmute", tag = "portal", request_body = HardUnmuteBody, security(("session" = [])),
    responses((status = 200, body = OkAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn hard_unmute(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireAdmin>,
    Body(body): Body<HardUnmuteBody>,
) -> ApiResult<Json<OkAnswer>> {
    platform::hard_unmute(&app, auth.actor(), body.user_id, body.reason.as_deref()).await?;
    Ok(ok())
}

/// The shared tail of the seven chat actions, whose bodies begin with `user_id`: the checks of
/// §5.1 from step 4 on (`chat_id` was checked before the body, by `Body`).
async fn moderate_chat(
    app: &AppState,
    caller: &Authenticated,
    raw_chat_id: &str,
    user_id: i64,
    sanction: Sanction,
) -> ApiResult<Json<OkAnswer>> {
    let chat_id = parse_path_id("chat_id", raw_chat_id)?;
    moderation::moderate(app, &caller.session.user, chat_id, user_id, sanction).await?;
    Ok(ok())
}

#[derive(ToSchema)]
pub struct ChatMuteBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
    /// Seconds, 0–86400, default 300; `0` = indefinite.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 86400)]
    duration: i64,
    /// At most 500 characters after trimming.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    reason: Option<String>,
}

impl RequestBody for ChatMuteBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(ChatMuteBody {
            user_id: fields.req_positive("user_id")?,
            duration: mute_duration(fields)?,
            reason: optional_reason(fields)?,
        })
    }
}

/// Mute a user in one chat.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/mute", tag = "portal", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = ChatMuteBody, security(("session" = [])),
    responses((status = 200, body = OkAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn chat_mute(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(body): Body<ChatMuteBody>,
) -> ApiResult<Json<OkAnswer>> {
    let sanction = Sanction::Mute {
        duration_s: body.duration,
        reason: body.reason,
    };
    moderate_chat(&app, &auth, &raw, body.user_id, sanction).await
}

#[derive(ToSchema)]
pub struct ChatUserBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
}

impl RequestBody for ChatUserBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(ChatUserBody {
            user_id: fields.req_positive("user_id")?,
        })
    }
}

/// Lift a user's mutes in one chat (a hard mute stays).
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/unmute", tag = "portal", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = ChatUserBody, security(("session" = [])),
    responses((status = 200, body = OkAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn chat_unmute(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(body): Body<ChatUserBody>,
) -> ApiResult<Json<OkAnswer>> {
    moderate_chat(&app, &auth, &raw, body.user_id, Sanction::Unmute).await
}

#[derive(ToSchema)]
pub struct ChatBanBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
    /// Seconds, 0–2592000, default 0; `0` = permanent.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 2592000)]
    duration: i64,
    /// At most 500 characters after trimming.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    reason: Option<String>,
}

impl RequestBody for ChatBanBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(ChatBanBody {
            user_id: fields.req_positive("user_id")?,
            duration: check_range("duration", fields.opt_i64("duration")?.unwrap_or(0), 0, CHAT_BAN_MAX_S)?,
            reason: optional_reason(fields)?,
        })
    }
}

/// Ban a user from one chat; removes their membership.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/ban", tag = "portal", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = ChatBanBody, security(("session" = [])),
    responses((status = 200, body = OkAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn chat_ban(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(body): Body<ChatBanBody>,
) -> ApiResult<Json<OkAnswer>> {
    let sanction = Sanction::Ban {
        duration_s: body.duration,
        reason: body.reason,
    };
    moderate_chat(&app, &auth, &raw, body.user_id, sanction).await
}

#[derive(ToSchema)]
pub struct ChatReasonBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
    /// At most 500 characters after trimming.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    reason: Option<String>,
}

impl RequestBody for ChatReasonBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(ChatReasonBody {
            user_id: fields.req_positive("user_id")?,
            reason: optional_reason(fields)?,
        })
    }
}

/// Lift a user's bans from one chat (membership is not restored).
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/unban", tag = "portal", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = ChatReasonBody, security(("session" = [])),
    responses((status = 200, body = OkAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn chat_unban(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(ChatReasonBody { user_id, reason }): Body<ChatReasonBody>,
) -> ApiResult<Json<OkAnswer>> {
    moderate_chat(&app, &auth, &raw, user_id, Sanction::Unban { reason }).await
}

/// Remove a member from one chat.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/kick", tag = "portal", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = ChatReasonBody, security(("session" = [])),
    responses((status = 200, body = OkAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn chat_kick(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(ChatReasonBody { user_id, reason }): Body<ChatReasonBody>,
) -> ApiResult<Json<OkAnswer>> {
    moderate_chat(&app, &auth, &raw, user_id, Sanction::Kick { reason }).await
}

#[derive(ToSchema)]
pub struct ChatTimeoutBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
    /// Seconds, 60–2592000.
    #[schema(minimum = 60, maximum = 2592000)]
    duration: i64,
    /// 1–500 characters after trimming.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    reason: String,
}

impl RequestBody for ChatTimeoutBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(ChatTimeoutBody {
            user_id: fields.req_positive("user_id")?,
            duration: check_range("duration", fields.req_i64("duration")?, 60, TIMEOUT_MAX_S)?,
            reason: required_reason(fields)?,
        })
    }
}

/// Time a user out portal-wide, issued from a chat (Moderator+).
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/timeout", tag = "portal", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = ChatTimeoutBody, security(("session" = [])),
    responses((status = 200, body = OkAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn chat_timeout(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireModerator>,
    PathParam(raw): PathParam,
    Body(body): Body<ChatTimeoutBody>,
) -> ApiResult<Json<OkAnswer>> {
    let sanction = Sanction::Timeout {
        duration_s: body.duration,
        reason: body.reason,
    };
    moderate_chat(&app, &auth, &raw, body.user_id, sanction).await
}

#[derive(ToSchema)]
pub struct ChatWarnBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
    /// 1–500 characters after trimming.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    reason: String,
}

impl RequestBody for ChatWarnBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(ChatWarnBody {
            user_id: fields.req_positive("user_id")?,
            reason: required_reason(fields)?,
        })
    }
}

/// Warn a user portal-wide, issued from a chat (Moderator+).
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/warn", tag = "portal", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = ChatWarnBody, security(("session" = [])),
    responses((status = 200, body = OkAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn chat_warn(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireModerator>,
    PathParam(raw): PathParam,
    Body(ChatWarnBody { user_id, reason }): Body<ChatWarnBody>,
) -> ApiResult<Json<OkAnswer>> {
    moderate_chat(&app, &auth, &raw, user_id, Sanction::Warn { reason }).await
}

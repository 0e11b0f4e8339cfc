//! `/v1/portal/chats…`, `/v1/portal/resolve/{code}` and `/v1/admin/chats…` (60-chats). The
//! browser machine's routes are `http::browser`.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::chats::input::{self, ChatPatch, NewChat};
use crate::domain::chats::invites::{self, Resolved};
use crate::domain::chats::views::{ChatAdmin, ChatAdminDetail, ChatStatus, ChatSummary, Invite};
use crate::domain::chats::{self, admin, portal};
use crate::domain::input::{check_range, Fields};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{parse_path_id, Body, Query, RequestBody};
use crate::http::caller::{Authenticated, RequireAdmin, RequireLevel, RequireOwner, Unrestricted};
use crate::http::openapi::{ErrorBody, ListedVisibilityName, VisibilityName};
use crate::http::users::{counted, PathParam};
use crate::time::Timestamp;

pub fn portal_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_chats, create_chat))
        .routes(routes!(destroy_chat))
        .routes(routes!(leave_chat))
        .routes(routes!(list_invites, create_invite))
        .routes(routes!(revoke_invite))
        .routes(routes!(resolve_invite))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list, admin_create))
        .routes(routes!(admin_get))
        .routes(routes!(admin_update))
        .routes(routes!(admin_delete))
        .routes(routes!(admin_transfer))
        .routes(routes!(admin_kick))
}

/// A session whose user may create chats (60-chats §6), checked where the order of checks puts
/// the minimum level.
pub struct ChatCreator(pub Authenticated);

impl FromRequestParts<AppState> for ChatCreator {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let auth = Authenticated::from_request_parts(parts, app).await?;
        if !chats::may_create(&auth.session.user, app.now()) {
            return Err(ApiError::PremiumRequired);
        }
        Ok(ChatCreator(auth))
    }
}

/// `{chat_id}` and `{code}` of the invite paths, percent-decoded.
pub struct InvitePath(String, String);

impl<S: Send + Sync> FromRequestParts<S> for InvitePath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|Path((chat_id, code))| InvitePath(chat_id, code))
            .map_err(|_| ApiError::NotFound)
    }
}

fn chat_id(raw: &str) -> ApiResult<i64> {
    parse_path_id("chat_id", raw)
}

#[derive(Serialize, ToSchema)]
pub struct ChatOutcome {
    message: String,
}

fn outcome(message: String) -> Json<ChatOutcome> {
    Json(ChatOutcome { message })
}

// ------------------------------------------------------------------------------------------------
// Portal
// ------------------------------------------------------------------------------------------------

/// The chats the caller can see: official, public, then their own and joined private chats
/// (bare array with `X-Total-Count`).
#[utoipa::path(get, path = "/v1/portal/chats", tag = "chats", security(("session" = [])),
    responses((status = 200, body = Vec<ChatSummary>), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_chats(State(app): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let chats = portal::visible_list(&app, &auth.session.user).await?;
    let total = chats.len() as i64;
    Ok(counted(chats, total))
}

#[derive(ToSchema)]
pub struct CreateChatBody {
    /// 2–64 characters after trimming, no control characters.
    #[schema(
        min_length = 2,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    name: String,
    /// At most 500 characters after trimming; empty counts as `null`.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    description: Option<String>,
    #[schema(value_type = Option<bool>)]
    allow_control_requests: bool,
    /// Any JSON object of at most 4096 bytes; stored for the VM layer.
    #[schema(value_type = Object, required = false)]
    browser_config: String,
}

impl RequestBody for CreateChatBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(CreateChatBody {
            name: input::check_name(fields.req_str("name")?)?,
            description: input::description(fields)?,
            allow_control_requests: fields.opt_bool("allow_control_requests")?.unwrap_or(false),
            browser_config: input::browser_config(fields)?.unwrap_or_else(input::default_browser_config),
        })
    }
}

impl From<CreateChatBody> for NewChat {
    fn from(body: CreateChatBody) -> Self {
        NewChat {
            name: body.name,
            slug: None,
            description: body.description,
            allow_control_requests: body.allow_control_requests,
            browser_config: body.browser_config,
        }
    }
}

/// Create a private chat (subscribers and Admin+, within the caller's chat slots).
#[utoipa::path(post, path = "/v1/portal/chats", tag = "chats", request_body = CreateChatBody, security(("session" = [])),
    responses((status = 200, body = ChatSummary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "origin, ERR_PREMIUM_REQUIRED, ERR_ACCOUNT_TIMED_OUT or ERR_CHAT_SLOT_LIMIT"),
              (status = 429, body = ErrorBody)))]
async fn create_chat(
    State(app): State<AppState>,
    ChatCreator(auth): ChatCreator,
    _: Unrestricted<Authenticated>,
    Body(body): Body<CreateChatBody>,
) -> ApiResult<Json<ChatSummary>> {
    Ok(Json(portal::create(&app, &auth.session.user, body.into()).await?))
}

/// Destroy a chat: its owner, or any Owner.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/delete", tag = "chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = ChatOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn destroy_chat(
    State(app): State<AppState>,
    auth: Authenticated,
    PathParam(raw): PathParam,
) -> ApiResult<Json<ChatOutcome>> {
    let name = portal::destroy(&app, &auth.session.user, chat_id(&raw)?).await?;
    Ok(outcome(format!("Chat '{name}' destroyed")))
}

/// Leave a chat one is a member of.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/leave", tag = "chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = ChatOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn leave_chat(
    State(app): State<AppState>,
    auth: Authenticated,
    PathParam(raw): PathParam,
) -> ApiResult<Json<ChatOutcome>> {
    let name = portal::leave(&app, &auth.session.user, chat_id(&raw)?).await?;
    Ok(outcome(format!("Left chat '{name}'")))
}

#[derive(Serialize, ToSchema)]
pub struct InviteList {
    invites: Vec<Invite>,
}

/// A chat's active invites, newest first (its managers only).
#[utoipa::path(get, path = "/v1/portal/chats/{chat_id}/invites", tag = "chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = InviteList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_invites(
    State(app): State<AppState>,
    auth: Authenticated,
    PathParam(raw): PathParam,
) -> ApiResult<Json<InviteList>> {
    let invites = invites::list(&app, &auth.session.user, chat_id(&raw)?).await?;
    Ok(Json(InviteList { invites }))
}

#[derive(ToSchema)]
pub struct CreateInviteBody {
    /// A timestamp in the future; `null` = never expires.
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<i64>,
    /// 1–1000000; `null` = unlimited.
    #[schema(minimum = 1, maximum = 1000000)]
    max_uses: Option<i64>,
}

impl RequestBody for CreateInviteBody {
    fn parse(fields: &mut Fields, app: &App) -> ApiResult<Self> {
        let expires_at = match fields.opt_str("expires_at")? {
            None => None,
            Some(text) => {
                let at = Timestamp::parse(text)
                    .ok_or_else(|| ApiError::validation("expires_at", "expires_at must be a valid timestamp"))?;
                if at.0 <= app.now() {
                    return Err(ApiError::validation("expires_at", "expires_at must be in the future"));
                }
                Some(at.0)
            }
        };
        let max_uses = fields
            .opt_i64("max_uses")?
            .map(|n| check_range("max_uses", n, 1, 1_000_000))
            .transpose()?;
        Ok(CreateInviteBody { expires_at, max_uses })
    }
}

/// Create an invite (at most 20 active per chat).
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/invites", tag = "chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = CreateInviteBody, security(("session" = [])),
    responses((status = 200, body = Invite), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn create_invite(
    State(app): State<AppState>,
    auth: Authenticated,
    _: Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(body): Body<CreateInviteBody>,
) -> ApiResult<Json<Invite>> {
    let chat_id = chat_id(&raw)?;
    let invite = invites::create(&app, &auth.session.user, chat_id, body.expires_at, body.max_uses).await?;
    Ok(Json(invite))
}

/// Revoke an invite of the chat, active or not.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/invites/{code}/delete", tag = "chats",
    params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1"), ("code" = String, Path)), security(("session" = [])),
    responses((status = 200, body = ChatOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn revoke_invite(
    State(app): State<AppState>,
    auth: Authenticated,
    InvitePath(raw, code): InvitePath,
) -> ApiResult<Json<ChatOutcome>> {
    invites::revoke(&app, &auth.session.user, chat_id(&raw)?, &code).await?;
    Ok(outcome(format!("Invite '{code}' revoked")))
}

/// Join a chat by invite code.
#[utoipa::path(post, path = "/v1/portal/resolve/{code}", tag = "chats", params(("code" = String, Path)), security(("session" = [])),
    responses((status = 200, body = Resolved), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn resolve_invite(
    State(app): State<AppState>,
    auth: Authenticated,
    _: Unrestricted<Authenticated>,
    PathParam(code): PathParam,
) -> ApiResult<Json<Resolved>> {
    Ok(Json(invites::resolve(&app, &auth.session.user, &code).await?))
}

// ------------------------------------------------------------------------------------------------
// Admin
// ------------------------------------------------------------------------------------------------

/// Every chat, `id` ascending (bare array with `X-Total-Count`).
#[utoipa::path(get, path = "/v1/admin/chats", tag = "admin-chats", security(("session" = [])),
    params(("visibility" = inline(Option<ListedVisibilityName>), Query, description = "official, public, private or direct; without it, the group chats"),
           ("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1–1000, default 1000")),
    responses((status = 200, body = Vec<ChatAdmin>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn admin_list(State(app): State<AppState>, _: RequireAdmin, query: Query) -> ApiResult<Response> {
    let visibility = query
        .str("visibility")
        .map(|v| input::check_listed_visibility("visibility", v))
        .transpose()?;
    let page = query.page(1000, 1000, i64::MAX)?;
    let (chats, total) = admin::list(&app, visibility.as_deref(), page.offset, page.limit).await?;
    Ok(counted(chats, total))
}

/// One chat with its members.
#[utoipa::path(get, path = "/v1/admin/chats/{chat_id}", tag = "admin-chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = ChatAdminDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn admin_get(
    State(app): State<AppState>,
    _: RequireAdmin,
    PathParam(raw): PathParam,
) -> ApiResult<Json<ChatAdminDetail>> {
    Ok(Json(admin::get(&app, chat_id(&raw)?).await?))
}

#[derive(ToSchema)]
pub struct CreateOfficialChatBody {
    /// 2–64 characters after trimming, no control characters.
    #[schema(
        min_length = 2,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    name: String,
    /// `^[a-z0-9-]{2,32}$`, unique.
    #[schema(pattern = r"^[a-z0-9-]{2,32}$")]
    slug: String,
    /// At most 500 characters after trimming; empty counts as `null`.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    description: Option<String>,
    #[schema(value_type = Option<bool>)]
    allow_control_requests: bool,
    /// Any JSON object of at most 4096 bytes.
    #[schema(value_type = Object, required = false)]
    browser_config: String,
}

impl RequestBody for CreateOfficialChatBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(CreateOfficialChatBody {
            name: input::check_name(fields.req_str("name")?)?,
            slug: input::check_slug(fields.req_str("slug")?)?,
            description: input::description(fields)?,
            allow_control_requests: fields.opt_bool("allow_control_requests")?.unwrap_or(false),
            browser_config: input::browser_config(fields)?.unwrap_or_else(input::default_browser_config),
        })
    }
}

impl From<CreateOfficialChatBody> for NewChat {
    fn from(body: CreateOfficialChatBody) -> Self {
        NewChat {
            name: body.name,
            slug: Some(body.slug),
            description: body.description,
            allow_control_requests: body.allow_control_requests,
            browser_config: body.browser_config,
        }
    }
}

/// Create an official chat owned by the actor (within the actor's chat slots).
#[utoipa::path(post, path = "/v1/admin/chats", tag = "admin-chats", request_body = CreateOfficialChatBody, security(("session" = [])),
    responses((status = 200, body = ChatStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn admin_create(
    State(app): State<AppState>,
    RequireLevel(auth): RequireAdmin,
    _: Unrestricted<Authenticated>,
    Body(body): Body<CreateOfficialChatBody>,
) -> ApiResult<Json<ChatStatus>> {
    Ok(Json(
        admin::create_official(&app, &auth.session.user, body.into()).await?,
    ))
}

#[derive(ToSchema)]
pub struct UpdateChatBody {
    /// 2–64 characters after trimming, no control characters.
    #[schema(
        nullable = false,
        min_length = 2,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    name: Option<String>,
    /// `official`, `public` or `private`.
    #[schema(value_type = Option<VisibilityName>, inline, nullable = false)]
    visibility: Option<String>,
    /// At most 32 characters after trimming; `null` or empty clears.
    #[schema(value_type = Option<String>, max_length = 32, pattern = r"^[^\u0000]*$")]
    label: Option<Option<String>>,
    /// At most 500 characters after trimming; `null` or empty clears.
    #[schema(value_type = Option<String>, max_length = 500, pattern = r"^[^\u0000]*$")]
    description: Option<Option<String>>,
    /// `^[a-z0-9-]{2,32}$`; `null` clears (and makes the chat private).
    #[schema(value_type = Option<String>, pattern = r"^[a-z0-9-]{2,32}$")]
    slug: Option<Option<String>>,
    /// Replaces the stored object.
    #[schema(value_type = Object, required = false)]
    browser_config: Option<String>,
    /// `discord_0` … `discord_5`; `null` clears.
    #[schema(value_type = Option<String>, pattern = r"^discord_[0-5]$")]
    avatar_source: Option<Option<String>>,
    #[schema(nullable = false)]
    allow_control_requests: Option<bool>,
}

/// Only the fields sent; `null` clears a nullable field and is the wrong type for the others.
impl RequestBody for UpdateChatBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let name = input::required_if_sent(fields, "name")?
            .map(input::check_name)
            .transpose()?;
        let visibility = input::required_if_sent(fields, "visibility")?
            .map(|v| input::check_visibility("visibility", v))
            .transpose()?;
        let label = input::nullable(fields, "label", |t| input::optional_text("label", Some(t), 32))?;
        let description = input::nullable(fields, "description", |t| {
            input::optional_text("description", Some(t), 500)
        })?;
        let slug = input::nullable(fields, "slug", |t| input::check_slug(t).map(Some))?;
        let browser_config = fields
            .raw("browser_config")
            .map(input::browser_config_text)
            .transpose()?;
        let avatar_source = input::nullable(fields, "avatar_source", |t| input::check_avatar_source(t).map(Some))?;
        let allow_control_requests = match fields.raw("allow_control_requests") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(ApiError::validation(
                    "allow_control_requests",
                    "allow_control_requests must be a boolean",
                ))
            }
        };
        Ok(UpdateChatBody {
            name,
            visibility,
            label,
            description,
            slug,
            browser_config,
            avatar_source,
            allow_control_requests,
        })
    }
}

impl From<UpdateChatBody> for ChatPatch {
    fn from(body: UpdateChatBody) -> Self {
        ChatPatch {
            name: body.name,
            visibility: body.visibility,
            label: body.label,
            description: body.description,
            slug: body.slug,
            browser_config: body.browser_config,
            avatar_source: body.avatar_source,
            allow_control_requests: body.allow_control_requests,
        }
    }
}

/// Update a chat; only the fields sent change, and `null` clears a nullable field.
#[utoipa::path(post, path = "/v1/admin/chats/{chat_id}/update", tag = "admin-chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = UpdateChatBody, security(("session" = [])),
    responses((status = 200, body = ChatAdmin), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn admin_update(
    State(app): State<AppState>,
    RequireLevel(auth): RequireAdmin,
    _: Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(body): Body<UpdateChatBody>,
) -> ApiResult<Json<ChatAdmin>> {
    let chat_id = chat_id(&raw)?;
    Ok(Json(
        admin::update(&app, &auth.session.user, chat_id, body.into()).await?,
    ))
}

/// Delete any chat, with its members and invites.
#[utoipa::path(post, path = "/v1/admin/chats/{chat_id}/delete", tag = "admin-chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = ChatOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn admin_delete(
    State(app): State<AppState>,
    RequireLevel(auth): RequireAdmin,
    _: Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
) -> ApiResult<Json<ChatOutcome>> {
    let name = admin::delete(&app, &auth.session.user, chat_id(&raw)?).await?;
    Ok(outcome(format!("Chat '{name}' deleted")))
}

#[derive(ToSchema)]
pub struct TransferBody {
    /// An existing user other than the current owner.
    #[schema(minimum = 1)]
    new_owner_id: i64,
}

impl RequestBody for TransferBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(TransferBody {
            new_owner_id: fields.req_positive("new_owner_id")?,
        })
    }
}

/// Give a chat to another user (Owner only); the previous owner stays on as a member.
#[utoipa::path(post, path = "/v1/admin/chats/{chat_id}/transfer", tag = "admin-chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = TransferBody, security(("session" = [])),
    responses((status = 200, body = ChatOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn admin_transfer(
    State(app): State<AppState>,
    RequireLevel(auth): RequireOwner,
    _: Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(TransferBody { new_owner_id }): Body<TransferBody>,
) -> ApiResult<Json<ChatOutcome>> {
    let chat_id = chat_id(&raw)?;
    let name = admin::transfer(&app, &auth.session.user, chat_id, new_owner_id).await?;
    Ok(outcome(format!("Chat '{name}' transferred to user {new_owner_id}")))
}

#[derive(ToSchema)]
pub struct KickBody {
    #[schema(minimum = 1)]
    user_id: i64,
    /// At most 500 characters after trimming; empty counts as `null`.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    reason: Option<String>,
}

impl RequestBody for KickBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(KickBody {
            user_id: fields.req_positive("user_id")?,
            reason: input::optional_text("reason", fields.opt_str("reason")?, 500)?,
        })
    }
}

/// Remove a member from a chat and record a `CHAT_KICK`.
#[utoipa::path(post, path = "/v1/admin/chats/{chat_id}/kick", tag = "admin-chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    request_body = KickBody, security(("session" = [])),
    responses((status = 200, body = ChatOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn admin_kick(
    State(app): State<AppState>,
    RequireLevel(auth): RequireAdmin,
    _: Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
    Body(KickBody { user_id, reason }): Body<KickBody>,
) -> ApiResult<Json<ChatOutcome>> {
    let chat_id = chat_id(&raw)?;
    let (username, chat_name) = admin::kick(&app, &auth.session.user, chat_id, user_id, reason.as_deref()).await?;
    Ok(outcome(format!("Kicked {username} from chat '{chat_name}'")))
}

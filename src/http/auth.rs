//! `/v1/authentication/…` (10-auth).

use axum::extract::{FromRequestParts, State};
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::auth::{self, BotReport, Identity, LookupResult, Verified};
use crate::domain::input::{check_text, Fields};
use crate::domain::sessions;
use crate::domain::strangers::{self, StrangerSession};
use crate::domain::users::{check_platform_user_id, check_username};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{Body, RequestBody};
use crate::http::caller::{check_origin, AnySession, BotCaller, Public};
use crate::http::openapi::ErrorBody;
use crate::time::Timestamp;

pub fn login_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lookup))
        .routes(routes!(request_code))
        .routes(routes!(verify))
        .routes(routes!(logout))
        .routes(routes!(become_stranger))
}

pub fn bot_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bot_login_code))
        .routes(routes!(bot_send_code))
}

/// `platform` must be one of the configured platforms.
fn check_platform<'a>(app: &App, fields: &'a Fields) -> Result<&'a str, ApiError> {
    let platform = fields.req_str("platform")?;
    if !app.config.platforms.iter().any(|p| p == platform) {
        return Err(ApiError::validation(
            "platform",
            format!("platform must be one of: {}", app.config.platforms.join(", ")),
        ));
    }
    Ok(platform)
}

#[derive(ToSchema)]
pub struct LookupBody {
    /// 3–32 characters of `[A-Za-z0-9._-]`, matched case-insensitively.
    #[schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9._-]+$")]
    username: String,
}

impl RequestBody for LookupBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let username = fields.req_str("username")?;
        check_username(username)?;
        Ok(LookupBody {
            username: username.to_owned(),
        })
    }
}

/// Find a user's linked platforms by username.
#[utoipa::path(post, path = "/v1/authentication/lookup", tag = "authentication", request_body = LookupBody,
    responses((status = 200, body = LookupResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn lookup(
    State(app): State<AppState>,
    _caller: Public,
    Body(body): Body<LookupBody>,
) -> ApiResult<Json<LookupResult>> {
    Ok(Json(auth::lookup(&app, &body.username).await?))
}

#[derive(ToSchema)]
pub struct CodeRequestBody {
    /// One of the configured platforms.
    platform: String,
    /// 1–64 characters of `[A-Za-z0-9_.:-]`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.:-]+$")]
    platform_user_id: String,
}

impl RequestBody for CodeRequestBody {
    fn parse(fields: &mut Fields, app: &App) -> ApiResult<Self> {
        let platform = check_platform(app, fields)?.to_owned();
        let platform_user_id = fields.req_str("platform_user_id")?;
        check_platform_user_id(platform_user_id)?;
        Ok(CodeRequestBody {
            platform,
            platform_user_id: platform_user_id.to_owned(),
        })
    }
}

impl CodeRequestBody {
    fn identity(&self) -> Identity<'_> {
        Identity {
            platform: &self.platform,
            platform_user_id: &self.platform_user_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CodeRequested {
    message: &'static str,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

/// Start a web login: create (or reuse) a code for a platform identity.
#[utoipa::path(post, path = "/v1/authentication/request", tag = "authentication", request_body = CodeRequestBody,
    responses((status = 200, body = CodeRequested), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn request_code(
    State(app): State<AppState>,
    Public(caller): Public,
    Body(body): Body<CodeRequestBody>,
) -> ApiResult<Json<CodeRequested>> {
    let expires_at = auth::request_code(&app, body.identity(), caller.client_ip).await?;
    Ok(Json(CodeRequested {
        message: "Login code generated.",
        expires_at: Timestamp(expires_at),
    }))
}

#[derive(ToSchema)]
pub struct BotCodeBody {
    /// One of the configured platforms.
    platform: String,
    /// 1–64 characters of `[A-Za-z0-9_.:-]`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.:-]+$")]
    platform_user_id: String,
    /// 1–100 characters: the user's current name on the platform.
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\u0000]*$")]
    platform_username: String,
    /// An http(s) URL of at most 2048 characters; absent, `null` or `""` mean no avatar.
    #[schema(max_length = 2048, pattern = r"^[^\u0000]*$")]
    platform_avatar_url: Option<String>,
}

impl RequestBody for BotCodeBody {
    fn parse(fields: &mut Fields, app: &App) -> ApiResult<Self> {
        let CodeRequestBody {
            platform,
            platform_user_id,
        } = CodeRequestBody::parse(fields, app)?;
        let platform_username = fields.req_str("platform_username")?;
        check_text("platform_username", platform_username, 1, 100, |_| true)?;
        let avatar = fields.opt_str("platform_avatar_url")?.filter(|s| !s.is_empty());
        if let Some(url) = avatar {
            if url.chars().count() > 2048 {
                return Err(ApiError::validation(
                    "platform_avatar_url",
                    "platform_avatar_url must be at most 2048 characters",
                ));
            }
            if !is_http_url(url) {
                return Err(ApiError::validation(
                    "platform_avatar_url",
                    "platform_avatar_url must be a valid URL",
                ));
            }
        }
        Ok(BotCodeBody {
            platform,
            platform_user_id,
            platform_username: platform_username.to_owned(),
            platform_avatar_url: avatar.map(str::to_owned),
        })
    }
}

impl BotCodeBody {
    fn report(&self) -> BotReport<'_> {
        BotReport {
            identity: Identity {
                platform: &self.platform,
                platform_user_id: &self.platform_user_id,
            },
            platform_username: &self.platform_username,
            platform_avatar_url: self.platform_avatar_url.as_deref(),
        }
    }
}

pub fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

#[derive(Serialize, ToSchema)]
pub struct PendingCode {
    code: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Timestamp>,
}

/// A bot fetches the pending web code of an identity (Official bots only).
#[utoipa::path(post, path = "/v1/authentication/bot/login-code", tag = "authentication", request_body = BotCodeBody, security(("api_key" = [])),
    responses((status = 200, body = PendingCode), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bot_login_code(
    State(app): State<AppState>,
    BotCaller(bot): BotCaller,
    body: Result<Body<BotCodeBody>, ApiError>,
) -> ApiResult<Json<PendingCode>> {
    // The Official check comes before anything about the body (00-conventions §4, steps 5 and 7).
    auth::check_code_bot(&app, &bot).await?;
    let Body(body) = body?;
    auth::check_bot_platform(&bot, &body.platform)?;
    let pending = auth::bot_login_code(&app, body.report()).await?;
    Ok(Json(match pending {
        Some((code, expires_at)) => PendingCode {
            code: Some(code),
            expires_at: Some(Timestamp(expires_at)),
        },
        None => PendingCode {
            code: None,
            expires_at: None,
        },
    }))
}

#[derive(Serialize, ToSchema)]
pub struct IssuedCode {
    code: String,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

/// A bot gets a code for an existing user (quick login; Official bots only).
#[utoipa::path(post, path = "/v1/authentication/bot/send-code", tag = "authentication", request_body = BotCodeBody, security(("api_key" = [])),
    responses((status = 200, body = IssuedCode), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bot_send_code(
    State(app): State<AppState>,
    BotCaller(bot): BotCaller,
    body: Result<Body<BotCodeBody>, ApiError>,
) -> ApiResult<Json<IssuedCode>> {
    // As in `bot_login_code`: the Official check first.
    auth::check_code_bot(&app, &bot).await?;
    let Body(body) = body?;
    auth::check_bot_platform(&bot, &body.platform)?;
    let (code, expires_at) = auth::bot_send_code(&app, &bot, body.report()).await?;
    Ok(Json(IssuedCode {
        code,
        expires_at: Timestamp(expires_at),
    }))
}

/// Refuses a locked-out client IP before the body is read (10-auth §6.5, step 1).
pub struct NotLockedOut;

impl FromRequestParts<AppState> for NotLockedOut {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Public(caller) = Public::from_request_parts(parts, app).await?;
        auth::check_lockout(app, caller.client_ip).await?;
        Ok(NotLockedOut)
    }
}

#[derive(ToSchema)]
pub struct VerifyBody {
    /// The 8-character code; any other string is answered `ERR_INVALID_CODE`.
    #[schema(pattern = r"^[^\u0000]*$")]
    code: String,
}

impl RequestBody for VerifyBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(VerifyBody {
            code: fields.req_str("code")?.to_owned(),
        })
    }
}

/// Exchange a code for a session; creates the account on first login.
#[utoipa::path(post, path = "/v1/authentication/verify", tag = "authentication", request_body = VerifyBody,
    responses((status = 200, body = Verified, description = "sets the session cookie"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn verify(
    State(app): State<AppState>,
    Public(caller): Public,
    _: NotLockedOut,
    headers: HeaderMap,
    Body(body): Body<VerifyBody>,
) -> ApiResult<Response> {
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let (verified, opened) =
        auth::verify(&app, &body.code, caller.client_ip, user_agent, caller.session.as_ref()).await?;
    let cookie = HeaderValue::from_str(&sessions::set_cookie(&app, &opened)).map_err(ApiError::internal)?;
    Ok(([(SET_COOKIE, cookie)], Json::<Verified>(verified)).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct Message {
    message: &'static str,
}

/// End the current session and clear the cookie.
#[utoipa::path(post, path = "/v1/authentication/logout", tag = "authentication", security(("session" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn logout(State(app): State<AppState>, auth: AnySession) -> ApiResult<Response> {
    auth::logout(&app, &auth.session).await?;
    let cookie = HeaderValue::from_str(&sessions::clear_cookie(&app)).map_err(ApiError::internal)?;
    Ok(([(SET_COOKIE, cookie)], Json(Message { message: "Logged out" })).into_response())
}

/// Become a stranger: an anonymous account with one session, for matchmaking. A caller who is
/// already a stranger gets that stranger back, and nothing is created.
#[utoipa::path(post, path = "/v1/authentication/stranger", tag = "authentication",
    responses((status = 200, body = StrangerSession, description = "sets the session cookie when `user_created`"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn become_stranger(
    State(app): State<AppState>,
    Public(caller): Public,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // Public, yet it sets a cookie and spends the address group's quota (91-matchmaking §8.1).
    check_origin(&headers, &app.config.cors.allowed_origins)?;
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let (stranger, opened) =
        strangers::become_stranger(&app, caller.session.as_ref(), caller.client_ip, user_agent).await?;
    let Some(opened) = opened else {
        return Ok(Json(stranger).into_response());
    };
    let cookie = HeaderValue::from_str(&sessions::set_cookie(&app, &opened)).map_err(ApiError::internal)?;
    Ok(([(SET_COOKIE, cookie)], Json(stranger)).into_response())
}

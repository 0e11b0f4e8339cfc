//! `/v1/users/…` (20-users).

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::input::Fields;
use crate::domain::profile::{self, ProfileSearchItem, ProfileView, SentField, UpdateOutcome};
use crate::domain::users::check_username;
use crate::domain::views::{
    self, ActiveSession, ChatBrief, EndedSession, OwnModerationAction, SubscriptionHistoryEntry, UserPrivate,
};
use crate::domain::{moderation, sessions, subscriptions};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{parse_path_id, Body, Query, RequestBody};
use crate::http::caller::{AnySession, Authenticated, Viewer};
use crate::http::openapi::ErrorBody;
use crate::tier::Tier;
use crate::time::Timestamp;

pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(user_by_id))
        .routes(routes!(user_by_name))
}

pub fn auth_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(update_me))
        .routes(routes!(my_sessions))
        .routes(routes!(destroy_session))
        .routes(routes!(destroy_other_sessions))
        .routes(routes!(my_subscription))
        .routes(routes!(my_punishments))
        .routes(routes!(my_chats))
        .routes(routes!(search))
}

/// One path segment, percent-decoded; an undecodable one names nothing.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(p)) if !p.contains('\0') => Ok(PathParam(p)),
            _ => Err(ApiError::NotFound),
        }
    }
}

/// A bare-array page with its `X-Total-Count`.
pub fn counted<T: Serialize>(items: Vec<T>, total: i64) -> Response {
    let mut response = Json(items).into_response();
    response.headers_mut().insert("x-total-count", HeaderValue::from(total));
    response
}

/// A view already rendered as JSON.
fn json(body: Bytes) -> Response {
    ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// A user by id: the public card, or the staff record for Admins and Owners who outrank them
/// (`session_history` filled only for Owners).
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "users", params(("user_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = ProfileView, description = "Public view (UserPublic) for any identified viewer; elevated view (UserDetail, session_history []) for an Admin who outranks the user; Owner view (UserDetail with session_history filled) for an Owner"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn user_by_id(State(app): State<AppState>, viewer: Viewer, PathParam(raw): PathParam) -> ApiResult<Response> {
    let id = parse_path_id("user_id", &raw)?;
    Ok(json(profile::view_by_id(&app, viewer.0.level(), id).await?))
}

/// The same, by username (case-insensitive).
#[utoipa::path(get, path = "/v1/users/profile/{username}", tag = "users", params(("username" = String, Path)),
    security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = ProfileView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn user_by_name(
    State(app): State<AppState>,
    viewer: Viewer,
    PathParam(name): PathParam,
) -> ApiResult<Json<ProfileView>> {
    Ok(Json(profile::view_by_name(&app, viewer.0.level(), &name).await?))
}

/// The caller's own private record.
#[utoipa::path(get, path = "/v1/users/me", tag = "users", security(("session" = [])),
    responses((status = 200, body = UserPrivate), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn me(State(app): State<AppState>, auth: AnySession) -> ApiResult<Response> {
    Ok(json(profile::own_view(&app, &auth.session.user).await?))
}

#[derive(ToSchema)]
pub struct UpdateMeBody {
    /// 3–32 characters of `[A-Za-z0-9._-]`, unique regardless of case.
    #[schema(value_type = Option<String>, min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9._-]+$")]
    username: SentField<String>,
    /// A linked platform, `discord_0` … `discord_5`, or `""`/`null` to clear.
    #[schema(value_type = Option<String>)]
    avatar_source: SentField<Option<String>>,
}

/// Nothing fails the whole body: a field's error is answered beside the fields that were saved.
impl RequestBody for UpdateMeBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let username = fields.has("username").then(|| {
            fields
                .opt_str("username")
                .and_then(|name| {
                    let name = name.unwrap_or_default();
                    check_username(name).map(|_| name.to_owned())
                })
                .map_err(|err| err.to_string())
        });
        let avatar_source = fields.raw("avatar_source").map(|raw| match raw {
            Value::Null => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err("avatar_source must be a string".to_owned()),
        });
        Ok(UpdateMeBody {
            username,
            avatar_source,
        })
    }
}

/// Change the caller's username and/or avatar choice; each field succeeds or fails on its own.
#[utoipa::path(post, path = "/v1/users/me/update", tag = "users", request_body = UpdateMeBody, security(("session" = [])),
    responses((status = 200, body = UpdateOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn update_me(
    State(app): State<AppState>,
    auth: Authenticated,
    Body(body): Body<UpdateMeBody>,
) -> ApiResult<Json<UpdateOutcome>> {
    Ok(Json(
        profile::update_me(&app, &auth.session, body.username, body.avatar_source).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct MySessions {
    sessions: Vec<ActiveSession>,
    history: Vec<EndedSession>,
}

/// The caller's active sessions and the 50 most recently ended.
#[utoipa::path(get, path = "/v1/users/me/sessions", tag = "sessions", security(("session" = [])),
    responses((status = 200, body = MySessions), (status = 401, body = ErrorBody)))]
async fn my_sessions(State(app): State<AppState>, auth: Authenticated) -> ApiResult<Json<MySessions>> {
    let (live, history) = sessions::own(&app, auth.user_id()).await?;
    Ok(Json(MySessions {
        sessions: live
            .into_iter()
            .map(|s| ActiveSession::from_row(s, auth.session.session_id))
            .collect(),
        history: history.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Destroyed {
    destroyed: bool,
}

/// End one of the caller's other sessions.
#[utoipa::path(post, path = "/v1/users/me/sessions/{token_suffix}/destroy", tag = "sessions", params(("token_suffix" = String, Path)),
    security(("session" = [])), responses((status = 200, body = Destroyed), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn destroy_session(
    State(app): State<AppState>,
    auth: Authenticated,
    PathParam(suffix): PathParam,
) -> ApiResult<Json<Destroyed>> {
    let well_formed = suffix.len() == 6
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(ApiError::SessionNotFound);
    }
    sessions::end_own(&app, auth.user_id(), &suffix, &auth.session.token_suffix).await?;
    Ok(Json(Destroyed { destroyed: true }))
}

#[derive(Serialize, ToSchema)]
pub struct DestroyedCount {
    destroyed: u64,
}

/// End every session of the caller except the current one.
#[utoipa::path(post, path = "/v1/users/me/sessions/destroy-others", tag = "sessions", security(("session" = [])),
    responses((status = 200, body = DestroyedCount), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn destroy_other_sessions(State(app): State<AppState>, auth: Authenticated) -> ApiResult<Json<DestroyedCount>> {
    let destroyed = sessions::end_own_others(&app, auth.user_id(), auth.session.session_id).await?;
    Ok(Json(DestroyedCount { destroyed }))
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionStatus {
    #[schema(value_type = i64, minimum = 0, maximum = 3)]
    subscription_tier: Tier,
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Timestamp>,
    is_active: bool,
    history: Vec<SubscriptionHistoryEntry>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

/// The caller's subscription and its history.
#[utoipa::path(get, path = "/v1/users/me/subscription", tag = "users", security(("session" = [])),
    responses((status = 200, body = SubscriptionStatus), (status = 401, body = ErrorBody)))]
async fn my_subscription(State(app): State<AppState>, auth: Authenticated) -> ApiResult<Json<SubscriptionStatus>> {
    let now = app.now();
    let user = &auth.session.user;
    let (tier, expires_at) = views::effective_tier(user, now);
    let history = subscriptions::history_of(&app, user.id).await?;
    Ok(Json(SubscriptionStatus {
        subscription_tier: tier,
        expires_at: expires_at.map(Timestamp),
        is_active: tier != Tier::Basic,
        history: history.into_iter().map(Into::into).collect(),
        created_at: Timestamp(user.created_at),
        updated_at: Timestamp(user.updated_at),
    }))
}

/// The caller's moderation history, newest first (bare array with `X-Total-Count`).
#[utoipa::path(get, path = "/v1/users/me/punishments", tag = "users", security(("session" = [])),
    params(("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1–100, default 50")),
    responses((status = 200, body = Vec<OwnModerationAction>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn my_punishments(State(app): State<AppState>, auth: Authenticated, query: Query) -> ApiResult<Response> {
    let page = query.page(50, 100, i64::MAX)?;
    let (rows, total) = moderation::own_page(&app, auth.user_id(), page.offset, page.limit).await?;
    Ok(counted(
        rows.into_iter().map(OwnModerationAction::from).collect(),
        total,
    ))
}

/// The group chats the caller owns and their direct chats, newest first (bare array with
/// `X-Total-Count`).
#[utoipa::path(get, path = "/v1/users/me/chats", tag = "users", security(("session" = [])),
    responses((status = 200, body = Vec<ChatBrief>), (status = 401, body = ErrorBody)))]
async fn my_chats(State(app): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let chats = crate::domain::chats::listed_for(&app, auth.user_id()).await?;
    let total = chats.len() as i64;
    Ok(counted(chats, total))
}

#[derive(Serialize, ToSchema)]
pub struct SearchPage {
    users: Vec<ProfileSearchItem>,
    total: i64,
    limit: i64,
    offset: i64,
}

/// Find users by part of their username or by exact id.
#[utoipa::path(get, path = "/v1/users/search", tag = "users", security(("session" = [])),
    params(("q" = Option<String>, Query, max_length = 50, description = "at most 50 characters"), ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "0–10000"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1–100, default 25")),
    responses((status = 200, body = SearchPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn search(State(app): State<AppState>, auth: Authenticated, query: Query) -> ApiResult<Json<SearchPage>> {
    let q = query.str("q").unwrap_or("");
    if q.chars().count() > 50 {
        return Err(ApiError::validation("q", "q must be at most 50 characters"));
    }
    let page = query.page(25, 100, 10_000)?;
    let (users, total) = profile::search(&app, auth.level(), q, page.offset, page.limit).await?;
    Ok(Json(SearchPage {
        users,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

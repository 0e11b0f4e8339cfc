//! `/v1/notifications…` and `POST /v1/admin/notifications` (80-notifications-portal §1).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::input::{trimmed_text, Fields};
use crate::domain::notifications::{self, NewNotification, Notification, TYPES};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{parse_path_id, Body, Query, RequestBody};
use crate::http::caller::{Authenticated, RequireAdmin, RequireLevel, Unrestricted};
use crate::http::openapi::{ErrorBody, NotificationKind};
use crate::http::users::PathParam;

pub fn auth_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(unread_count))
        .routes(routes!(mark_read))
        .routes(routes!(mark_all_read))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send))
}

#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    /// The page, newest first.
    notifications: Vec<Notification>,
    /// All notifications visible to the caller.
    total: i64,
    /// Of those, the ones the caller has not read.
    unread: i64,
    offset: i64,
    limit: i64,
}

/// The caller's notifications, newest first, with total and unread counts.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", security(("session" = [])),
    params(("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1–100, default 50")),
    responses((status = 200, body = NotificationList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list(State(app): State<AppState>, auth: Authenticated, query: Query) -> ApiResult<Json<NotificationList>> {
    let page = query.page(50, 100, i64::MAX)?;
    let found = notifications::page(&app, &auth.session.user, page.offset, page.limit).await?;
    Ok(Json(NotificationList {
        notifications: found.notifications,
        total: found.total,
        unread: found.unread,
        offset: page.offset,
        limit: page.limit,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    unread: i64,
}

/// How many of the caller's notifications are unread.
#[utoipa::path(get, path = "/v1/notifications/unread-count", tag = "notifications", security(("session" = [])),
    responses((status = 200, body = UnreadCount), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn unread_count(State(app): State<AppState>, auth: Authenticated) -> ApiResult<Json<UnreadCount>> {
    let unread = notifications::unread_count(&app, &auth.session.user).await?;
    Ok(Json(UnreadCount { unread }))
}

/// Mark one notification read.
#[utoipa::path(post, path = "/v1/notifications/{notification_id}/read", tag = "notifications",
    params(("notification_id" = i64, Path, minimum = 1, description = "≥ 1")), security(("session" = [])),
    responses((status = 200, body = Notification), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn mark_read(
    State(app): State<AppState>,
    auth: Authenticated,
    PathParam(raw): PathParam,
) -> ApiResult<Json<Notification>> {
    let notification_id = parse_path_id("notification_id", &raw)?;
    Ok(Json(
        notifications::mark_read(&app, &auth.session.user, notification_id).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct Marked {
    /// Notifications that were unread and are now read.
    marked: u64,
}

/// Mark every notification the caller sees as read.
#[utoipa::path(post, path = "/v1/notifications/read-all", tag = "notifications", security(("session" = [])),
    responses((status = 200, body = Marked), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn mark_all_read(State(app): State<AppState>, auth: Authenticated) -> ApiResult<Json<Marked>> {
    let marked = notifications::mark_all_read(&app, &auth.session.user).await?;
    Ok(Json(Marked { marked }))
}

#[derive(ToSchema)]
pub struct SendNotificationBody {
    /// ≥ 1; absent or `null` broadcasts to every user.
    #[schema(minimum = 1)]
    user_id: Option<i64>,
    /// 1–100 characters after trimming.
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    title: String,
    /// 1–2000 characters after trimming.
    #[schema(min_length = 1, max_length = 2000, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    body: String,
    /// `info` (default), `success`, `warning` or `error`.
    #[schema(rename = "type", value_type = Option<NotificationKind>, inline)]
    kind: String,
}

impl RequestBody for SendNotificationBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let user_id = match fields.opt_i64("user_id")? {
            Some(id) if id < 1 => return Err(ApiError::validation("user_id", "user_id must be at least 1")),
            other => other,
        };
        let title = trimmed_text("title", fields.req_str("title")?, 1, 100)?;
        let body = trimmed_text("body", fields.req_str("body")?, 1, 2000)?;
        let kind = match fields.opt_str("type")? {
            None => "info",
            Some(kind) if TYPES.contains(&kind) => kind,
            Some(_) => {
                return Err(ApiError::validation(
                    "type",
                    format!("type must be one of: {}", TYPES.join(", ")),
                ))
            }
        };
        Ok(SendNotificationBody {
            user_id,
            title,
            body,
            kind: kind.to_owned(),
        })
    }
}

impl From<SendNotificationBody> for NewNotification {
    fn from(body: SendNotificationBody) -> Self {
        NewNotification {
            user_id: body.user_id,
            title: body.title,
            body: body.body,
            kind: body.kind,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SendAnswer {
    message: String,
    notification: Notification,
    /// 1 for a targeted notification; for a broadcast, the users existing at send time.
    recipients: i64,
}

/// Send a notification to one user, or broadcast it to everyone.
#[utoipa::path(post, path = "/v1/admin/notifications", tag = "notifications", request_body = SendNotificationBody,
    security(("session" = [])),
    responses((status = 200, body = SendAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn send(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireAdmin>,
    Body(body): Body<SendNotificationBody>,
) -> ApiResult<Json<SendAnswer>> {
    let message = match body.user_id {
        Some(user_id) => format!("Notification sent to user {user_id}"),
        None => "Notification broadcast to all users".to_owned(),
    };
    let sent = notifications::send(&app, auth.actor(), body.into()).await?;
    Ok(Json(SendAnswer {
        message,
        notification: sent.notification,
        recipients: sent.recipients,
    }))
}

//! `/v1/admin/users/{user_id}/…`, `/v1/admin/moderation/actions` and `/v1/admin/audit/logs`
//! (30-admin-moderation).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::action_type::{ActionType, ACTION_TYPES};
use crate::domain::app::{App, AppState};
use crate::domain::audit::AuditFilter;
use crate::domain::audit::{AuditEvent, AuditLogEntry, EVENT_TYPES, TARGET_TYPES};
use crate::domain::input::{check_range, trimmed_text, Fields};
use crate::domain::moderation::{self, Undo};
use crate::domain::moderation::{ModerationFilter, ModerationRow};
use crate::domain::views::{ModerationAction, PermissionHistoryEntry};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{parse_path_id, Body, Query, RequestBody};
use crate::http::caller::{RequireAdmin, RequireLevel, RequireModerator, Unrestricted};
use crate::http::openapi::{ActionTypeName, ErrorBody, EventTypeName, TargetTypeName};
use crate::http::users::PathParam;
use crate::level::Level;
use crate::time::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(warn))
        .routes(routes!(timeout))
        .routes(routes!(untimeout))
        .routes(routes!(ban))
        .routes(routes!(unban))
        .routes(routes!(permission))
        .routes(routes!(delete))
        .routes(routes!(moderation_actions))
        .routes(routes!(audit_logs))
}

const TIMEOUT_MAX_S: i64 = 30 * 86_400;
const BAN_MAX_S: i64 = 365 * 86_400;

/// `reason`: required on every write here and on the stranger blocks, 1–500 characters after
/// trimming.
pub(super) fn reason(fields: &Fields) -> Result<String, ApiError> {
    trimmed_text("reason", fields.req_str("reason")?, 1, 500)
}

impl RequestBody for ReasonBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(ReasonBody {
            reason: reason(fields)?,
        })
    }
}

impl RequestBody for TimeoutBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(TimeoutBody {
            duration: check_range("duration", fields.req_i64("duration")?, 60, TIMEOUT_MAX_S)?,
            reason: reason(fields)?,
        })
    }
}

impl RequestBody for BanBody {
    /// A `duration` of 0, `null` or none is permanent: `None`.
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let reason = reason(fields)?;
        let duration = match fields.opt_i64("duration")? {
            None | Some(0) => None,
            Some(d) if (60..=BAN_MAX_S).contains(&d) => Some(d),
            Some(_) => {
                return Err(ApiError::validation(
                    "duration",
                    format!("duration must be 0 or between 60 and {BAN_MAX_S}"),
                ))
            }
        };
        Ok(BanBody { reason, duration })
    }
}

impl RequestBody for PermissionBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let level = Level::from_i64(fields.req_i64("level")?)
            .ok_or_else(|| ApiError::validation("level", "level must be between 0 and 3"))?;
        Ok(PermissionBody {
            level,
            reason: reason(fields)?,
        })
    }
}

#[derive(ToSchema)]
pub struct ReasonBody {
    /// 1–500 characters after trimming.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    pub(super) reason: String,
}

#[derive(ToSchema)]
pub struct TimeoutBody {
    /// Seconds, 60–2592000.
    #[schema(minimum = 60, maximum = 2592000)]
    duration: i64,
    /// 1–500 characters after trimming.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    reason: String,
}

#[derive(ToSchema)]
pub struct BanBody {
    /// 1–500 characters after trimming.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    reason: String,
    /// Seconds, 60–31536000; `0`, `null` or absent = permanent.
    #[schema(minimum = 60, maximum = 31536000)]
    duration: Option<i64>,
}

#[derive(ToSchema)]
pub struct PermissionBody {
    /// 0–3, within the caller's ceiling (Admin: 0–1, Owner: 0–2).
    #[schema(value_type = i64, minimum = 0, maximum = 3)]
    level: Level,
    /// 1–500 characters after trimming.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct ActionAnswer {
    message: String,
    action: ModerationAction,
}

fn action_answer(message: String, action: ModerationRow) -> Json<ActionAnswer> {
    Json(ActionAnswer {
        message,
        action: action.into(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct PermissionAnswer {
    message: String,
    change: PermissionHistoryEntry,
}

#[derive(Serialize, ToSchema)]
pub struct MessageAnswer {
    message: String,
}

/// Record a platform warning.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/warn", tag = "moderation",
    params(("user_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = ReasonBody, security(("session" = [])),
    responses((status = 200, body = ActionAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn warn(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireModerator>,
    PathParam(raw): PathParam,
    Body(ReasonBody { reason }): Body<ReasonBody>,
) -> ApiResult<Json<ActionAnswer>> {
    let user_id = parse_path_id("user_id", &raw)?;
    let action = moderation::warn(&app, auth.actor(), user_id, &reason).await?;
    Ok(action_answer(format!("User {user_id} warned"), action))
}

/// Time a user out; replaces a timeout in force.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/timeout", tag = "moderation",
    params(("user_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = TimeoutBody, security(("session" = [])),
    responses((status = 200, body = ActionAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn timeout(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireModerator>,
    PathParam(raw): PathParam,
    Body(body): Body<TimeoutBody>,
) -> ApiResult<Json<ActionAnswer>> {
    let user_id = parse_path_id("user_id", &raw)?;
    let action = moderation::timeout(&app, auth.actor(), user_id, body.duration, &body.reason).await?;
    let until = action.expires_at.map(|t| Timestamp(t).to_rfc3339()).unwrap_or_default();
    Ok(action_answer(format!("User {user_id} timed out until {until}"), action))
}

/// Lift a user's timeout.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/untimeout", tag = "moderation",
    params(("user_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = ReasonBody, security(("session" = [])),
    responses((status = 200, body = ActionAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn untimeout(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireModerator>,
    PathParam(raw): PathParam,
    Body(ReasonBody { reason }): Body<ReasonBody>,
) -> ApiResult<Json<ActionAnswer>> {
    let user_id = parse_path_id("user_id", &raw)?;
    let action = moderation::lift(&app, auth.actor(), user_id, Undo::Untimeout, &reason).await?;
    Ok(action_answer(format!("Timeout lifted for user {user_id}"), action))
}

/// Ban a user, permanently or for a time; ends all of their sessions.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/ban", tag = "moderation",
    params(("user_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = BanBody, security(("session" = [])),
    responses((status = 200, body = ActionAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn ban(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireAdmin>,
    PathParam(raw): PathParam,
    Body(body): Body<BanBody>,
) -> ApiResult<Json<ActionAnswer>> {
    let user_id = parse_path_id("user_id", &raw)?;
    let action = moderation::ban(&app, auth.actor(), user_id, body.duration, &body.reason).await?;
    let message = match action.expires_at {
        None => format!("User {user_id} banned permanently"),
        Some(until) => format!("User {user_id} banned until {}", Timestamp(until).to_rfc3339()),
    };
    Ok(action_answer(message, action))
}

/// Lift a user's ban.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/unban", tag = "moderation",
    params(("user_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = ReasonBody, security(("session" = [])),
    responses((status = 200, body = ActionAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn unban(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireAdmin>,
    PathParam(raw): PathParam,
    Body(ReasonBody { reason }): Body<ReasonBody>,
) -> ApiResult<Json<ActionAnswer>> {
    let user_id = parse_path_id("user_id", &raw)?;
    let action = moderation::lift(&app, auth.actor(), user_id, Undo::Unban, &reason).await?;
    Ok(action_answer(format!("User {user_id} unbanned"), action))
}

/// Set a user's permission level.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/permission", tag = "moderation",
    params(("user_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = PermissionBody, security(("session" = [])),
    responses((status = 200, body = PermissionAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn permission(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireAdmin>,
    PathParam(raw): PathParam,
    Body(PermissionBody { level, reason }): Body<PermissionBody>,
) -> ApiResult<Json<PermissionAnswer>> {
    let user_id = parse_path_id("user_id", &raw)?;
    let change = moderation::set_permission(&app, auth.actor(), user_id, level, &reason).await?;
    Ok(Json(PermissionAnswer {
        message: format!(
            "User {user_id} permission level set to {} ({})",
            level.as_i64(),
            level.name()
        ),
        change: change.into(),
    }))
}

/// Hard-delete a user and what belongs to them.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/delete", tag = "moderation",
    params(("user_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = ReasonBody, security(("session" = [])),
    responses((status = 200, body = MessageAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireAdmin>,
    PathParam(raw): PathParam,
    Body(ReasonBody { reason }): Body<ReasonBody>,
) -> ApiResult<Json<MessageAnswer>> {
    let user_id = parse_path_id("user_id", &raw)?;
    moderation::delete(&app, auth.actor(), user_id, &reason).await?;
    Ok(Json(MessageAnswer {
        message: format!("User {user_id} deleted"),
    }))
}

/// A value of a fixed set, or the contract's `must be one of` message.
fn one_of<'q>(query: &'q Query, name: &str, allowed: &[&str]) -> Result<Option<&'q str>, ApiError> {
    match query.str(name) {
        Some(value) if !allowed.contains(&value) => Err(ApiError::validation(
            name,
            format!("{name} must be one of: {}", allowed.join(", ")),
        )),
        other => Ok(other),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModerationPage {
    actions: Vec<ModerationAction>,
    total: i64,
    limit: i64,
    offset: i64,
}

/// Search every moderation action, newest first.
#[utoipa::path(get, path = "/v1/admin/moderation/actions", tag = "moderation", security(("session" = [])),
    params(("user_id" = Option<i64>, Query, minimum = 1, description = "≥ 1"), ("issued_by" = Option<i64>, Query, minimum = 1, description = "≥ 1"),
           ("action_type" = inline(Option<ActionTypeName>), Query), ("chat_id" = Option<i64>, Query, minimum = 1, description = "≥ 1"),
           ("active_only" = Option<bool>, Query), ("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"),
           ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1–100, default 25")),
    responses((status = 200, body = ModerationPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn moderation_actions(
    State(app): State<AppState>,
    _staff: RequireModerator,
    query: Query,
) -> ApiResult<Json<ModerationPage>> {
    let filter = ModerationFilter {
        user_id: query.id("user_id")?,
        issued_by: query.id("issued_by")?,
        action_type: one_of(&query, "action_type", &ACTION_TYPES)?.and_then(ActionType::parse),
        chat_id: query.id("chat_id")?,
        active_only: query.bool("active_only", false)?,
    };
    let page = query.page(25, 100, i64::MAX)?;
    let (rows, total) = moderation::search(&app, &filter, page.offset, page.limit).await?;
    Ok(Json(ModerationPage {
        actions: rows.into_iter().map(Into::into).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    items: Vec<AuditLogEntry>,
    total: i64,
    offset: i64,
    limit: i64,
}

/// Read the audit log, newest first.
#[utoipa::path(get, path = "/v1/admin/audit/logs", tag = "audit", security(("session" = [])),
    params(("event_type" = inline(Option<EventTypeName>), Query), ("target_type" = inline(Option<TargetTypeName>), Query, description = "user, bot, chat or system"),
           ("target_id" = Option<i64>, Query, minimum = 1, description = "≥ 1"), ("actor_id" = Option<i64>, Query, minimum = 1, description = "≥ 1"),
           ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339; created_at ≥ since"),
           ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339; created_at < until"),
           ("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "1–200, default 50")),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn audit_logs(State(app): State<AppState>, _staff: RequireModerator, query: Query) -> ApiResult<Json<AuditPage>> {
    let event_type = one_of(&query, "event_type", &EVENT_TYPES)?.and_then(AuditEvent::parse);
    let target_type = one_of(&query, "target_type", &TARGET_TYPES)?;
    let target_id = query.id("target_id")?;
    let actor_id = query.id("actor_id")?;
    let since = query.timestamp("since")?;
    let until = query.timestamp("until")?;
    if let (Some(since), Some(until)) = (since, until) {
        if since >= until {
            return Err(ApiError::validation("until", "until must be later than since"));
        }
    }
    let page = query.page(50, 200, i64::MAX)?;
    let filter = AuditFilter {
        event_type,
        target_type,
        target_id,
        actor_id,
        since: since.map(|t| t.0),
        until: until.map(|t| t.0),
    };
    let (rows, total) = crate::domain::audit::search(&app, &filter, page.offset, page.limit).await?;
    Ok(Json(AuditPage {
        items: rows.into_iter().map(Into::into).collect(),
        total,
        offset: page.offset,
        limit: page.limit,
    }))
}

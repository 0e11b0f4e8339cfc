//! Matchmaking's endpoints for its callers, registered users and strangers alike
//! (91-matchmaking §8.2–8.7). The rules are in `domain::matchmaking`.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::input::Fields;
use crate::domain::match_reports;
use crate::domain::matchmaking::queue::{self, Interests};
use crate::domain::matchmaking::{lifecycle, MatchStatus};
use crate::error::ApiResult;
use crate::http::body::{Body, RequestBody};
use crate::http::caller::{AnySession, Unrestricted};
use crate::http::moderation::reason;
use crate::http::openapi::ErrorBody;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enqueue))
        .routes(routes!(status))
        .routes(routes!(dequeue))
        .routes(routes!(leave))
        .routes(routes!(block))
        .routes(routes!(report))
}

#[derive(ToSchema)]
pub struct EnqueueBody {
    /// 1–3 interest tags; duplicates are removed, keeping the first.
    #[schema(value_type = Vec<InterestTag>, min_items = 1, max_items = 3)]
    interests: Interests,
}

/// The schema of an interest tag (91-matchmaking §3.1), as list items carry it.
pub struct InterestTag;

impl utoipa::PartialSchema for InterestTag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[a-z0-9]{3,12}$"))
            .description(Some("An interest tag: 3–12 lower-case ASCII letters and digits"))
            .into()
    }
}

impl ToSchema for InterestTag {}

impl RequestBody for EnqueueBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(EnqueueBody {
            interests: Interests::read(fields.raw("interests"))?,
        })
    }
}

/// Start searching on 1–3 interest tags; paired at once when a compatible caller is waiting.
#[utoipa::path(post, path = "/v1/portal/match", tag = "matchmaking", request_body = EnqueueBody,
    security(("session" = [])),
    responses((status = 200, body = MatchStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn enqueue(
    State(app): State<AppState>,
    Unrestricted(auth): Unrestricted<AnySession>,
    Body(body): Body<EnqueueBody>,
) -> ApiResult<Json<MatchStatus>> {
    Ok(Json(queue::enqueue(&app, &auth.session, body.interests).await?))
}

/// The caller's matchmaking state: searching, matched or idle, with their direct chats.
#[utoipa::path(get, path = "/v1/portal/match/status", tag = "matchmaking", security(("session" = [])),
    responses((status = 200, body = MatchStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn status(State(app): State<AppState>, auth: AnySession) -> ApiResult<Json<MatchStatus>> {
    Ok(Json(queue::status(&app, &auth.session.user).await?))
}

/// Stop searching. Idempotent; direct chats are not touched.
#[utoipa::path(post, path = "/v1/portal/match/dequeue", tag = "matchmaking", security(("session" = [])),
    responses((status = 200, body = MatchStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn dequeue(State(app): State<AppState>, auth: AnySession) -> ApiResult<Json<MatchStatus>> {
    Ok(Json(queue::dequeue(&app, &auth.session.user).await?))
}

#[derive(ToSchema)]
pub struct LeaveBody {
    /// Required when the caller is in more than one active direct chat.
    #[schema(minimum = 1)]
    chat_id: Option<i64>,
}

impl RequestBody for LeaveBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(LeaveBody {
            chat_id: fields.opt_positive("chat_id")?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeftDirectChat {
    /// Always `Left direct chat`.
    message: &'static str,
    chat_id: i64,
}

/// End one of the caller's active direct chats.
#[utoipa::path(post, path = "/v1/portal/match/leave", tag = "matchmaking", request_body = LeaveBody,
    security(("session" = [])),
    responses((status = 200, body = LeftDirectChat), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn leave(
    State(app): State<AppState>,
    auth: AnySession,
    Body(body): Body<LeaveBody>,
) -> ApiResult<Json<LeftDirectChat>> {
    let chat_id = lifecycle::leave(&app, &auth.session.user, body.chat_id).await?;
    Ok(Json(LeftDirectChat {
        message: "Left direct chat",
        chat_id,
    }))
}

#[derive(ToSchema)]
pub struct DirectChatBody {
    /// One of the caller's direct chats, active or archived.
    #[schema(minimum = 1)]
    chat_id: i64,
}

impl RequestBody for DirectChatBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(DirectChatBody {
            chat_id: fields.req_positive("chat_id")?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PeerBlocked {
    /// Always `Peer blocked`.
    message: &'static str,
    chat_id: i64,
    /// Whether this request ended the chat.
    chat_ended: bool,
}

/// Never be paired with this chat's peer again; an active chat ends as the caller's leave.
#[utoipa::path(post, path = "/v1/portal/match/block", tag = "matchmaking", request_body = DirectChatBody,
    security(("session" = [])),
    responses((status = 200, body = PeerBlocked), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn block(
    State(app): State<AppState>,
    auth: AnySession,
    Body(body): Body<DirectChatBody>,
) -> ApiResult<Json<PeerBlocked>> {
    let chat_ended = lifecycle::block(&app, &auth.session.user, body.chat_id).await?;
    Ok(Json(PeerBlocked {
        message: "Peer blocked",
        chat_id: body.chat_id,
        chat_ended,
    }))
}

#[derive(ToSchema)]
pub struct ReportBody {
    /// One of the caller's direct chats, active or archived.
    #[schema(minimum = 1)]
    chat_id: i64,
    /// 1–500 characters after trimming.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    reason: String,
}

impl RequestBody for ReportBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(ReportBody {
            chat_id: fields.req_positive("chat_id")?,
            reason: reason(fields)?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportReceived {
    /// Always `Report received`.
    message: &'static str,
    report_id: i64,
}

/// Report the peer of one of the caller's direct chats to staff.
#[utoipa::path(post, path = "/v1/portal/match/report", tag = "matchmaking", request_body = ReportBody,
    security(("session" = [])),
    responses((status = 200, body = ReportReceived), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn report(
    State(app): State<AppState>,
    auth: AnySession,
    Body(body): Body<ReportBody>,
) -> ApiResult<Json<ReportReceived>> {
    let report_id = match_reports::file(&app, &auth.session.user, body.chat_id, &body.reason).await?;
    Ok(Json(ReportReceived {
        message: "Report received",
        report_id,
    }))
}

//! The staff side of matchmaking (91-matchmaking §8.8–8.13): `/v1/admin/match/…` (reports and
//! counters) and `/v1/admin/strangers/…` (stranger blocks).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::chats::input::optional_text;
use crate::domain::input::{check_range, Fields};
use crate::domain::match_reports::{self, MatchReport, ReportFilter};
use crate::domain::match_stats::{self, MatchStats};
use crate::domain::stranger_blocks::{self, BlockFilter, StrangerBlock, MAX_DURATION_S};
use crate::error::ApiResult;
use crate::http::body::{parse_path_id, Body, Query, RequestBody};
use crate::http::caller::{RequireLevel, RequireModerator, Unrestricted};
use crate::http::moderation::{reason, ReasonBody};
use crate::http::openapi::ErrorBody;
use crate::http::users::PathParam;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reports))
        .routes(routes!(handle_report))
        .routes(routes!(stats))
        .routes(routes!(block_stranger))
        .routes(routes!(blocks))
        .routes(routes!(lift_block))
}

#[derive(Serialize, ToSchema)]
pub struct ReportPage {
    reports: Vec<MatchReport>,
    total: i64,
    limit: i64,
    offset: i64,
}

/// List matchmaking reports, newest first.
#[utoipa::path(get, path = "/v1/admin/match/reports", tag = "matchmaking", security(("session" = [])),
    params(("handled" = Option<bool>, Query, description = "true/false/1/0; absent: both"),
           ("user_id" = Option<i64>, Query, minimum = 1, description = "≥ 1; the reporter or the reported user"),
           ("chat_id" = Option<i64>, Query, minimum = 1, description = "≥ 1"),
           ("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"),
           ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1–100, default 25")),
    responses((status = 200, body = ReportPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn reports(State(app): State<AppState>, _staff: RequireModerator, query: Query) -> ApiResult<Json<ReportPage>> {
    let filter = ReportFilter {
        handled: query.opt_bool("handled")?,
        user_id: query.id("user_id")?,
        chat_id: query.id("chat_id")?,
    };
    let page = query.page(25, 100, i64::MAX)?;
    let (reports, total) = match_reports::search(&app, &filter, page.offset, page.limit).await?;
    Ok(Json(ReportPage {
        reports,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

#[derive(ToSchema)]
pub struct HandleReportBody {
    /// At most 500 characters after trimming; empty counts as `null`.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    note: Option<String>,
}

impl RequestBody for HandleReportBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(HandleReportBody {
            note: optional_text("note", fields.opt_str("note")?, 500)?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct HandledReport {
    message: String,
    report: MatchReport,
}

/// Mark a matchmaking report handled; a handled one is answered unchanged.
#[utoipa::path(post, path = "/v1/admin/match/reports/{report_id}/handle", tag = "matchmaking",
    params(("report_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = HandleReportBody, security(("session" = [])),
    responses((status = 200, body = HandledReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn handle_report(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireModerator>,
    PathParam(raw): PathParam,
    Body(HandleReportBody { note }): Body<HandleReportBody>,
) -> ApiResult<Json<HandledReport>> {
    let report_id = parse_path_id("report_id", &raw)?;
    let report = match_reports::handle(&app, auth.actor(), report_id, note.as_deref()).await?;
    Ok(Json(HandledReport {
        message: format!("Report {report_id} handled"),
        report,
    }))
}

/// Queue and direct-chat counters, as of this request.
#[utoipa::path(get, path = "/v1/admin/match/stats", tag = "matchmaking", security(("session" = [])),
    responses((status = 200, body = MatchStats), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn stats(State(app): State<AppState>, _staff: RequireModerator) -> ApiResult<Json<MatchStats>> {
    Ok(Json(match_stats::current(&app).await?))
}

#[derive(ToSchema)]
pub struct StrangerBlockBody {
    /// 1–500 characters after trimming.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    reason: String,
    /// Seconds, 0–31536000; `0` = permanent. Required: a block also covers an address group that
    /// others may share, so a permanent one is chosen, never defaulted into.
    #[schema(minimum = 0, maximum = 31536000)]
    duration: i64,
}

impl RequestBody for StrangerBlockBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(StrangerBlockBody {
            reason: reason(fields)?,
            duration: check_range("duration", fields.req_i64("duration")?, 0, MAX_DURATION_S)?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct BlockAnswer {
    message: String,
    block: StrangerBlock,
}

/// Block a stranger, and the address group it was created from, from matchmaking.
#[utoipa::path(post, path = "/v1/admin/strangers/{user_id}/block", tag = "matchmaking",
    params(("user_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = StrangerBlockBody, security(("session" = [])),
    responses((status = 200, body = BlockAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn block_stranger(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireModerator>,
    PathParam(raw): PathParam,
    Body(StrangerBlockBody { reason, duration }): Body<StrangerBlockBody>,
) -> ApiResult<Json<BlockAnswer>> {
    let user_id = parse_path_id("user_id", &raw)?;
    let block = stranger_blocks::block(&app, auth.actor(), user_id, &reason, duration).await?;
    Ok(Json(BlockAnswer {
        message: format!("Stranger {user_id} blocked from matchmaking"),
        block,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct BlockPage {
    blocks: Vec<StrangerBlock>,
    total: i64,
    limit: i64,
    offset: i64,
}

/// List stranger blocks, newest first.
#[utoipa::path(get, path = "/v1/admin/strangers/blocks", tag = "matchmaking", security(("session" = [])),
    params(("user_id" = Option<i64>, Query, minimum = 1, description = "≥ 1; blocks of this stranger"),
           ("active_only" = Option<bool>, Query, description = "true/false/1/0, default false: only blocks in force now"),
           ("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"),
           ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1–100, default 25")),
    responses((status = 200, body = BlockPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn blocks(State(app): State<AppState>, _staff: RequireModerator, query: Query) -> ApiResult<Json<BlockPage>> {
    let filter = BlockFilter {
        user_id: query.id("user_id")?,
        active_only: query.bool("active_only", false)?,
    };
    let page = query.page(25, 100, i64::MAX)?;
    let (blocks, total) = stranger_blocks::search(&app, &filter, page.offset, page.limit).await?;
    Ok(Json(BlockPage {
        blocks,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Lift a stranger block early; one not in force is answered unchanged.
#[utoipa::path(post, path = "/v1/admin/strangers/blocks/{block_id}/lift", tag = "matchmaking",
    params(("block_id" = i64, Path, minimum = 1, description = "≥ 1")), request_body = ReasonBody, security(("session" = [])),
    responses((status = 200, body = BlockAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn lift_block(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireModerator>,
    PathParam(raw): PathParam,
    Body(ReasonBody { reason }): Body<ReasonBody>,
) -> ApiResult<Json<BlockAnswer>> {
    let block_id = parse_path_id("block_id", &raw)?;
    let block = stranger_blocks::lift(&app, auth.actor(), block_id, &reason).await?;
    Ok(Json(BlockAnswer {
        message: format!("Stranger block {block_id} lifted"),
        block,
    }))
}

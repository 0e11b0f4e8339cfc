//! The reports participants make about their peers (91-matchmaking §5.2, §8.7–8.9): filed by a
//! participant, read by staff and marked handled. Handling acts on the report, not on a user, so no rank rule applies; sanctions go
//! through the moderation acts and stranger blocks, each with its own rules.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::matchmaking::lifecycle;
use crate::domain::staff::Actor;
use crate::error::ApiError;
use crate::store;
use crate::store::match_reports::NewReport;
pub use crate::store::match_reports::{ReportFilter, ReportParty, ReportRow};
use crate::store::matchmaking::ParticipantRow;
use crate::store::users::UserRow;
use crate::time::Timestamp;

/// `MatchReport` (91-matchmaking §6.4).
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchReport {
    pub id: i64,
    /// The direct chat; it may since have been deleted.
    pub chat_id: i64,
    pub reporter: ReportParty,
    pub reported: ReportParty,
    pub reason: String,
    pub matched_on: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub chat_created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub handled: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub handled_at: Option<Timestamp>,
    /// Kept if that staff member is deleted.
    pub handled_by_id: Option<i64>,
    pub note: Option<String>,
}

impl From<ReportRow> for MatchReport {
    fn from(r: ReportRow) -> Self {
        MatchReport {
            id: r.id,
            chat_id: r.chat_id,
            reporter: r.reporter,
            reported: r.reported,
            reason: r.reason,
            matched_on: r.matched_on,
            chat_created_at: Timestamp(r.chat_created_at),
            created_at: Timestamp(r.created_at),
            handled: r.handled_at.is_some(),
            handled_at: r.handled_at.map(Timestamp),
            handled_by_id: r.handled_by_id,
            note: r.note,
        }
    }
}

/// `GET /v1/admin/match/reports`: a page of matching reports, newest first, and how many match.
pub async fn search(
    app: &App,
    filter: &ReportFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<MatchReport>, i64), ApiError> {
    let mut conn = app.store.acquire().await?;
    let (rows, total) = store::match_reports::search(&mut conn, filter, offset, limit).await?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

/// `POST /v1/admin/match/reports/{report_id}/handle`: an unhandled report becomes handled, with its
/// `MATCH_REPORT_HANDLE` audit row in the same transaction; a handled one is answered as it is and
/// nothing is written.
pub async fn handle(app: &App, actor: Actor, report_id: i64, note: Option<&str>) -> Result<MatchReport, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let Some(report) = store::match_reports::handle(&mut tx, report_id, actor.id, note, now).await? else {
        let unchanged = store::match_reports::by_id(&mut tx, report_id)
            .await?
            .ok_or(ApiError::ReportNotFound)?;
        return Ok(unchanged.into());
    };
    audit::record(
        app,
        &mut tx,
        AuditEvent::MatchReportHandle,
        Some(actor.id),
        Target::User(report.reported.user_id),
        json!({"report_id": report.id, "chat_id": report.chat_id, "note": note}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(report.into())
}

impl From<&ParticipantRow> for ReportParty {
    fn from(p: &ParticipantRow) -> Self {
        ReportParty {
            user_id: p.user_id,
            username: p.username.clone(),
            is_stranger: p.is_stranger != 0,
            country_code: p.country_code.clone(),
        }
    }
}

/// `POST /v1/portal/match/report` (§8.7): a participant reports the peer of one of their direct
/// chats, active or archived; one unhandled report per reporter and chat. Returns its id. The
/// chat's row lock makes the check and the write one step, so two reports sent at once make one.
pub async fn file(app: &App, reporter: &UserRow, chat_id: i64, reason: &str) -> Result<i64, ApiError> {
    let mut tx = app.store.begin().await?;
    store::chats::lock(&mut tx, chat_id).await?;
    let (chat, _, participants) = lifecycle::own_direct_chat(app, &mut tx, reporter.id, chat_id).await?;
    if store::match_reports::unhandled_exists(&mut tx, reporter.id, chat_id).await? {
        return Err(ApiError::AlreadyReported);
    }
    let [own, peer] = participants.as_slice() else {
        return Err(ApiError::ChatNotFound);
    };
    let report = NewReport {
        chat_id,
        reporter: &ReportParty::from(own),
        reported: &ReportParty::from(peer),
        reason,
        matched_on: &lifecycle::matched_on(&chat),
        chat_created_at: chat.created_at,
        created_at: app.now(),
    };
    let id = store::match_reports::insert(&mut tx, &report).await?;
    tx.commit().await?;
    Ok(id)
}

//! Reports of a direct chat's peer (91-matchmaking §5.2). Ids, names and tags are plain values
//! copied when the report is made, so a report outlives the chat and both users unchanged.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};
use utoipa::ToSchema;

use super::Conn;

/// One participant as the chat's participant record showed them when the report was made: the
/// stored snapshot, which is also what staff are shown (`ReportParty`, 91-matchmaking §6.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReportParty {
    pub user_id: i64,
    pub username: String,
    pub is_stranger: bool,
    /// ISO 3166-1 alpha-2, upper case; `null` when unknown.
    pub country_code: Option<String>,
}

pub struct NewReport<'a> {
    pub chat_id: i64,
    pub reporter: &'a ReportParty,
    pub reported: &'a ReportParty,
    /// Already trimmed and checked.
    pub reason: &'a str,
    /// The chat's shared tags.
    pub matched_on: &'a [String],
    pub chat_created_at: i64,
    pub created_at: i64,
}

/// Stores a report; its id.
pub async fn insert(conn: &mut Conn, report: &NewReport<'_>) -> Result<i64, sqlx::Error> {
    let matched_on = serde_json::to_string(report.matched_on).map_err(|err| sqlx::Error::Encode(err.into()))?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO match_reports (chat_id, reporter_id, reporter_username, reporter_is_stranger, \
         reporter_country_code, reported_id, reported_username, reported_is_stranger, \
         reported_country_code, reason, matched_on, chat_created_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(report.chat_id)
    .bind(report.reporter.user_id)
    .bind(&report.reporter.username)
    .bind(super::flag(report.reporter.is_stranger))
    .bind(&report.reporter.country_code)
    .bind(report.reported.user_id)
    .bind(&report.reported.username)
    .bind(super::flag(report.reported.is_stranger))
    .bind(&report.reported.country_code)
    .bind(report.reason)
    .bind(matched_on)
    .bind(report.chat_created_at)
    .bind(report.created_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Whether `reporter_id` has a report about `chat_id` that staff have not handled yet.
pub async fn unhandled_exists(conn: &mut Conn, reporter_id: i64, chat_id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM match_reports WHERE reporter_id = $1 AND chat_id = $2 AND handled_at IS NULL LIMIT 1",
    )
    .bind(reporter_id)
    .bind(chat_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

#[derive(Debug, Clone)]
pub struct ReportRow {
    pub id: i64,
    pub chat_id: i64,
    pub reporter: ReportParty,
    pub reported: ReportParty,
    pub reason: String,
    pub matched_on: Vec<String>,
    pub chat_created_at: i64,
    pub created_at: i64,
    pub handled_at: Option<i64>,
    pub handled_by_id: Option<i64>,
    pub note: Option<String>,
}

const REPORT_COLUMNS: &str = "id, chat_id, reporter_id, reporter_username, reporter_is_stranger, \
    reporter_country_code, reported_id, reported_username, reported_is_stranger, reported_country_code, \
    reason, matched_on, chat_created_at, created_at, handled_at, handled_by_id, note";

fn party(row: &AnyRow, role: &str) -> Result<ReportParty, sqlx::Error> {
    Ok(ReportParty {
        user_id: row.try_get(format!("{role}_id").as_str())?,
        username: row.try_get(format!("{role}_username").as_str())?,
        is_stranger: row.try_get::<i64, _>(format!("{role}_is_stranger").as_str())? != 0,
        country_code: row.try_get(format!("{role}_country_code").as_str())?,
    })
}

impl FromRow<'_, AnyRow> for ReportRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let matched_on: String = row.try_get("matched_on")?;
        Ok(ReportRow {
            id: row.try_get("id")?,
            chat_id: row.try_get("chat_id")?,
            reporter: party(row, "reporter")?,
            reported: party(row, "reported")?,
            reason: row.try_get("reason")?,
            matched_on: serde_json::from_str(&matched_on).map_err(|err| sqlx::Error::ColumnDecode {
                index: "matched_on".into(),
                source: err.into(),
            })?,
            chat_created_at: row.try_get("chat_created_at")?,
            created_at: row.try_get("created_at")?,
            handled_at: row.try_get("handled_at")?,
            handled_by_id: row.try_get("handled_by_id")?,
            note: row.try_get("note")?,
        })
    }
}

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<ReportRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {REPORT_COLUMNS} FROM match_reports WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Marks an unhandled report handled; the report as it now is, or `None` when it does not exist
/// or was already handled (the condition is checked by the write itself, so of two handlers at
/// once only one succeeds).
pub async fn handle(
    conn: &mut Conn,
    id: i64,
    handled_by_id: i64,
    note: Option<&str>,
    now: i64,
) -> Result<Option<ReportRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE match_reports SET handled_at = $2, handled_by_id = $3, note = $4 \
         WHERE id = $1 AND handled_at IS NULL RETURNING {REPORT_COLUMNS}"
    ))
    .bind(id)
    .bind(now)
    .bind(handled_by_id)
    .bind(note)
    .fetch_optional(conn)
    .await
}

/// Filters of the staff list; `None` leaves a filter out.
#[derive(Debug, Default)]
pub struct ReportFilter {
    pub handled: Option<bool>,
    /// The reporter or the reported user.
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
}

/// A page of matching reports, newest first, and the number of all matches.
pub async fn search(
    conn: &mut Conn,
    filter: &ReportFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ReportRow>, i64), sqlx::Error> {
    let condition = "($1 IS NULL OR ($1 = 1 AND handled_at IS NOT NULL) OR ($1 = 0 AND handled_at IS NULL)) \
        AND ($2 IS NULL OR reporter_id = $2 OR reported_id = $2) AND ($3 IS NULL OR chat_id = $3)";
    let handled = filter.handled.map(super::flag);
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM match_reports WHERE {condition}"))
        .bind(handled)
        .bind(filter.user_id)
        .bind(filter.chat_id)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {REPORT_COLUMNS} FROM match_reports WHERE {condition} \
         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(handled)
    .bind(filter.user_id)
    .bind(filter.chat_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

/// Reports not handled yet.
pub async fn unhandled_count(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM match_reports WHERE handled_at IS NULL")
        .fetch_one(conn)
        .await?;
    Ok(count)
}

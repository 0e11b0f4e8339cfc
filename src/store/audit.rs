//! The audit log. Rows are written inside the transaction of the action they describe.

use std::sync::atomic::Ordering;

use serde_json::Value;
use sqlx::FromRow;

use super::{Conn, Faults};
use crate::audit_event::AuditEvent;

pub struct NewAudit<'a> {
    pub event_type: AuditEvent,
    pub actor_id: Option<i64>,
    pub target_type: &'a str,
    pub target_id: Option<i64>,
    pub metadata: Value,
    pub now: i64,
}

pub async fn insert(conn: &mut Conn, faults: &Faults, row: NewAudit<'_>) -> Result<i64, sqlx::Error> {
    if faults.fail_audit_insert.load(Ordering::SeqCst) {
        // An error that means "a bug", not "the database is away": the client sees a 500.
        return Err(sqlx::Error::InvalidArgument(
            "audit insert failed on purpose (test fault)".into(),
        ));
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO audit_log (event_type, actor_id, target_type, target_id, metadata, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(row.event_type.as_str())
    .bind(row.actor_id)
    .bind(row.target_type)
    .bind(row.target_id)
    .bind(row.metadata.to_string())
    .bind(row.now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub event_type: AuditEvent,
    pub actor_id: Option<i64>,
    pub target_type: String,
    pub target_id: Option<i64>,
    pub metadata: String,
    pub created_at: i64,
}

/// Filters of the audit log; `None` leaves a filter out. `since` is inclusive, `until` exclusive.
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    pub event_type: Option<AuditEvent>,
    pub target_type: Option<&'a str>,
    pub target_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// A page of matching rows, newest first, and the number of all matches.
pub async fn search(
    conn: &mut Conn,
    filter: &AuditFilter<'_>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AuditRow>, i64), sqlx::Error> {
    let condition = "($1 IS NULL OR event_type = $1) AND ($2 IS NULL OR target_type = $2) \
        AND ($3 IS NULL OR target_id = $3) AND ($4 IS NULL OR actor_id = $4) \
        AND ($5 IS NULL OR created_at >= $5) AND ($6 IS NULL OR created_at < $6)";
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM audit_log WHERE {condition}"))
        .bind(filter.event_type.map(AuditEvent::as_str))
        .bind(filter.target_type)
        .bind(filter.target_id)
        .bind(filter.actor_id)
        .bind(filter.since)
        .bind(filter.until)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT id, event_type, actor_id, target_type, target_id, metadata, created_at FROM audit_log \
         WHERE {condition} ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"
    ))
    .bind(filter.event_type.map(AuditEvent::as_str))
    .bind(filter.target_type)
    .bind(filter.target_id)
    .bind(filter.actor_id)
    .bind(filter.since)
    .bind(filter.until)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

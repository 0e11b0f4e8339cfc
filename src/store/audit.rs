//! The audit log. Rows are written inside the transaction of the action they describe.

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::{Conn, Faults};

pub struct NewAudit<'a> {
    pub event_type: &'a str,
    pub actor_id: Option<i64>,
    pub target_type: &'a str,
    pub target_id: Option<i64>,
    pub metadata: Value,
    pub now: i64,
}

pub async fn insert(conn: &mut Conn, faults: &Faults, row: NewAudit<'_>) -> Result<i64, sqlx::Error> {
    if faults.fail_audit_insert.load(Ordering::SeqCst) {
        return Err(sqlx::Error::Protocol(
            "audit insert failed on purpose (test fault)".into(),
        ));
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO audit_log (event_type, actor_id, target_type, target_id, metadata, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(row.event_type)
    .bind(row.actor_id)
    .bind(row.target_type)
    .bind(row.target_id)
    .bind(row.metadata.to_string())
    .bind(row.now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

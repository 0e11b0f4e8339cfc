//! Machine records and node heartbeats of browser rooms (92-browser-rooms §4.1, §10.1).

use super::{Backend, Conn};

/// A machine record (§4.1).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MachineRow {
    pub id: i64,
    pub chat_id: i64,
    pub state: String,
    pub engine: String,
    pub node: String,
    pub node_address: Option<String>,
    pub started_by: i64,
    pub route: String,
    pub browser: String,
    pub start_url: Option<String>,
    pub kiosk: i64,
    pub started_at: i64,
    pub running_since: Option<i64>,
    pub stopped_at: Option<i64>,
    pub stop_reason: Option<String>,
    pub stopped_by: Option<i64>,
    pub stop_requested: i64,
    pub stop_requested_by: Option<i64>,
    pub stop_audit_route: Option<String>,
    pub viewer_count: i64,
}

const MACHINE_SELECT: &str = "SELECT id, chat_id, state, engine, node, node_address, started_by, route, browser, \
    start_url, kiosk, started_at, running_since, stopped_at, stop_reason, stopped_by, stop_requested, \
    stop_requested_by, stop_audit_route, viewer_count FROM browser_machines";

/// What a new machine is started with.
pub struct NewMachine<'a> {
    pub chat_id: i64,
    pub engine: &'a str,
    pub node: &'a str,
    pub node_address: Option<&'a str>,
    pub started_by: i64,
    pub route: &'a str,
    pub browser: &'a str,
    pub start_url: Option<&'a str>,
    pub kiosk: bool,
    pub now: i64,
}

/// The answer of a claim (§4.2 step 4).
#[derive(Debug)]
pub enum Claim {
    Claimed(i64),
    /// The chat already has a machine that is not stopped.
    Exists,
    UserLimit,
    Capacity,
}

/// Writes the record of a new machine in state `starting` when the chat has none that is not
/// stopped, the starter is under `max_per_user` portal machines (`None`: no limit) and this node
/// under `max_machines`. Run inside a transaction; on PostgreSQL every claim takes one advisory
/// lock first, so that claims of any chat, starter or node on any node run one after another (on
/// SQLite the write transaction already does).
pub async fn claim(
    conn: &mut Conn,
    backend: Backend,
    machine: NewMachine<'_>,
    max_per_user: Option<i64>,
    max_machines: i64,
) -> Result<Claim, sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(9201)")
            .execute(&mut *conn)
            .await?;
    }
    if live_of_chat(conn, machine.chat_id).await?.is_some() {
        return Ok(Claim::Exists);
    }
    if let Some(limit) = max_per_user {
        let (mine,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM browser_machines WHERE started_by = $1 AND route = 'portal' AND state <> 'stopped'",
        )
        .bind(machine.started_by)
        .fetch_one(&mut *conn)
        .await?;
        if mine >= limit {
            return Ok(Claim::UserLimit);
        }
    }
    if count_on_node(conn, machine.node).await? >= max_machines {
        return Ok(Claim::Capacity);
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO browser_machines (chat_id, state, engine, node, node_address, started_by, route, browser, \
         start_url, kiosk, started_at) VALUES ($1, 'starting', $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(machine.chat_id)
    .bind(machine.engine)
    .bind(machine.node)
    .bind(machine.node_address)
    .bind(machine.started_by)
    .bind(machine.route)
    .bind(machine.browser)
    .bind(machine.start_url)
    .bind(super::flag(machine.kiosk))
    .bind(machine.now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Claim::Claimed(id))
}

/// The node's machines that count against its capacity (§4.3).
pub async fn count_on_node(conn: &mut Conn, node: &str) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM browser_machines WHERE node = $1 AND state <> 'stopped'")
        .bind(node)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// The chat's machine that is not stopped.
pub async fn live_of_chat(conn: &mut Conn, chat_id: i64) -> Result<Option<MachineRow>, sqlx::Error> {
    sqlx::query_as(&format!("{MACHINE_SELECT} WHERE chat_id = $1 AND state <> 'stopped'"))
        .bind(chat_id)
        .fetch_optional(conn)
        .await
}

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<MachineRow>, sqlx::Error> {
    sqlx::query_as(&format!("{MACHINE_SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// `starting` → `running`, unless a stop was asked for meanwhile or the record is gone.
pub async fn set_running(conn: &mut Conn, id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE browser_machines SET state = 'running', running_since = $2 \
         WHERE id = $1 AND state = 'starting' AND stop_requested = 0",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Asks the owning node to stop the machine (§4.4); false when it is already stopped.
/// `audit_route`: the route whose `BROWSER_STOP` row the stop owes, if any (§13).
pub async fn request_stop(
    conn: &mut Conn,
    id: i64,
    by: Option<i64>,
    audit_route: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE browser_machines SET stop_requested = 1, stop_requested_by = $2, stop_audit_route = $3 \
         WHERE id = $1 AND state <> 'stopped' AND stop_requested = 0",
    )
    .bind(id)
    .bind(by)
    .bind(audit_route)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_stopping(conn: &mut Conn, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE browser_machines SET state = 'stopping' WHERE id = $1 AND state IN ('starting', 'running')")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the stop; false when the machine was already stopped (or its record is gone), so that
/// exactly one of several stoppers announces it.
pub async fn set_stopped(
    conn: &mut Conn,
    id: i64,
    now: i64,
    reason: &str,
    by: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE browser_machines SET state = 'stopped', stopped_at = $2, stop_reason = $3, stopped_by = $4, \
         viewer_count = 0 WHERE id = $1 AND state <> 'stopped'",
    )
    .bind(id)
    .bind(now)
    .bind(reason)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The node's machines that are not stopped, with their stop requests.
pub async fn live_on_node(conn: &mut Conn, node: &str) -> Result<Vec<MachineRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{MACHINE_SELECT} WHERE node = $1 AND state <> 'stopped' ORDER BY id"
    ))
    .bind(node)
    .fetch_all(conn)
    .await
}

/// Publishes the viewer count for the views of every node (§5.1).
pub async fn set_viewer_count(conn: &mut Conn, id: i64, viewers: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE browser_machines SET viewer_count = $2 WHERE id = $1 AND state = 'running'")
        .bind(id)
        .bind(viewers)
        .execute(conn)
        .await?;
    Ok(())
}

/// Machines `running` on every node and the sum of their viewers (§5.4).
pub async fn running_totals(conn: &mut Conn) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(viewer_count), 0) AS BIGINT) FROM browser_machines WHERE state = 'running'",
    )
    .fetch_one(conn)
    .await
}

/// Records that a node can run machines and is alive (§10.1).
pub async fn beat(conn: &mut Conn, node: &str, engine: &str, max_machines: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO browser_nodes (identity, engine, max_machines, beat_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (identity) DO UPDATE SET engine = excluded.engine, max_machines = excluded.max_machines, \
         beat_at = excluded.beat_at",
    )
    .bind(node)
    .bind(engine)
    .bind(max_machines)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Machines not stopped whose node has no heartbeat since `beat_before` (or none at all).
pub async fn on_lost_nodes(conn: &mut Conn, beat_before: i64) -> Result<Vec<MachineRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{MACHINE_SELECT} WHERE state <> 'stopped' AND NOT EXISTS (SELECT 1 FROM browser_nodes n \
         WHERE n.identity = browser_machines.node AND n.beat_at >= $1) ORDER BY id"
    ))
    .bind(beat_before)
    .fetch_all(conn)
    .await
}

/// Deletes stopped records older than the retention (§4.1).
pub async fn delete_stopped_before(conn: &mut Conn, cutoff: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM browser_machines WHERE state = 'stopped' AND stopped_at < $1")
        .bind(cutoff)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

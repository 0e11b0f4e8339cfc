//! Starting and stopping a chat's machine (92-browser-rooms §4.2–4.4, §6), from the portal and
//! the admin routes, on the node that owns it or any other.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::machine::{record_stop, Machine, MachineSpec, Phase, StopOrder};
use super::{EngineKind, Route, StopReason};
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::chats::input::BrowserSettings;
use crate::domain::chats::{existing_chat, outranks_owner, visible_chat};
use crate::error::ApiError;
use crate::level::Level;
use crate::store::browser::{Claim, MachineRow, NewMachine};
use crate::store::chats::ChatRow;
use crate::store::users::UserRow;
use crate::store::{self};
use crate::time::Timestamp;

/// How often a request waiting on another node's machine reads its record.
const POLL: Duration = Duration::from_millis(200);

const OWNER_ONLY: &str = "Only the chat owner can start or stop the browser";

/// The chat a start or stop acts on, with the checks of its route (§6): through the portal the
/// caller sees the chat and owns it or is an Owner; through the admin route the actor owns it or
/// outranks its owner. Direct chats are unknown to both.
async fn acted_chat(app: &App, caller: &UserRow, chat_id: i64, route: Route) -> Result<ChatRow, ApiError> {
    let mut conn = app.store.acquire().await?;
    match route {
        Route::Portal => {
            let chat = visible_chat(&mut conn, chat_id, caller).await?;
            if !chat.is_owned_by(caller.id) && caller.permission_level != Level::Owner {
                return Err(ApiError::Forbidden(OWNER_ONLY));
            }
            Ok(chat)
        }
        Route::Admin => {
            let chat = existing_chat(&mut conn, chat_id).await?;
            if !chat.is_owned_by(caller.id) && !outranks_owner(&chat, caller) {
                return Err(ApiError::Hierarchy);
            }
            Ok(chat)
        }
    }
}

/// Starts the chat's machine and answers once it is `running` (§4.2); the chat's name.
pub async fn start(app: &Arc<App>, caller: &UserRow, chat_id: i64, route: Route) -> Result<String, ApiError> {
    let chat = acted_chat(app, caller, chat_id, route).await?;
    let result = start_checked(app, caller, &chat, route).await;
    app.metrics.browser_start(match &result {
        Ok(()) => "ok",
        Err(ApiError::BrowserCapacity) => "capacity",
        Err(ApiError::BrowserUserLimit { .. }) => "user_limit",
        Err(ApiError::BrowserDisabled) => "disabled",
        Err(ApiError::BrowserUnsupported) => "unsupported",
        Err(_) => "failed",
    });
    result.map(|()| chat.name)
}

async fn start_checked(app: &Arc<App>, caller: &UserRow, chat: &ChatRow, route: Route) -> Result<(), ApiError> {
    let config = &app.config.browser;
    let node = app.browser.identity();
    let machine_id = loop {
        // Step 1: a machine exists.
        let existing = {
            let mut conn = app.store.acquire().await?;
            store::browser::live_of_chat(&mut conn, chat.id).await?
        };
        if let Some(row) = existing {
            match (row.state.as_str(), route) {
                ("running", Route::Portal) => return Ok(()),
                ("starting", Route::Portal) => return start_outcome(app, row.chat_id, row.id).await,
                ("starting" | "running", Route::Admin) => return Err(ApiError::BrowserAlreadyRunning),
                _ => {
                    wait_stopped(app, &row, config.stop_timeout_s + 2).await?;
                    continue;
                }
            }
        }
        // Steps 2 and 3.
        if app.browser.engine.kind == EngineKind::Off {
            return Err(ApiError::BrowserDisabled);
        }
        let settings = BrowserSettings::read(&chat.browser_config);
        if settings.browser == "tor" {
            return Err(ApiError::BrowserUnsupported);
        }
        // Step 4: the claim.
        let now = app.now();
        let mut tx = app.store.begin().await?;
        let claim = store::browser::claim(
            &mut tx,
            app.store.backend(),
            NewMachine {
                chat_id: chat.id,
                engine: app.browser.engine.kind.as_str(),
                node: &node,
                node_address: config.node_address.as_deref(),
                started_by: caller.id,
                route: route.as_str(),
                browser: &settings.browser,
                start_url: settings.start_url.as_deref(),
                kiosk: settings.kiosk,
                now,
            },
            (route == Route::Portal && config.max_per_user > 0).then_some(i64::from(config.max_per_user)),
            i64::from(config.max_machines),
        )
        .await?;
        match claim {
            Claim::Exists => continue,
            Claim::UserLimit => {
                return Err(ApiError::BrowserUserLimit {
                    limit: i64::from(config.max_per_user),
                })
            }
            Claim::Capacity => return Err(ApiError::BrowserCapacity),
            Claim::Claimed(id) => {
                tx.commit().await?;
                let audit_due = route == Route::Admin || !chat.is_owned_by(caller.id);
                let machine = Machine::new(MachineSpec {
                    id,
                    chat_id: chat.id,
                    owner_id: chat.owner_id,
                    started_by: caller.id,
                    started_at: now,
                    browser: settings.browser,
                    start_url: settings.start_url,
                    kiosk: settings.kiosk,
                    viewport: config.viewport_size().map_err(ApiError::internal)?,
                    start_audit: audit_due.then_some((caller.id, route)),
                    control: super::screen::initial_control(chat),
                });
                app.browser.insert(machine.clone());
                app.metrics.browser_machine(id, Some(("starting", 0)));
                tokio::spawn(super::run::supervise(app.clone(), machine));
                break id;
            }
        }
    };
    start_outcome(app, chat.id, machine_id).await
}

/// The answer of a start that waits on a machine that is `starting` (§4.2 step 6).
async fn start_outcome(app: &App, chat_id: i64, machine_id: i64) -> Result<(), ApiError> {
    let phase = match app.browser.machine_of(chat_id).filter(|m| m.id == machine_id) {
        Some(machine) => machine.started().await,
        None => remote_phase_after_start(app, machine_id).await?,
    };
    match phase {
        Phase::Running | Phase::Stopping => Ok(()),
        Phase::Stopped(StopReason::StartFailed) | Phase::Starting => Err(ApiError::BrowserStartFailed),
        Phase::Stopped(StopReason::ChatDeleted) => Err(ApiError::ChatNotFound),
        Phase::Stopped(_) => Err(ApiError::BrowserNotRunning("The browser was stopped while starting")),
    }
}

/// Reads another node's machine until it is past `starting`.
async fn remote_phase_after_start(app: &App, machine_id: i64) -> Result<Phase, ApiError> {
    let config = &app.config.browser;
    let limit = Duration::from_secs(config.start_timeout_s + config.stop_timeout_s + 2);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let row = {
            let mut conn = app.store.acquire().await?;
            store::browser::by_id(&mut conn, machine_id).await?
        };
        let Some(row) = row else {
            return Ok(Phase::Stopped(StopReason::ChatDeleted));
        };
        match row.state.as_str() {
            "running" | "stopping" => return Ok(Phase::Running),
            "stopped" => {
                let reason = row.stop_reason.as_deref().and_then(StopReason::parse);
                return Ok(Phase::Stopped(reason.unwrap_or(StopReason::Crashed)));
            }
            _ if tokio::time::Instant::now() >= deadline => return Ok(Phase::Starting),
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// Waits until the machine's record is `stopped` (or gone), at most `limit_s` seconds.
async fn wait_stopped(app: &App, row: &MachineRow, limit_s: u64) -> Result<(), ApiError> {
    let wait = async {
        if let Some(machine) = app.browser.machine_of(row.chat_id).filter(|m| m.id == row.id) {
            machine.stopped().await;
            return Ok(());
        }
        loop {
            let state = {
                let mut conn = app.store.acquire().await?;
                store::browser::by_id(&mut conn, row.id).await?.map(|r| r.state)
            };
            if state.as_deref().is_none_or(|s| s == "stopped") {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    };
    match tokio::time::timeout(Duration::from_secs(limit_s), wait).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::Unavailable),
    }
}

/// Stops the chat's machine and answers once it is `stopped` (§4.4, §6.2, §6.4); the chat's name.
pub async fn stop(app: &Arc<App>, caller: &UserRow, chat_id: i64, route: Route) -> Result<String, ApiError> {
    let chat = acted_chat(app, caller, chat_id, route).await?;
    let config = &app.config.browser;
    let row = {
        let mut conn = app.store.acquire().await?;
        store::browser::live_of_chat(&mut conn, chat.id).await?
    };
    let Some(row) = row else {
        return match route {
            Route::Portal => Ok(chat.name),
            Route::Admin => Err(ApiError::BrowserNotRunning("The browser is not running")),
        };
    };
    if row.state == "stopping" {
        if route == Route::Admin {
            return Err(ApiError::BrowserNotRunning("The browser is not running"));
        }
        wait_stopped(app, &row, config.stop_timeout_s + 2).await?;
        return Ok(chat.name);
    }
    let audit = (route == Route::Admin || !chat.is_owned_by(caller.id)).then_some(route);
    {
        let mut conn = app.store.acquire().await?;
        store::browser::request_stop(&mut conn, row.id, Some(caller.id), audit.map(Route::as_str)).await?;
    }
    if let Some(machine) = app.browser.machine_of(chat.id).filter(|m| m.id == row.id) {
        machine.order_stop(StopOrder {
            reason: StopReason::Requested,
            by: Some(caller.id),
            audit,
        });
    }
    wait_stopped(app, &row, config.start_timeout_s + config.stop_timeout_s + 2).await?;
    Ok(chat.name)
}

/// Writes `BROWSER_START` with the change to `running` when the start owes one (§13); false when
/// a stop was asked for meanwhile (the start is then abandoned).
pub(super) async fn record_running(app: &App, machine: &Machine) -> Result<bool, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    if !store::browser::set_running(&mut tx, machine.id, now).await? {
        return Ok(false);
    }
    if let Some((actor, route)) = machine.start_audit {
        audit::record(
            app,
            &mut tx,
            AuditEvent::BrowserStart,
            Some(actor),
            Target::Chat(machine.chat_id),
            json!({"machine_id": machine.id, "route": route.as_str(), "owner_id": machine.owner_id,
                   "browser": machine.browser, "start_url": machine.start_url, "kiosk": machine.kiosk}),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Marks stopped, with reason `node_lost`, the machines of nodes whose heartbeat is older than
/// `lost_after_s` (§4.6, §10.1), and announces each stop once.
pub async fn stop_lost_machines(app: &App, lost_after_s: i64) -> Result<(), ApiError> {
    let now = app.now();
    let lost = {
        let mut conn = app.store.acquire().await?;
        store::browser::on_lost_nodes(&mut conn, now - lost_after_s * crate::time::MICROS_PER_SECOND).await?
    };
    mark_lost(app, lost).await
}

/// Records each machine `stopped` with reason `node_lost`; its room hears it once.
async fn mark_lost(app: &App, machines: Vec<MachineRow>) -> Result<(), ApiError> {
    for row in machines {
        let order = StopOrder {
            reason: StopReason::NodeLost,
            by: None,
            audit: None,
        };
        record_stop(app, row.id, row.chat_id, None, row.state == "running", order).await?;
    }
    Ok(())
}

/// `BrowserMachine` of `ChatAdminDetail` (§5.2): the chat's machine that is not stopped.
pub async fn machine_view(app: &App, chat_id: i64) -> Result<Option<BrowserMachine>, ApiError> {
    let row = {
        let mut conn = app.store.acquire().await?;
        store::browser::live_of_chat(&mut conn, chat_id).await?
    };
    let Some(row) = row else { return Ok(None) };
    let host_id = match app.browser.machine_of(chat_id).filter(|m| m.id == row.id) {
        Some(machine) => machine.host_id().await,
        None => None,
    };
    Ok(Some(BrowserMachine {
        machine_id: row.id,
        state: row.state,
        engine: row.engine,
        browser: row.browser,
        start_url: row.start_url,
        kiosk: row.kiosk != 0,
        started_by: row.started_by,
        route: row.route,
        started_at: Timestamp(row.started_at),
        running_since: row.running_since.map(Timestamp),
        viewer_count: row.viewer_count,
        host_id,
    }))
}

/// A chat's machine as the admin detail shows it (§5.2).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BrowserMachine {
    pub machine_id: i64,
    /// `starting`, `running` or `stopping`.
    pub state: String,
    /// `process` or `docker`.
    pub engine: String,
    pub browser: String,
    pub start_url: Option<String>,
    pub kiosk: bool,
    pub started_by: i64,
    /// `portal` or `admin`.
    pub route: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub running_since: Option<Timestamp>,
    pub viewer_count: i64,
    pub host_id: Option<i64>,
}

/// A heartbeat is written this often; a node silent for `NODE_LOST_AFTER_S` is lost (§10.1).
const BEAT_EVERY: Duration = Duration::from_secs(5);
const NODE_LOST_AFTER_S: i64 = 30;
/// Stopped records are kept this long (§4.1).
const RECORD_RETENTION_S: i64 = 30 * 24 * 3600;
/// This host's addresses are read again this often (§3.3).
const HOST_ADDRESSES_EVERY: Duration = Duration::from_secs(60);

/// The node's part in the cluster of machines (§4.6, §10.1), for as long as it serves: its own
/// records of an earlier run are marked lost and its containers removed at once; then every 5 seconds its heartbeat, the
/// machines of lost nodes stopped, old stopped records deleted; every minute this host's
/// addresses read again for the egress filter.
pub async fn run_node(app: Arc<App>) {
    let identity = app.browser.identity();
    if let Err(err) = stop_own_leftovers(&app, &identity).await {
        tracing::warn!(cause = ?err, "the machines of this node's earlier run could not be marked lost");
    }
    if let Some(docker) = &app.browser.docker {
        match docker.remove_node_containers(&identity).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed the containers of this node's earlier run"),
            Err(err) => tracing::warn!(cause = %err, "the containers of this node's earlier run could not be removed"),
        }
    }
    let mut beat = tokio::time::interval(BEAT_EVERY);
    let mut addresses = tokio::time::interval(HOST_ADDRESSES_EVERY);
    loop {
        tokio::select! {
            _ = beat.tick() => {
                let now = app.now();
                let result: Result<(), ApiError> = async {
                    let mut conn = app.store.acquire().await?;
                    if app.browser.engine.kind != EngineKind::Off {
                        let max = i64::from(app.config.browser.max_machines);
                        store::browser::beat(&mut conn, &identity, app.browser.engine.kind.as_str(), max, now).await?;
                    }
                    store::browser::delete_stopped_before(&mut conn, now - RECORD_RETENTION_S * crate::time::MICROS_PER_SECOND).await?;
                    drop(conn);
                    stop_lost_machines(&app, NODE_LOST_AFTER_S).await
                }
                .await;
                if let Err(err) = result {
                    tracing::warn!(cause = ?err, "browser node upkeep failed");
                }
            }
            _ = addresses.tick() => {
                if let Ok(found) = crate::browser::egress::host_addresses() {
                    app.browser.egress.set_host_addresses(found);
                }
            }
        }
    }
}

/// At start-up: every record under this node's identity belongs to a run that ended without
/// stopping its machines (§4.6).
async fn stop_own_leftovers(app: &App, identity: &str) -> Result<(), ApiError> {
    let rows = {
        let mut conn = app.store.acquire().await?;
        store::browser::live_on_node(&mut conn, identity).await?
    };
    mark_lost(app, rows).await
}

/// On shutdown: every machine of this node stops with reason `shutdown`, within
/// `browser.stop_timeout_s` (§4.6).
pub async fn shutdown(app: &App) {
    let machines = app.browser.machines();
    for machine in &machines {
        machine.order_stop(StopOrder {
            reason: StopReason::Shutdown,
            by: None,
            audit: None,
        });
    }
    let all = futures_util::future::join_all(machines.iter().map(|m| m.stopped()));
    let limit = Duration::from_secs(app.config.browser.stop_timeout_s + 2);
    let _ = tokio::time::timeout(limit, all).await;
}

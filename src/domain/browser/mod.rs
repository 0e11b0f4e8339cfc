//! Browser rooms (92-browser-rooms): the machines a chat's members browse together. This node's
//! engine and its machines (`BrowserRooms`), starting and stopping (`lifecycle`), one running
//! machine (`machine`), its screen connections (`screen`) and those relayed between nodes
//! (`relay`).

pub mod driver;
pub mod lifecycle;
pub mod machine;
pub mod relay;
pub mod run;
pub mod screen;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::browser::egress::proxy::{system_resolver, Egress};
use crate::browser::egress::rules::{EgressRules, OwnSockets};
use crate::browser::engine::docker::DockerClient;
use crate::browser::engine::process::find_chromium;
use crate::config::BrowserConfig;
use crate::ephemeral::{Attempt, Ephemeral};
use crate::metrics::Metrics;
use machine::Machine;

/// What runs machines on this node (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Off,
    Process,
    Docker,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Off => "off",
            EngineKind::Process => "process",
            EngineKind::Docker => "docker",
        }
    }
}

/// The engine chosen at start-up, why, and the Chromium binary of the process engine.
#[derive(Debug, Clone)]
pub struct EngineChoice {
    pub kind: EngineKind,
    pub reason: String,
    pub chromium: Option<PathBuf>,
}

/// §2.2: `process` set explicitly without a Chromium, a `chromium_path` that is not an executable
/// file, and an unknown engine are configuration errors; unset or `auto` picks `process` when
/// Chromium is found and may run, else `off`.
pub fn choose_engine(config: &BrowserConfig) -> Result<EngineChoice, String> {
    let chromium = find_chromium(config.chromium_path.as_deref())?;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let off = |reason: String| EngineChoice {
        kind: EngineKind::Off,
        reason,
        chromium: None,
    };
    match config.engine.as_deref().unwrap_or("auto") {
        "off" => Ok(off("browser.engine is off".into())),
        "docker" => Ok(EngineChoice {
            kind: EngineKind::Docker,
            reason: "browser.engine is docker".into(),
            chromium: None,
        }),
        "process" => match chromium {
            None => Err("browser.engine is process, but no Chromium was found (set browser.chromium_path)".into()),
            Some(path) => Ok(EngineChoice {
                kind: EngineKind::Process,
                reason: "browser.engine is process".into(),
                chromium: Some(path),
            }),
        },
        "auto" => match chromium {
            None => Ok(off("no Chromium found on PATH".into())),
            Some(_) if root && !config.process.no_sandbox => Ok(off(
                "the server runs as root, where Chromium refuses its sandbox; set browser.process.no_sandbox to run it without"
                    .into(),
            )),
            Some(path) => Ok(EngineChoice {
                kind: EngineKind::Process,
                reason: format!("Chromium found at {}", path.display()),
                chromium: Some(path),
            }),
        },
        other => Err(format!("browser.engine must be one of: auto, off, process, docker (got {other:?})")),
    }
}

/// This node's browser machines: its engine, its identity among the nodes (§10.1), the egress
/// filter every machine goes through, and the machines it owns, by chat.
pub struct BrowserRooms {
    pub engine: EngineChoice,
    /// The Docker Engine API, for the docker engine.
    pub docker: Option<Arc<DockerClient>>,
    /// `browser.node_address`, else `{host name}:{API port}` once the listener's port is known.
    identity: std::sync::RwLock<String>,
    node_address_set: bool,
    pub egress: Arc<Egress>,
    machines: Mutex<HashMap<i64, Arc<Machine>>>,
    /// The nonces of requests other nodes signed lately (§10.3).
    pub nonces: crate::browser::node_auth::NonceMemory,
}

impl BrowserRooms {
    pub fn new(config: &BrowserConfig, api_port: u16, metrics: Arc<Metrics>) -> Result<BrowserRooms, String> {
        let engine = choose_engine(config)?;
        let docker = match engine.kind {
            EngineKind::Docker => Some(Arc::new(DockerClient::new(&config.docker.host)?)),
            _ => None,
        };
        let identity = config.node_address.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into());
            format!("{host}:{api_port}")
        });
        let rules = EgressRules::new(
            config.egress.allow_private,
            &config.egress.allow_hosts,
            &config.egress.deny_hosts,
        )?;
        let own = OwnSockets {
            ports: [api_port].into_iter().collect(),
            host_addresses: crate::browser::egress::host_addresses()
                .unwrap_or_default()
                .into_iter()
                .collect(),
        };
        Ok(BrowserRooms {
            engine,
            docker,
            identity: std::sync::RwLock::new(identity),
            node_address_set: config.node_address.is_some(),
            egress: Egress::new(rules, own, system_resolver(), metrics),
            machines: Mutex::new(HashMap::new()),
            nonces: Default::default(),
        })
    }

    pub fn identity(&self) -> String {
        self.identity.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The API listener's port, once bound: part of the identity (unless `browser.node_address`
    /// names the node) and one of the sockets no machine may reach (§3.3).
    pub fn listening_on(&self, port: u16) {
        self.egress.add_own_port(port);
        if !self.node_address_set {
            let mut identity = self.identity.write().unwrap_or_else(|p| p.into_inner());
            if let Some((host, _)) = identity.rsplit_once(':') {
                *identity = format!("{host}:{port}");
            }
        }
    }

    /// This node's machine of the chat, if it owns one.
    pub fn machine_of(&self, chat_id: i64) -> Option<Arc<Machine>> {
        self.lock().get(&chat_id).cloned()
    }

    pub fn machines(&self) -> Vec<Arc<Machine>> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Machine>>> {
        self.machines.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, machine: Arc<Machine>) {
        self.lock().insert(machine.chat_id, machine);
    }

    fn remove(&self, machine: &Machine) {
        let mut machines = self.lock();
        if machines.get(&machine.chat_id).is_some_and(|m| m.id == machine.id) {
            machines.remove(&machine.chat_id);
        }
    }
}

/// Takes one of the user's screen connections (§4.3), counted over every node through the shared
/// store (on this node alone without Redis); `None` when they have `max` open.
pub async fn take_screen(app: &crate::domain::app::App, user_id: i64, max: u32) -> Option<ScreenSlot> {
    let key = format!("screens:{user_id}");
    let lease = app
        .ephemeral
        .admit_attempt(&key, max as usize, SCREEN_LEASE_S, app.now())
        .await
        .ok()?;
    let lease = Arc::new(lease);
    let (renewing, renewed, clock) = (app.ephemeral.clone(), lease.clone(), app.clock.clone());
    let renewer = tokio::spawn(async move {
        let mut every = tokio::time::interval(SCREEN_LEASE_RENEWED_EVERY);
        every.tick().await;
        loop {
            every.tick().await;
            renewing.renew_attempt(&renewed, SCREEN_LEASE_S, clock.now()).await;
        }
    });
    Some(ScreenSlot {
        ephemeral: app.ephemeral.clone(),
        lease,
        renewer,
    })
}

/// One of a user's screen connections, given back when dropped.
pub struct ScreenSlot {
    ephemeral: Arc<Ephemeral>,
    lease: Arc<Attempt>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for ScreenSlot {
    fn drop(&mut self) {
        self.renewer.abort();
        let (ephemeral, lease) = (self.ephemeral.clone(), self.lease.clone());
        tokio::spawn(async move { ephemeral.release_attempt(&lease).await });
    }
}

/// This node's machines that are not stopped, and their viewers (§5.5).
pub async fn node_load(app: &crate::domain::app::App) -> (i64, i64) {
    let machines = app.browser.machines();
    let mut viewers = 0;
    for machine in &machines {
        viewers += machine.live.lock().await.control.viewers().len() as i64;
    }
    (machines.len() as i64, viewers)
}

/// `process`: the binary is executable; `docker`: the daemon answered a ping within 2 seconds;
/// `off`: false (§5.5).
pub async fn engine_available(app: &crate::domain::app::App) -> bool {
    let choice = &app.browser.engine;
    match (choice.kind, &app.browser.docker) {
        (EngineKind::Process, _) => find_chromium(choice.chromium.as_deref()).is_ok_and(|found| found.is_some()),
        (EngineKind::Docker, Some(docker)) => docker.ping().await,
        _ => false,
    }
}

/// The chat was deleted (§4.7): this node's machine of it stops with reason `chat_deleted`, and
/// its room hears `room:stopped` now, before `room:destroyed`. (The record went with the chat, so
/// the machine's own stop announces nothing.)
pub fn chat_deleted(app: &crate::domain::app::App, chat_id: i64) {
    let Some(machine) = app.browser.machine_of(chat_id) else {
        return;
    };
    if machine.phase() == machine::Phase::Running {
        let stopped = serde_json::json!({"chat_id": chat_id, "machine_id": machine.id,
                                         "reason": StopReason::ChatDeleted.as_str(), "stopped_by": null});
        app.rooms
            .publish(chat_id, &crate::domain::presence::frame("room:stopped", stopped));
    }
    machine.order_stop(machine::StopOrder {
        reason: StopReason::ChatDeleted,
        by: None,
        audit: None,
    });
}

/// A screen connection's place in its user's allowance lasts this long unless renewed: a node
/// that dies without giving its places back frees them within it.
const SCREEN_LEASE_S: i64 = 60;
const SCREEN_LEASE_RENEWED_EVERY: std::time::Duration = std::time::Duration::from_secs(20);

/// Why a machine stopped (§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Requested,
    Idle,
    Crashed,
    Capacity,
    StartFailed,
    ChatDeleted,
    Shutdown,
    NodeLost,
}

impl StopReason {
    const ALL: [StopReason; 8] = [
        StopReason::Requested,
        StopReason::Idle,
        StopReason::Crashed,
        StopReason::Capacity,
        StopReason::StartFailed,
        StopReason::ChatDeleted,
        StopReason::Shutdown,
        StopReason::NodeLost,
    ];

    /// The reason a record stores, read back.
    pub fn parse(stored: &str) -> Option<StopReason> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == stored)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Requested => "requested",
            StopReason::Idle => "idle",
            StopReason::Crashed => "crashed",
            StopReason::Capacity => "capacity",
            StopReason::StartFailed => "start_failed",
            StopReason::ChatDeleted => "chat_deleted",
            StopReason::Shutdown => "shutdown",
            StopReason::NodeLost => "node_lost",
        }
    }
}

/// Which routes started or stopped a machine (§4.1, §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Portal,
    Admin,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Portal => "portal",
            Route::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StopReason;

    #[test]
    fn every_stop_reason_reads_back_as_itself_and_nothing_else_reads() {
        for reason in StopReason::ALL {
            assert_eq!(StopReason::parse(reason.as_str()), Some(reason));
        }
        let mut names: Vec<&str> = StopReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), StopReason::ALL.len());
        assert_eq!(StopReason::parse("exploded"), None);
    }
}

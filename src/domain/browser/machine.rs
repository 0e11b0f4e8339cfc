//! One machine on its owning node (92-browser-rooms §4): its phase, its newest frame, its screen
//! connections, and the task that starts it, feeds it and stops it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use super::driver::Tab;
use super::{Route, StopReason};
use crate::browser::control::ControlState;
use crate::browser::screen_protocol::CursorThrottle;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::presence::frame;
use crate::store;
use crate::time::Timestamp;

/// A machine's phase on its owning node (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Running,
    Stopping,
    Stopped(StopReason),
}

/// One accepted image of the page, its frame (header and JPEG, §7.3) built once for every viewer.
#[derive(Debug)]
pub struct ScreenFrame {
    pub number: u32,
    pub bytes: Bytes,
}

/// Who asked a machine to stop, and the audit row the stop owes (§6.2, §6.4, §13).
#[derive(Debug, Clone, Copy)]
pub struct StopOrder {
    pub reason: StopReason,
    pub by: Option<i64>,
    pub audit: Option<Route>,
}

/// JSON events wait in a queue of this many per screen connection (§7.2).
pub const SCREEN_QUEUE: usize = 256;

/// How a screen connection reaches the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenRoute {
    /// The client is connected to this node.
    Direct,
    /// Through another node's relay, which enforces the room rule itself (§10.2): this node
    /// cannot see whether a session joined a room there when Redis is away (§10.4).
    Relayed,
}

/// A screen connection as the machine sees it: its user, its session, how it arrives and its
/// two channels.
pub struct ScreenPeer {
    pub user_id: i64,
    pub session_id: i64,
    pub route: ScreenRoute,
    pub events: mpsc::Sender<Arc<str>>,
    /// The close code the machine chose for the connection (§7.10).
    pub close: watch::Sender<Option<u16>>,
}

impl ScreenPeer {
    /// Queues an event; a connection whose queue is full is closed with 1013 (§7.2).
    pub fn send(&self, event: &Arc<str>) {
        if self.events.try_send(event.clone()).is_err() {
            self.close_with(1013);
        }
    }

    pub fn close_with(&self, code: u16) {
        self.close.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(code);
            }
            first
        });
    }
}

/// State that changes while the machine runs, under one lock so that events reach every
/// connection in the order they were produced (§7.2).
pub struct Live {
    pub screens: HashMap<u64, ScreenPeer>,
    pub control: ControlState,
    /// Pending cursor positions per user (§7.8), and the users whose cursor is shown.
    pub cursors: HashMap<i64, CursorThrottle>,
    pub shown_cursors: HashSet<i64>,
    pub page: Option<Value>,
    /// When the last screen connection closed, or when the machine became running with none.
    pub unwatched_since: Option<Instant>,
    /// The viewer count last published to the record and the room.
    pub published_viewers: i64,
}

impl Live {
    fn new(control: ControlState) -> Live {
        Live {
            screens: HashMap::new(),
            control,
            cursors: HashMap::new(),
            shown_cursors: HashSet::new(),
            page: None,
            unwatched_since: None,
            published_viewers: 0,
        }
    }
}

impl Live {
    pub fn broadcast(&self, event: &Arc<str>) {
        for peer in self.screens.values() {
            peer.send(event);
        }
    }
}

pub struct Machine {
    pub id: i64,
    pub chat_id: i64,
    pub started_by: i64,
    pub started_at: i64,
    pub browser: String,
    pub start_url: Option<String>,
    pub kiosk: bool,
    pub viewport: (u16, u16),
    /// The route of a start that owes a `BROWSER_START` row at `running` (§6.1, §6.3).
    pub start_audit: Option<(i64, Route)>,
    pub owner_id: Option<i64>,
    phase: watch::Sender<Phase>,
    stop_order: Mutex<Option<StopOrder>>,
    stop_wake: Notify,
    frames: watch::Sender<Option<Arc<ScreenFrame>>>,
    pub live: tokio::sync::Mutex<Live>,
    next_screen: AtomicU64,
    /// The driven tab, once the browser answers.
    tab: OnceLock<Arc<Tab>>,
    /// A new viewer found no frame yet: the task captures one (§7.4).
    capture: Notify,
    /// The browser's process, for operators and tests that end it from outside.
    pid: OnceLock<i32>,
}

/// What a start records about the machine it makes.
pub struct MachineSpec {
    pub id: i64,
    pub chat_id: i64,
    pub owner_id: Option<i64>,
    pub started_by: i64,
    pub started_at: i64,
    pub browser: String,
    pub start_url: Option<String>,
    pub kiosk: bool,
    pub viewport: (u16, u16),
    pub start_audit: Option<(i64, Route)>,
    pub control: ControlState,
}

impl Machine {
    pub fn new(spec: MachineSpec) -> Arc<Machine> {
        Arc::new(Machine {
            id: spec.id,
            chat_id: spec.chat_id,
            owner_id: spec.owner_id,
            started_by: spec.started_by,
            started_at: spec.started_at,
            browser: spec.browser,
            start_url: spec.start_url,
            kiosk: spec.kiosk,
            viewport: spec.viewport,
            start_audit: spec.start_audit,
            phase: watch::channel(Phase::Starting).0,
            stop_order: Mutex::new(None),
            stop_wake: Notify::new(),
            frames: watch::channel(None).0,
            live: tokio::sync::Mutex::new(Live::new(spec.control)),
            next_screen: AtomicU64::new(1),
            tab: OnceLock::new(),
            capture: Notify::new(),
            pid: OnceLock::new(),
        })
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    pub fn watch_phase(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub(super) fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Waits until the machine is past `starting`.
    pub async fn started(&self) -> Phase {
        let mut phase = self.watch_phase();
        let settled = phase.wait_for(|p| *p != Phase::Starting).await.map(|p| *p);
        settled.unwrap_or(Phase::Stopped(StopReason::StartFailed))
    }

    /// Waits until the machine is stopped; its reason.
    pub async fn stopped(&self) -> StopReason {
        let mut phase = self.watch_phase();
        match phase.wait_for(|p| matches!(p, Phase::Stopped(_))).await.map(|p| *p) {
            Ok(Phase::Stopped(reason)) => reason,
            _ => StopReason::Crashed,
        }
    }

    /// Asks the machine's task to stop; the first order wins.
    pub fn order_stop(&self, order: StopOrder) {
        let mut current = self.stop_order.lock().unwrap_or_else(|p| p.into_inner());
        if current.is_none() {
            *current = Some(order);
        }
        drop(current);
        self.stop_wake.notify_one();
    }

    pub fn stop_order(&self) -> Option<StopOrder> {
        *self.stop_order.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn stop_ordered(&self) -> StopOrder {
        loop {
            if let Some(order) = self.stop_order() {
                return order;
            }
            self.stop_wake.notified().await;
        }
    }

    pub fn frames(&self) -> watch::Receiver<Option<Arc<ScreenFrame>>> {
        self.frames.subscribe()
    }

    pub(super) fn publish_frame(&self, frame: ScreenFrame) {
        self.frames.send_replace(Some(Arc::new(frame)));
    }

    pub fn tab(&self) -> Option<&Arc<Tab>> {
        self.tab.get()
    }

    pub(super) fn set_tab(&self, tab: Arc<Tab>) {
        let _ = self.tab.set(tab);
    }

    pub fn browser_pid(&self) -> Option<i32> {
        self.pid.get().copied()
    }

    pub(super) fn set_browser_pid(&self, pid: i32) {
        let _ = self.pid.set(pid);
    }

    pub fn want_capture(&self) {
        self.capture.notify_one();
    }

    pub async fn capture_wanted(&self) {
        self.capture.notified().await
    }

    pub fn next_screen_id(&self) -> u64 {
        self.next_screen.fetch_add(1, Ordering::Relaxed)
    }

    /// `room:started` data (§5.3).
    pub fn started_event(&self) -> Arc<str> {
        frame(
            "room:started",
            json!({"chat_id": self.chat_id, "machine_id": self.id, "started_by": self.started_by,
                   "started_at": Timestamp(self.started_at)}),
        )
    }
}

/// Records the stop of a machine (its row, and the audit row a requested stop owes, together),
/// then tells its screens and, when it had been running, its room (§4.4). Exactly one caller
/// announces a stop: the one whose update changed the record.
pub async fn record_stop(
    app: &App,
    machine_id: i64,
    chat_id: i64,
    owner_id: Option<i64>,
    was_running: bool,
    order: StopOrder,
) -> Result<bool, crate::error::ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let row = store::browser::by_id(&mut tx, machine_id).await?;
    let changed = store::browser::set_stopped(&mut tx, machine_id, now, order.reason.as_str(), order.by).await?;
    if changed {
        if let (Some(route), Some(row), Some(actor)) = (order.audit, row.as_ref(), order.by) {
            audit::record(
                app,
                &mut tx,
                AuditEvent::BrowserStop,
                Some(actor),
                Target::Chat(chat_id),
                json!({"machine_id": machine_id, "route": route.as_str(), "owner_id": owner_id,
                       "started_by": row.started_by, "running_since": row.running_since.map(Timestamp),
                       "viewer_count": row.viewer_count}),
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    app.metrics.browser_stopped(order.reason.as_str());
    if changed && was_running {
        app.rooms.publish(
            chat_id,
            &frame(
                "room:stopped",
                json!({"chat_id": chat_id, "machine_id": machine_id, "reason": order.reason.as_str(),
                       "stopped_by": order.by}),
            ),
        );
    }
    Ok(changed)
}

/// How often the machine's task looks at its record (a stop asked on another node, the record
/// gone with its chat) and at its idle clock: the 1-second bounds of §4.4, §4.5 and §4.7.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);

impl Machine {
    /// The current host, for the admin detail (§5.2).
    pub async fn host_id(&self) -> Option<i64> {
        self.live.lock().await.control.host()
    }
}

//! The screen of a machine (92-browser-rooms §7, §8): who may open it, what each connection is
//! sent, the host's input and navigation, viewers' cursors, and control. Every decision is made
//! on the owning node, under the machine's `live` lock, so that events reach each connection in
//! the order they were produced.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::driver::{FrameImage, PageState};
use super::machine::{Live, Machine, Phase, ScreenFrame, ScreenPeer, ScreenRoute, SCREEN_QUEUE};
use super::relay::{self, RemoteMachine, RemoteScreen};
use super::ScreenSlot;
use crate::action_type::ActionType;
use crate::browser::control::{ChatSettings, ControlDenial, ControlState, Facts, Outcome, UserFacts};
use crate::browser::screen_protocol::{
    check_navigation, control_changed_data, cursor_gone_data, cursor_moved_data, frame_bytes, parse_client_frame,
    pong_data, ClientEvent, ClientFrame, CursorPosition, ScreenError, Viewport,
};
use crate::browser::tab::PointerKind;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::chats::{is_public, moderates, visible_chat};
use crate::domain::presence::{frame, profiles, PresenceUser};
use crate::domain::sessions::LiveSession;
use crate::error::ApiError;
use crate::level::Level;
use crate::store::browser::MachineRow;
use crate::store::chats::ChatRow;
use crate::store::{self, Conn};
use crate::time::{seconds_until, Timestamp};

/// Close codes of the screen (§7.10).
pub mod close {
    pub const SESSION_ENDED: u16 = 4001;
    pub const TIMED_OUT: u16 = 4003;
    pub const MACHINE_STOPPED: u16 = 4010;
    pub const REMOVED: u16 = 4011;
    pub const LEFT_ROOM: u16 = 4012;
}

/// A screen the caller may open: every check of §7.1 passed.
pub struct ScreenTicket {
    pub machine: Arc<Machine>,
    pub slot: ScreenSlot,
}

/// Where an opened screen is served: here, or by the machine's node through a relay (§10.2).
pub enum Opened {
    Here(ScreenTicket),
    Elsewhere(RemoteScreen),
}

/// §7.1 after the upgrade and the caller's own checks: the chat, its ban, the joined room, a
/// machine that is not stopped or stopping, the caller's screens, the machine's viewers, and the
/// node the machine lives on.
pub async fn open(app: &Arc<App>, session: &LiveSession, chat_id: i64) -> Result<Opened, ApiError> {
    let user = &session.user;
    let row = watchable_machine(app, session, chat_id).await?;
    if row.state == "stopping" {
        return Err(ApiError::BrowserNotRunning(NOT_RUNNING));
    }
    let config = &app.config.browser;
    let slot = super::take_screen(app, user.id, config.max_screens_per_user)
        .await
        .ok_or(ApiError::TooManyConnections)?;
    let Some(machine) = app.browser.machine_of(chat_id).filter(|m| m.id == row.id) else {
        return relay::remote_machine(app, &row).map(|machine| Opened::Elsewhere(RemoteScreen { machine, slot }));
    };
    refuse_when_full(app, &machine, user.id).await?;
    Ok(Opened::Here(ScreenTicket { machine, slot }))
}

/// `browser.max_viewers` holds for users who are not viewers yet (§4.3).
pub async fn refuse_when_full(app: &App, machine: &Machine, user_id: i64) -> Result<(), ApiError> {
    let live = machine.live.lock().await;
    if !live.control.is_viewer(user_id) && live.control.viewers().len() as u32 >= app.config.browser.max_viewers {
        return Err(ApiError::ScreenFull);
    }
    Ok(())
}

const NOT_RUNNING: &str = "The browser is not running";

/// The checks a screen and a screenshot share (§7.1, §9): the chat visible to the caller, no chat
/// ban, the session joined to the room, and a machine that is not stopped.
async fn watchable_machine(app: &App, session: &LiveSession, chat_id: i64) -> Result<MachineRow, ApiError> {
    let user = &session.user;
    let mut conn = app.store.acquire().await?;
    let chat = visible_chat(&mut conn, chat_id, user).await?;
    if store::chats::is_banned(&mut conn, chat.id, user.id, app.now()).await? {
        return Err(ApiError::ChatBanned);
    }
    if !app.rooms.is_joined(chat.id, session.session_id).await {
        return Err(ApiError::RoomNotJoined);
    }
    store::browser::live_of_chat(&mut conn, chat.id)
        .await?
        .ok_or(ApiError::BrowserNotRunning(NOT_RUNNING))
}

/// The current page, and when it was asked for (§9).
pub struct Screenshot {
    pub image: ScreenshotImage,
    pub taken_at: i64,
}

/// The page as a PNG, or the machine's other node that takes it (§10.2).
pub enum ScreenshotImage {
    Png(bytes::Bytes),
    OnNode(RemoteMachine),
}

/// `GET …/screenshot`: the checks of §9 in order, the machine found here or on a node that this
/// node relays to, the caller's screenshot allowance charged only once every other check passed,
/// then a capture of the viewport (or the node to take it).
pub async fn screenshot(app: &App, session: &LiveSession, chat_id: i64) -> Result<Screenshot, ApiError> {
    let row = watchable_machine(app, session, chat_id).await?;
    if row.state != "running" {
        return Err(ApiError::BrowserNotRunning(NOT_RUNNING));
    }
    enum Taker {
        Here(Arc<Machine>),
        OnNode(RemoteMachine),
    }
    let taker = match app.browser.machine_of(row.chat_id).filter(|m| m.id == row.id) {
        Some(machine) if machine.tab().is_none() => return Err(ApiError::BrowserNotRunning(NOT_RUNNING)),
        Some(machine) => Taker::Here(machine),
        None => Taker::OnNode(relay::remote_machine(app, &row)?),
    };
    let now = app.now();
    let per_minute = app.config.browser.screenshots_per_minute;
    let key = format!("screenshot:{}", session.user.id);
    let allowance = app.ephemeral.take(&key, per_minute, 60, now).await;
    if !allowance.allowed {
        return Err(ApiError::ScreenshotRateLimited {
            retry_after_s: allowance.retry_after_s,
        });
    }
    let image = match taker {
        Taker::Here(machine) => ScreenshotImage::Png(relay::capture(&machine).await?),
        Taker::OnNode(remote) => ScreenshotImage::OnNode(remote),
    };
    Ok(Screenshot { image, taken_at: now })
}

/// An open screen connection's ends: its events, its close code, the machine's newest frame.
pub struct Attached {
    pub id: u64,
    pub events: mpsc::Receiver<Arc<str>>,
    pub close: watch::Receiver<Option<u16>>,
    pub frames: watch::Receiver<Option<Arc<ScreenFrame>>>,
}

/// Adds the connection: `screen:state` first, then, for a new viewer, `screen:viewers` to the
/// others and implicit hosting (§7.1, §8.3); the newest frame follows at once.
pub async fn attach(
    app: &Arc<App>,
    machine: &Arc<Machine>,
    session: &LiveSession,
    route: ScreenRoute,
) -> Result<Attached, ApiError> {
    let (events_tx, events) = mpsc::channel(SCREEN_QUEUE);
    let (close_tx, close) = watch::channel(None);
    let id = machine.next_screen_id();
    let user_id = session.user.id;
    let mut live = machine.live.lock().await;
    live.screens.insert(
        id,
        ScreenPeer {
            user_id,
            session_id: session.session_id,
            route,
            events: events_tx,
            close: close_tx,
        },
    );
    live.unwatched_since = None;
    if !live.control.is_viewer(user_id) {
        let running = machine.phase() == Phase::Running;
        let (_, facts) = current_facts(app, machine, &live, &[user_id]).await?;
        let outcome = live.control.viewer_joined(user_id, app.now(), &facts, running);
        apply(app, machine, &mut live, outcome).await;
        let viewers = viewers_event(app, machine, &live).await?;
        for (peer_id, peer) in &live.screens {
            if *peer_id != id {
                peer.send(&viewers);
            }
        }
    }
    let state = state_event(app, machine, &live, user_id).await?;
    if let Some(peer) = live.screens.get(&id) {
        peer.send(&state);
    }
    drop(live);
    let mut frames = machine.frames();
    if frames.borrow().is_some() {
        frames.mark_changed();
    } else {
        machine.want_capture();
    }
    Ok(Attached {
        id,
        events,
        close,
        frames,
    })
}

/// Removes the connection; a user whose last screen closed stops viewing (§8.5).
pub async fn detach(app: &Arc<App>, machine: &Arc<Machine>, id: u64) {
    let mut live = machine.live.lock().await;
    let Some(peer) = live.screens.remove(&id) else { return };
    if live.screens.is_empty() {
        live.unwatched_since = Some(Instant::now());
    }
    if live.screens.values().any(|p| p.user_id == peer.user_id) {
        return;
    }
    let grace = app.config.browser.host_grace_s as i64 * crate::time::MICROS_PER_SECOND;
    let outcome = live.control.viewer_left(peer.user_id, app.now(), grace);
    apply(app, machine, &mut live, outcome).await;
    live.cursors.remove(&peer.user_id);
    if live.shown_cursors.remove(&peer.user_id) {
        live.broadcast(&frame("cursor:gone", cursor_gone_data(machine.chat_id, peer.user_id)));
    }
    if let Ok(viewers) = viewers_event(app, machine, &live).await {
        live.broadcast(&viewers);
    }
}

/// Answers one client text frame (§7.5–7.8, §8.2).
pub async fn handle(app: &Arc<App>, machine: &Arc<Machine>, id: u64, session: &LiveSession, text: &str) {
    let viewport = Viewport {
        width: machine.viewport.0,
        height: machine.viewport.1,
    };
    let user_id = session.user.id;
    let mut live = machine.live.lock().await;
    let is_host = live.control.is_host(user_id);
    let running = machine.phase() == Phase::Running;
    let event = match parse_client_frame(text, viewport) {
        ClientFrame::Ignored => return,
        // Input of anyone but the host is dropped unanswered, invalid or not (§7.6).
        ClientFrame::Invalid { event, error } => {
            if is_host || !event.starts_with("input:") {
                send_error(machine, &live, id, event, &error);
            }
            return;
        }
        ClientFrame::Event(event) => event,
    };
    let name = event.name();
    match event {
        ClientEvent::Ping => {
            let pong = frame("pong", pong_data(app.now()));
            if let Some(peer) = live.screens.get(&id) {
                peer.send(&pong);
            }
        }
        ClientEvent::Pointer(pointer) => {
            let position = CursorPosition {
                x: pointer.x,
                y: pointer.y,
                host: is_host,
            };
            if is_host {
                offer_cursor(machine, &mut live, user_id, position);
                if let Some(tab) = machine.tab().filter(|_| running) {
                    // The page is driven outside the lock: events keep flowing while it answers.
                    drop(live);
                    let _ = tab.pointer(pointer).await;
                }
            } else if live.control.settings().inactive_cursors && pointer.kind == PointerKind::Move {
                offer_cursor(machine, &mut live, user_id, position);
            }
        }
        ClientEvent::Wheel(_) | ClientEvent::Key(_) | ClientEvent::Text(_) => {
            let Some(tab) = machine.tab().filter(|_| is_host && running) else {
                return;
            };
            drop(live);
            let _ = match event {
                ClientEvent::Wheel(wheel) => tab.wheel(wheel).await,
                ClientEvent::Key(key) => tab.key(&key).await,
                ClientEvent::Text(text) => tab.insert_text(&text).await,
                _ => Ok(()),
            };
        }
        ClientEvent::NavGo(_) | ClientEvent::NavBack | ClientEvent::NavForward | ClientEvent::NavReload => {
            if let Err(error) = check_navigation(is_host, machine.kiosk, running) {
                send_error(machine, &live, id, name, &error);
                return;
            }
            let Some(tab) = machine.tab().cloned() else { return };
            if let ClientEvent::NavGo(url) = &event {
                if !matches!(url.scheme(), "http" | "https") {
                    app.metrics.egress_refused("scheme");
                    live.broadcast(&refusal_event(machine, url.as_str(), "scheme", true));
                    return;
                }
            }
            // A navigation answers once it commits; its progress shows in `screen:page`.
            tokio::spawn(async move {
                let _ = match event {
                    ClientEvent::NavGo(url) => tab.navigate(url.as_str()).await,
                    ClientEvent::NavBack => tab.back().await.map(|_| ()),
                    ClientEvent::NavForward => tab.forward().await.map(|_| ()),
                    _ => tab.reload().await,
                };
            });
        }
        control => {
            if let Err(error) = control_event(app, machine, &mut live, id, user_id, control, running).await {
                send_error(machine, &live, id, name, &error);
            }
        }
    }
}

async fn control_event(
    app: &Arc<App>,
    machine: &Arc<Machine>,
    live: &mut Live,
    id: u64,
    user_id: i64,
    event: ClientEvent,
    running: bool,
) -> Result<(), ScreenError> {
    let mut involved = vec![user_id];
    if let ClientEvent::ControlGrant { user_id: target } = event {
        involved.push(target);
    }
    let (_, facts) = current_facts(app, machine, live, &involved)
        .await
        .map_err(|_| ScreenError::Internal)?;
    // Before acting on a control event, those who may no longer hold or wait for control leave
    // (§8.5).
    let rechecked = live.control.recheck(&facts);
    apply(app, machine, live, rechecked).await;
    let control = &live.control;
    let outcome = match event {
        ClientEvent::ControlRequest => control.request(user_id, &facts, running),
        ClientEvent::ControlCancel => control.cancel(user_id, running),
        ClientEvent::ControlRelease => control.release(user_id, &facts, running),
        ClientEvent::ControlGrant { user_id: target } => control.grant(user_id, target, &facts, running),
        ClientEvent::ControlTake => control.take(user_id, &facts, running),
        _ => control.revoke(user_id, &facts, running),
    }?;
    if !outcome.changed {
        let unchanged = control_changed(app, machine, &outcome)
            .await
            .map_err(|_| ScreenError::Internal)?;
        if let Some(peer) = live.screens.get(&id) {
            peer.send(&unchanged);
        }
        return Ok(());
    }
    if let Some(row) = outcome.override_audit {
        // The row is committed before the change is made; without it nothing changes (§13).
        let written = async {
            let mut conn = app.store.acquire().await?;
            audit::record(
                app,
                &mut conn,
                AuditEvent::BrowserControlOverride,
                Some(user_id),
                Target::Chat(machine.chat_id),
                json!({"machine_id": machine.id, "action": row.action.as_str(),
                       "from_user_id": row.from_user_id, "to_user_id": row.to_user_id}),
                app.now(),
            )
            .await
        };
        written.await.map_err(|_| ScreenError::Internal)?;
    }
    apply(app, machine, live, outcome).await;
    Ok(())
}

/// Makes a control outcome the machine's state and announces it: `control:changed` to every
/// connection when something changed, and `cursor:gone` for those who gained or lost control.
async fn apply(app: &App, machine: &Machine, live: &mut Live, outcome: Outcome) {
    if !outcome.changed {
        live.control = outcome.state;
        return;
    }
    let changed = control_changed(app, machine, &outcome).await;
    live.control = outcome.state.clone();
    if let Ok(changed) = changed {
        live.broadcast(&changed);
    }
    let mut gone = outcome.cursors_gone.clone();
    if outcome.viewer_cursors_hidden {
        let host = live.control.host();
        gone.extend(live.shown_cursors.iter().copied().filter(|u| Some(*u) != host));
    }
    for user_id in gone {
        live.cursors.remove(&user_id);
        if live.shown_cursors.remove(&user_id) {
            live.broadcast(&frame("cursor:gone", cursor_gone_data(machine.chat_id, user_id)));
        }
    }
}

/// `cursor:moved` to the other users' connections, at most 20 a second per user (§7.8); a move
/// in between waits and the newest position wins.
fn offer_cursor(machine: &Machine, live: &mut Live, user_id: i64, position: CursorPosition) {
    let now = Instant::now();
    let due = live.cursors.entry(user_id).or_default().offer(position, now.into_std());
    if let Some(position) = due {
        show_cursor(machine, live, user_id, position);
    }
}

fn show_cursor(machine: &Machine, live: &mut Live, user_id: i64, position: CursorPosition) {
    live.shown_cursors.insert(user_id);
    let moved = frame("cursor:moved", cursor_moved_data(machine.chat_id, user_id, position));
    for peer in live.screens.values().filter(|p| p.user_id != user_id) {
        peer.send(&moved);
    }
}

fn send_error(machine: &Machine, live: &Live, id: u64, event: &str, error: &ScreenError) {
    if let Some(peer) = live.screens.get(&id) {
        peer.send(&frame("screen:error", error.data(machine.chat_id, event)));
    }
}

fn refusal_event(machine: &Machine, url: &str, reason: &str, top_level: bool) -> Arc<str> {
    let url: String = url.chars().take(2048).collect();
    frame(
        "nav:refused",
        json!({"chat_id": machine.chat_id, "url": url, "reason": reason, "top_level": top_level}),
    )
}

/// A refusal of the egress filter, to every screen of the machine (§3.4).
pub async fn refused(machine: &Machine, url: &str, reason: &str, top_level: bool) {
    machine
        .live
        .lock()
        .await
        .broadcast(&refusal_event(machine, url, reason, top_level));
}

/// The chat as it is now: settings, owner and visibility are evaluated afresh at every event.
async fn fresh_chat(app: &App, machine: &Machine) -> Result<ChatRow, ApiError> {
    let mut conn = app.store.acquire().await?;
    store::chats::by_id(&mut conn, machine.chat_id)
        .await?
        .ok_or(ApiError::ChatNotFound)
}

pub fn settings_of(chat: &ChatRow) -> ChatSettings {
    ChatSettings {
        allow_control_requests: chat.allow_control_requests != 0,
        locked_controls: chat.locked_controls != 0,
        implicit_hosting: chat.implicit_hosting != 0,
        inactive_cursors: chat.inactive_cursors != 0,
    }
}

/// The chat as it is now, and the facts of §8.1 for every viewer and for `also`.
async fn current_facts(app: &App, machine: &Machine, live: &Live, also: &[i64]) -> Result<(ChatRow, Facts), ApiError> {
    let chat = fresh_chat(app, machine).await?;
    let mut users = live.control.viewers().to_vec();
    users.extend_from_slice(also);
    let facts = facts_of(app, &chat, &users).await?;
    Ok((chat, facts))
}

/// Moderation, a timeout or an ended session take control and the queue place away at once
/// (§8.5).
async fn take_control_from(app: &App, machine: &Machine, live: &mut Live, user_id: i64) {
    if let Ok((_, facts)) = current_facts(app, machine, live, &[]).await {
        let outcome = live.control.remove(user_id, &facts);
        apply(app, machine, live, outcome).await;
    }
}

/// What §8.1 needs to know of each user, read now.
async fn facts_of(app: &App, chat: &ChatRow, users: &[i64]) -> Result<Facts, ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let mut facts = Facts::new(chat.owner_id.unwrap_or(0));
    let mut ids = users.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for user_id in ids {
        let Some(user) = store::users::by_id(&mut conn, user_id).await? else {
            continue;
        };
        let manager = moderates(chat, &user);
        let is_owner = chat.is_owned_by(user_id);
        facts = facts.with(
            user_id,
            UserFacts {
                level: user.permission_level,
                manager,
                is_owner,
                may_control: may_control(&mut conn, chat, user_id, manager || is_owner, now).await?,
            },
        );
    }
    Ok(facts)
}

/// §8.1 conditions 2–4, in their order.
async fn may_control(
    conn: &mut Conn,
    chat: &ChatRow,
    user_id: i64,
    owner_or_manager: bool,
    now: i64,
) -> Result<Result<(), ControlDenial>, ApiError> {
    if !is_public(&chat.visibility) && !owner_or_manager && !store::chats::is_member(conn, chat.id, user_id).await? {
        return Ok(Err(ControlDenial::PrivateChatNonMember));
    }
    if let Some(end) = store::chats::chat_restriction(conn, chat.id, user_id, ActionType::ChatMute, now).await? {
        let ttl = end.map_or(0, |end| seconds_until(now, end).max(1) as i64);
        return Ok(Err(ControlDenial::ChatMuted { ttl }));
    }
    if let Some(expires_at) = store::users::restrictions(conn, user_id, now).await?.mute {
        return Ok(Err(ControlDenial::HardMuted { expires_at }));
    }
    Ok(Ok(()))
}

async fn presence_users(app: &App, ids: &[i64]) -> Result<HashMap<i64, PresenceUser>, ApiError> {
    let mut conn = app.store.acquire().await?;
    Ok(profiles(&mut conn, ids).await?)
}

/// `Control` (§7.5) of a state, with the users' profiles.
fn control_json(control: &ControlState, users: &HashMap<i64, PresenceUser>) -> Value {
    json!({
        "host": control.host().map(|id| presence_of(users, id)),
        "host_away_until": control.host_away_until().map(Timestamp),
        "queue": control.queue().iter().map(|id| presence_of(users, *id)).collect::<Vec<_>>(),
    })
}

async fn control_changed(app: &App, machine: &Machine, outcome: &Outcome) -> Result<Arc<str>, ApiError> {
    let mut ids: Vec<i64> = outcome.queue().to_vec();
    ids.extend(outcome.host());
    let users = presence_users(app, &ids).await?;
    let data = control_changed_data(machine.chat_id, outcome, |id| presence_of(&users, id));
    Ok(frame("control:changed", data))
}

/// A user's `PresenceUser`; one deleted meanwhile shows by id alone.
fn presence_of(users: &HashMap<i64, PresenceUser>, id: i64) -> PresenceUser {
    users.get(&id).cloned().unwrap_or(PresenceUser {
        id,
        username: String::new(),
        avatar_url: None,
        permission_level: 0,
    })
}

async fn viewers_event(app: &App, machine: &Machine, live: &Live) -> Result<Arc<str>, ApiError> {
    let ids = live.control.viewers().to_vec();
    let users = presence_users(app, &ids).await?;
    let viewers: Vec<&PresenceUser> = ids.iter().filter_map(|id| users.get(id)).collect();
    Ok(frame(
        "screen:viewers",
        json!({"chat_id": machine.chat_id, "viewers": viewers}),
    ))
}

/// `ScreenState` for one user (§7.5).
async fn state_event(app: &App, machine: &Machine, live: &Live, user_id: i64) -> Result<Arc<str>, ApiError> {
    let chat = fresh_chat(app, machine).await?;
    let control = &live.control;
    let mut ids: Vec<i64> = control.viewers().to_vec();
    ids.extend(control.queue());
    ids.extend(control.host());
    let users = presence_users(app, &ids).await?;
    let facts = facts_of(app, &chat, &[user_id]).await?;
    let you = facts.get(user_id);
    let phase = machine.phase();
    Ok(frame(
        "screen:state",
        json!({
            "chat_id": machine.chat_id,
            "machine_id": machine.id,
            "state": if phase == Phase::Running { "running" } else { "starting" },
            "browser": machine.browser,
            "kiosk": machine.kiosk,
            "viewport": {"width": machine.viewport.0, "height": machine.viewport.1},
            "started_at": Timestamp(machine.started_at),
            "started_by": machine.started_by,
            "page": if phase == Phase::Running { live.page.clone() } else { None },
            "control": control_json(control, &users),
            "viewers": control.viewers().iter().filter_map(|id| users.get(id)).collect::<Vec<_>>(),
            "settings": {
                "allow_control_requests": chat.allow_control_requests != 0,
                "locked_controls": chat.locked_controls != 0,
                "implicit_hosting": chat.implicit_hosting != 0,
                "inactive_cursors": chat.inactive_cursors != 0,
            },
            "you": {
                "user_id": user_id,
                "manager": you.is_some_and(|f| f.manager),
                "may_control": control.is_viewer(user_id) && you.is_some_and(|f| f.may_control.is_ok()),
            },
        }),
    ))
}

/// Sends `screen:state` to every connection, each with its own `you`.
async fn state_to_all(app: &App, machine: &Machine, live: &Live) {
    for peer in live.screens.values() {
        if let Ok(state) = state_event(app, machine, live, peer.user_id).await {
            peer.send(&state);
        }
    }
}

/// The machine became `running`: `screen:state` to every open connection, then control falls
/// free with reason `implicit` (§4.2 step 5, §8.3).
pub async fn machine_running(app: &Arc<App>, machine: &Arc<Machine>) {
    let mut live = machine.live.lock().await;
    if live.screens.is_empty() {
        live.unwatched_since = Some(Instant::now());
    }
    state_to_all(app, machine, &live).await;
    if let Ok((_, facts)) = current_facts(app, machine, &live, &[]).await {
        let outcome = live.control.machine_became_running(&facts);
        apply(app, machine, &mut live, outcome).await;
    }
}

/// Takes an image from the browser as the machine's next frame (§7.3–7.4).
pub fn accept_frame(app: &App, machine: &Machine, number: u32, image: FrameImage) {
    // The viewport bounds both sides to 3840 × 2160 (§15).
    let (width, height) = (image.width as u16, image.height as u16);
    let bytes = frame_bytes(number, width, height, image.received_unix_ms, &image.jpeg);
    app.metrics.browser_frame();
    machine.publish_frame(ScreenFrame { number, bytes });
}

/// `screen:page` when one of the page's fields changed (§7.5).
pub async fn page_changed(machine: &Machine, page: PageState) {
    let page = json!({"url": page.url, "title": page.title, "loading": page.loading,
                      "can_go_back": page.can_go_back, "can_go_forward": page.can_go_forward});
    let mut live = machine.live.lock().await;
    if live.page.as_ref() == Some(&page) {
        return;
    }
    let mut data = page.clone();
    data["chat_id"] = json!(machine.chat_id);
    live.page = Some(page);
    live.broadcast(&frame("screen:page", data));
}

/// How long nobody has been viewing, if nobody is (§4.5).
pub async fn unwatched_for(machine: &Machine) -> Option<Duration> {
    machine.live.lock().await.unwatched_since.map(|since| since.elapsed())
}

/// The machine's half-second duties: sessions that left the room lose their screens (4012),
/// cursors due are sent, a host's grace runs out, the viewer count is published (§4.5, §5.3,
/// §7.8, §8.5).
pub async fn tick(app: &Arc<App>, machine: &Arc<Machine>) {
    let mut live = machine.live.lock().await;
    let peers: Vec<(u64, i64, i64)> = live
        .screens
        .iter()
        .filter(|(_, p)| p.route == ScreenRoute::Direct)
        .map(|(id, p)| (*id, p.user_id, p.session_id))
        .collect();
    for (id, user_id, session_id) in peers {
        if app.rooms.is_joined(machine.chat_id, session_id).await {
            continue;
        }
        // Out of the room: an ended session, a timeout or a lost right say so with their own
        // code; otherwise the session left the room (§8.5).
        let code = refusal_now(app, machine.chat_id, user_id, session_id).await;
        if let Some(peer) = live.screens.get(&id) {
            peer.close_with(code.unwrap_or(close::LEFT_ROOM));
        }
        // Moderation, a timeout or an ended session take control away at once, not after the
        // grace of a host who merely left (§8.5).
        if code.is_some() {
            take_control_from(app, machine, &mut live, user_id).await;
        }
    }
    let now = Instant::now();
    let host = live.control.host();
    let due: Vec<(i64, CursorPosition)> = live
        .cursors
        .iter_mut()
        .filter_map(|(user, throttle)| throttle.take_due(now.into_std()).map(|p| (*user, p)))
        .collect();
    for (user_id, position) in due {
        // A cursor that waited shows as its user stands now.
        let position = CursorPosition {
            host: host == Some(user_id),
            ..position
        };
        show_cursor(machine, &mut live, user_id, position);
    }
    if live.control.host_away_until().is_some_and(|until| until <= app.now()) {
        if let Ok((_, facts)) = current_facts(app, machine, &live, &[]).await {
            let outcome = live.control.expire_grace(app.now(), &facts);
            apply(app, machine, &mut live, outcome).await;
        }
    }
    let viewers = live.control.viewers().len() as i64;
    if viewers != live.published_viewers && machine.phase() == Phase::Running {
        live.published_viewers = viewers;
        drop(live);
        app.metrics.browser_machine(machine.id, Some(("running", viewers)));
        if let Ok(mut conn) = app.store.acquire().await {
            let _ = store::browser::set_viewer_count(&mut conn, machine.id, viewers).await;
        }
        app.rooms.publish(
            machine.chat_id,
            &frame(
                "room:viewers",
                json!({"chat_id": machine.chat_id, "machine_id": machine.id, "viewer_count": viewers}),
            ),
        );
    }
}

/// Every 10 seconds: each viewer against the database — the session valid, the chat visible, no
/// chat ban, no timeout — and the host and queue against §8.1 (§8.5).
pub async fn recheck(app: &Arc<App>, machine: &Arc<Machine>) {
    let Ok(chat) = fresh_chat(app, machine).await else {
        return;
    };
    let now = app.now();
    let mut live = machine.live.lock().await;
    let peers: Vec<(u64, i64, i64)> = live
        .screens
        .iter()
        .map(|(id, p)| (*id, p.user_id, p.session_id))
        .collect();
    let Ok(mut conn) = app.store.acquire().await else {
        return;
    };
    for (id, user_id, session_id) in peers {
        let code = match refusal_of(&mut conn, &chat, user_id, session_id, now).await {
            Ok(code) => code,
            Err(_) => continue,
        };
        if let (Some(code), Some(peer)) = (code, live.screens.get(&id)) {
            peer.close_with(code);
            take_control_from(app, machine, &mut live, user_id).await;
        }
    }
    drop(conn);
    if let Ok((_, facts)) = current_facts(app, machine, &live, &[]).await {
        let outcome = live.control.recheck(&facts);
        apply(app, machine, &mut live, outcome).await;
    }
}

/// The close code a viewer's connection gets when they may no longer watch, or `None`.
async fn refusal_of(
    conn: &mut Conn,
    chat: &ChatRow,
    user_id: i64,
    session_id: i64,
    now: i64,
) -> Result<Option<u16>, ApiError> {
    if !store::sessions::is_live(conn, session_id, now).await? {
        return Ok(Some(close::SESSION_ENDED));
    }
    let Some(user) = store::users::by_id(conn, user_id).await? else {
        return Ok(Some(close::SESSION_ENDED));
    };
    if store::users::restrictions(conn, user_id, now).await?.timeout.is_some() {
        return Ok(Some(close::TIMED_OUT));
    }
    let sees = is_public(&chat.visibility)
        || chat.is_owned_by(user_id)
        || user.permission_level >= Level::Admin
        || store::chats::is_member(conn, chat.id, user_id).await?;
    if !sees || store::chats::is_banned(conn, chat.id, user_id, now).await? {
        return Ok(Some(close::REMOVED));
    }
    Ok(None)
}

/// The close code of a viewer whose session is out of the chat's room: that of the refusal, when
/// they may no longer watch, else 4012 (§8.5).
pub async fn out_of_room_code(app: &App, chat_id: i64, user_id: i64, session_id: i64) -> u16 {
    refusal_now(app, chat_id, user_id, session_id)
        .await
        .unwrap_or(close::LEFT_ROOM)
}

/// The close code of a viewer who may no longer watch, read now; `None` when they still may, or
/// when the database cannot say.
async fn refusal_now(app: &App, chat_id: i64, user_id: i64, session_id: i64) -> Option<u16> {
    let refusal = async {
        let mut conn = app.store.acquire().await?;
        let chat = store::chats::by_id(&mut conn, chat_id)
            .await?
            .ok_or(ApiError::ChatNotFound)?;
        refusal_of(&mut conn, &chat, user_id, session_id, app.now()).await
    };
    refusal.await.ok().flatten()
}

/// Closes every screen of a user (kick, ban, lost access: 4011; timeout: 4003) on this node's
/// machine of the chat (every machine for a timeout), and takes control and the queue place from
/// them at once (§8.5).
pub async fn close_user(app: &Arc<App>, chat_id: Option<i64>, user_id: i64, code: u16) {
    let machines = match chat_id {
        Some(chat_id) => app.browser.machine_of(chat_id).into_iter().collect(),
        None => app.browser.machines(),
    };
    for machine in machines {
        let mut live = machine.live.lock().await;
        take_control_from(app, &machine, &mut live, user_id).await;
        for peer in live.screens.values().filter(|p| p.user_id == user_id) {
            peer.close_with(code);
        }
    }
}

/// The chat's settings changed (§8.4): control follows them, then every connection gets
/// `screen:state`.
pub async fn settings_changed(app: &Arc<App>, chat_id: i64, by: Option<i64>) {
    let Some(machine) = app.browser.machine_of(chat_id) else {
        return;
    };
    let mut live = machine.live.lock().await;
    let Ok((chat, facts)) = current_facts(app, &machine, &live, &[]).await else {
        return;
    };
    let running = machine.phase() == Phase::Running;
    let outcome = live.control.change_settings(settings_of(&chat), by, &facts, running);
    // `screen:state` shows the new settings and control; `control:changed` follows it.
    let announced = outcome.changed;
    live.control = outcome.state.clone();
    state_to_all(app, &machine, &live).await;
    if announced {
        apply(app, &machine, &mut live, outcome).await;
    }
}

/// The last event of every connection, then the close with 4010 (§4.4).
pub async fn close_all(machine: &Machine, stopped: &Arc<str>) {
    let live = machine.live.lock().await;
    for peer in live.screens.values() {
        peer.send(stopped);
        peer.close_with(close::MACHINE_STOPPED);
    }
}

/// The control state a new machine starts with: free, nobody waiting, the chat's settings.
pub fn initial_control(chat: &ChatRow) -> ControlState {
    ControlState::new(settings_of(chat))
}

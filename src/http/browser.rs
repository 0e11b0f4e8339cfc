//! Browser rooms (92-browser-rooms): the start and stop routes of the portal and the admin API,
//! and the screen WebSocket. The rules are `domain::browser`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::time::Instant;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::AppState;
use crate::domain::browser::machine::{Machine, ScreenRoute};
use crate::domain::browser::screen::{self, Attached, Opened, ScreenshotImage};
use crate::domain::browser::{lifecycle, Route};
use crate::domain::sessions::LiveSession;
use crate::error::{ApiError, ApiResult};
use crate::http::body::parse_path_id;
use crate::http::browser_relay;
use crate::http::caller::{check_origin, Authenticated, RequireAdmin, RequireLevel, Unrestricted};
use crate::http::openapi::ErrorBody;
use crate::http::users::PathParam;
use crate::http::websocket::{Heartbeat, Incoming, Limits, WebSocket, WebSocketUpgrade};
use crate::time::Timestamp;

/// The largest client frame (§7.2); a larger one closes the connection with 1009.
const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// Messages above this are not even read into memory; the connection just ends.
const MAX_READ: usize = 64 * 1024;
/// More than this many client frames within `FRAME_WINDOW` close the connection with 1008.
const MAX_FRAMES: usize = 200;
const FRAME_WINDOW: Duration = Duration::from_secs(1);
/// How long one write may take before the client counts as gone.
pub(super) const SEND_LIMIT: Duration = Duration::from_secs(10);
/// How long a closing connection waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

const UNSUPPORTED_DATA: u16 = 1003;
const POLICY_VIOLATION: u16 = 1008;
const TOO_BIG: u16 = 1009;
pub(super) const HEARTBEAT_TIMEOUT: u16 = 4000;

pub fn portal_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(portal_start))
        .routes(routes!(portal_stop))
        .routes(routes!(open_screen))
        .routes(routes!(take_screenshot))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_start))
        .routes(routes!(admin_stop))
}

#[derive(Serialize, ToSchema)]
pub struct OkBody {
    ok: bool,
}

#[derive(Serialize, ToSchema)]
pub struct BrowserOutcome {
    message: String,
}

fn chat_id(raw: &str) -> ApiResult<i64> {
    parse_path_id("chat_id", raw)
}

/// Start the chat's browser machine (its owner, or an Owner); answers once it runs.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/start", tag = "browser", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = OkBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn portal_start(
    State(app): State<AppState>,
    auth: Authenticated,
    _: Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
) -> ApiResult<Json<OkBody>> {
    lifecycle::start(&app, &auth.session.user, chat_id(&raw)?, Route::Portal).await?;
    Ok(Json(OkBody { ok: true }))
}

/// Stop the chat's browser machine (its owner, or an Owner); answers once it is stopped.
#[utoipa::path(post, path = "/v1/portal/chats/{chat_id}/stop", tag = "browser", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = OkBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn portal_stop(
    State(app): State<AppState>,
    auth: Authenticated,
    PathParam(raw): PathParam,
) -> ApiResult<Json<OkBody>> {
    lifecycle::stop(&app, &auth.session.user, chat_id(&raw)?, Route::Portal).await?;
    Ok(Json(OkBody { ok: true }))
}

/// Start a chat's browser machine (Admin+ over its owner); a machine already running is a conflict.
#[utoipa::path(post, path = "/v1/admin/chats/{chat_id}/start", tag = "admin-chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = BrowserOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn admin_start(
    State(app): State<AppState>,
    RequireLevel(auth): RequireAdmin,
    _: Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
) -> ApiResult<Json<BrowserOutcome>> {
    let name = lifecycle::start(&app, &auth.session.user, chat_id(&raw)?, Route::Admin).await?;
    Ok(Json(BrowserOutcome {
        message: format!("Chat '{name}' started"),
    }))
}

/// Stop a chat's browser machine (Admin+ over its owner); one that is not running is a conflict.
#[utoipa::path(post, path = "/v1/admin/chats/{chat_id}/stop", tag = "admin-chats", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = BrowserOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn admin_stop(
    State(app): State<AppState>,
    RequireLevel(auth): RequireAdmin,
    _: Unrestricted<Authenticated>,
    PathParam(raw): PathParam,
) -> ApiResult<Json<BrowserOutcome>> {
    let name = lifecycle::stop(&app, &auth.session.user, chat_id(&raw)?, Route::Admin).await?;
    Ok(Json(BrowserOutcome {
        message: format!("Chat '{name}' stopped"),
    }))
}

/// The screen of the chat's machine (WebSocket): JPEG frames, the page, control and input. The
/// caller's session must have joined the chat's room on the realtime connection.
#[utoipa::path(get, path = "/v1/portal/chats/{chat_id}/screen", tag = "browser", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 101, description = "Switching Protocols"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 426, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn open_screen(
    State(app): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    PathParam(raw): PathParam,
    upgrade: Result<WebSocketUpgrade, ApiError>,
) -> ApiResult<Response> {
    check_origin(&headers, &app.config.cors.allowed_origins)?;
    crate::domain::users::refuse_timed_out(&app, auth.user_id()).await?;
    let upgrade = upgrade?;
    let ticket = match screen::open(&app, &auth.session, chat_id(&raw)?).await? {
        Opened::Here(ticket) => ticket,
        Opened::Elsewhere(remote) => return Ok(browser_relay::relay_screen(app, auth.session, remote, upgrade).await),
    };
    Ok(upgrade.on_upgrade(SCREEN_LIMITS, move |socket| async move {
        let _slot = ticket.slot;
        serve_screen(app, ticket.machine, auth.session, socket, ScreenRoute::Direct).await;
    }))
}

/// The current page of the chat's machine as a PNG image, to save as a file. The caller's session
/// must have joined the chat's room; a few per minute per user.
#[utoipa::path(get, path = "/v1/portal/chats/{chat_id}/screenshot", tag = "browser", params(("chat_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, description = "The page as a PNG image", content_type = "image/png"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn take_screenshot(
    State(app): State<AppState>,
    auth: Authenticated,
    PathParam(raw): PathParam,
) -> ApiResult<Response> {
    let chat_id = chat_id(&raw)?;
    let shot = screen::screenshot(&app, &auth.session, chat_id).await?;
    let png = match shot.image {
        ScreenshotImage::Png(png) => png,
        ScreenshotImage::OnNode(remote) => {
            match super::browser_relay::fetch_screenshot(&app, &auth.session, &remote).await {
                Ok(png) => png,
                Err(answer) => return Ok(answer),
            }
        }
    };
    let taken = Timestamp(shot.taken_at).compact_utc();
    let headers = [
        (header::CONTENT_TYPE, "image/png".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"chat-{chat_id}-{taken}.png\""),
        ),
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    Ok((headers, png).into_response())
}

/// What a screen connection reads at most.
pub(super) const SCREEN_LIMITS: Limits = Limits { max_message: MAX_READ };

/// One screen connection to this node's machine, direct or relayed, from attach to close.
pub(super) async fn serve_screen(
    app: AppState,
    machine: Arc<Machine>,
    session: LiveSession,
    socket: WebSocket,
    route: ScreenRoute,
) {
    let Ok(attached) = screen::attach(&app, &machine, &session, route).await else {
        return;
    };
    let id = attached.id;
    let mut connection = ScreenConnection {
        app: app.clone(),
        machine: machine.clone(),
        session,
        socket,
        attached,
        last_frame: 0,
    };
    let code = connection.run().await;
    screen::detach(&app, &machine, id).await;
    connection.finish(code).await;
}

/// The client-side limits of §7.2 on what a screen client sends: binary frames (1003), frames
/// over 16 KiB (1009), more than 200 frames within a second (1008).
#[derive(Default)]
pub(super) struct ClientFrameLimits {
    recent: VecDeque<Instant>,
}

impl ClientFrameLimits {
    /// The close code a message from the client earns, if any.
    pub(super) fn check(&mut self, message: &Incoming, at: Instant) -> Option<u16> {
        self.recent.push_back(at);
        while self
            .recent
            .front()
            .is_some_and(|t| at.duration_since(*t) > FRAME_WINDOW)
        {
            self.recent.pop_front();
        }
        match message {
            _ if self.recent.len() > MAX_FRAMES => Some(POLICY_VIOLATION),
            Incoming::Text(text) if text.len() > MAX_CLIENT_FRAME => Some(TOO_BIG),
            Incoming::Binary => Some(UNSUPPORTED_DATA),
            _ => None,
        }
    }
}

struct ScreenConnection {
    app: AppState,
    machine: Arc<Machine>,
    session: LiveSession,
    socket: WebSocket,
    attached: Attached,
    /// The number of the last frame sent: a gap is frames replaced while this viewer was slow.
    last_frame: u32,
}

impl ScreenConnection {
    async fn run(&mut self) -> Option<u16> {
        let mut heartbeat = Heartbeat::new(&self.app.config.presence);
        let mut limits = ClientFrameLimits::default();
        loop {
            let closing = *self.attached.close.borrow();
            if let Some(code) = closing {
                return self.drain_then(code).await;
            }
            let idle_deadline = heartbeat.idle_deadline();
            tokio::select! {
                biased;
                _ = self.attached.close.changed() => {}
                event = self.attached.events.recv() => {
                    let event = event?;
                    self.socket.queue_text(&event);
                    while let Ok(more) = self.attached.events.try_recv() {
                        self.socket.queue_text(&more);
                    }
                    self.flush().await?;
                }
                changed = self.attached.frames.changed() => {
                    changed.ok()?;
                    let frame = self.attached.frames.borrow_and_update().clone();
                    if let Some(frame) = frame {
                        if frame.number > self.last_frame {
                            let skipped = frame.number - self.last_frame - 1;
                            if self.last_frame > 0 && skipped > 0 {
                                self.app.metrics.browser_frames_dropped(u64::from(skipped));
                            }
                            self.last_frame = frame.number;
                            self.socket.queue_binary(&frame.bytes);
                            self.flush().await?;
                        }
                    }
                }
                incoming = self.socket.recv() => {
                    let message = incoming.ok()?;
                    let at = Instant::now();
                    heartbeat.seen(at);
                    if let Some(code) = limits.check(&message, at) {
                        return Some(code);
                    }
                    match message {
                        Incoming::Text(text) => {
                            screen::handle(&self.app, &self.machine, self.attached.id, &self.session, &text).await;
                        }
                        Incoming::Ping(payload) => {
                            self.socket.queue_pong(&payload);
                            self.flush().await?;
                        }
                        // A binary frame was refused by the limits above.
                        Incoming::Binary | Incoming::Pong => {}
                        Incoming::Close(code) => {
                            self.socket.queue_close(code);
                            let _ = self.flush().await;
                            return None;
                        }
                    }
                }
                _ = heartbeat.ping.tick() => {
                    self.socket.queue_ping();
                    self.flush().await?;
                }
                _ = tokio::time::sleep_until(idle_deadline) => return Some(HEARTBEAT_TIMEOUT),
            }
        }
    }

    /// Sends the events queued before the close (`screen:stopped` comes last, §7.5), then closes.
    async fn drain_then(&mut self, code: u16) -> Option<u16> {
        while let Ok(event) = self.attached.events.try_recv() {
            self.socket.queue_text(&event);
        }
        self.flush().await?;
        Some(code)
    }

    async fn flush(&mut self) -> Option<()> {
        tokio::time::timeout(SEND_LIMIT, self.socket.flush()).await.ok()?.ok()
    }

    async fn finish(mut self, code: Option<u16>) {
        if let Some(code) = code {
            close_with(&mut self.socket, code).await;
        }
    }
}

/// Sends a close frame with `code` and waits a moment for the client's.
pub(super) async fn close_with(socket: &mut WebSocket, code: u16) {
    socket.close_politely(code, SEND_LIMIT, CLOSE_WAIT).await;
}

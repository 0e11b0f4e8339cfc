//! `GET /v1/portal/ws`, the realtime connection (80-notifications-portal §3): the upgrade with
//! its refusals, and the frame protocol of one open connection. The bookkeeping behind it is
//! `domain::presence`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};
use tokio::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::connections::ConnectionSlot;
use crate::domain::app::AppState;
use crate::domain::matchmaking::liveness;
use crate::domain::presence::{self, close, Queued, Registration};
use crate::domain::sessions::LiveSession;
use crate::domain::strangers;
use crate::domain::transport::join;
use crate::error::{ApiError, ApiResult};
use crate::http::caller::{check_origin, AnySession};
use crate::http::error::body_fields;
use crate::http::openapi::ErrorBody;
use crate::http::websocket::{Heartbeat, Incoming, Limits, WebSocket, WebSocketUpgrade};
use crate::time::Timestamp;

/// The largest client frame served (§3.2); a larger one closes the connection with 1009.
const MAX_CLIENT_FRAME: usize = 4096;
/// Messages above this are not even read into memory; the connection just ends.
const MAX_READ: usize = 64 * 1024;
/// Events waiting for a connection are written together, up to this many in one write.
const BATCH: usize = 64;
/// At most this many client frames within `FRAME_WINDOW` (§3.2).
const MAX_FRAMES: usize = 20;
const FRAME_WINDOW: Duration = Duration::from_secs(10);
/// How long a closing connection waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How long one frame may take to leave. A client that stops reading fills its socket's buffers;
/// past this it counts as gone, so that it cannot hold a task and its place in presence.
const SEND_LIMIT: Duration = Duration::from_secs(10);

const UNSUPPORTED_DATA: u16 = 1003;
const POLICY_VIOLATION: u16 = 1008;
const TOO_BIG: u16 = 1009;
const INTERNAL_ERROR: u16 = 1011;
const HEARTBEAT_TIMEOUT: u16 = 4000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(open_connection))
}

/// The realtime connection: presence, hard-mute changes and new notifications as JSON text
/// frames. Answers 101 Switching Protocols; the first frame is `presence:snapshot`, except for a
/// stranger, who is shown no presence.
#[utoipa::path(get, path = "/v1/portal/ws", tag = "portal", security(("session" = [])),
    responses((status = 101, description = "Switching Protocols"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 426, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn open_connection(
    State(app): State<AppState>,
    auth: AnySession,
    headers: HeaderMap,
    slot: Option<Extension<Arc<ConnectionSlot>>>,
    upgrade: Result<WebSocketUpgrade, ApiError>,
) -> ApiResult<Response> {
    check_origin(&headers, &app.config.cors.allowed_origins)?;
    let upgrade = upgrade?;
    let session = &auth.session;
    let registration = presence::connect(&app, &session.user, session.session_id, session.session_expires_at).await?;
    let reachable = liveness::connected(&app, session.user.id).await;
    let limits = Limits { max_message: MAX_READ };
    Ok(upgrade.on_upgrade(limits, move |socket| async move {
        // The socket keeps its place under the listener's connection caps while it is open.
        let _slot = slot;
        let _reachable = reachable;
        let mut connection = Connection {
            app,
            session: auth.session,
            registration,
            socket,
        };
        let code = connection.run().await;
        join::leave_all(&connection.app, &connection.registration.link).await;
        connection.finish(code).await;
    }))
}

struct Connection {
    app: AppState,
    session: LiveSession,
    registration: Registration,
    socket: WebSocket,
}

/// How a connection ended: with a close frame of ours, or with the peer gone.
type Ending = Option<u16>;

impl Connection {
    async fn run(&mut self) -> Ending {
        // A stranger is shown no presence (91-matchmaking §2.3).
        if !self.registration.link.stranger {
            match presence::snapshot(&self.app, &mut self.registration).await {
                Ok(frame) => {
                    self.socket.queue_text(&frame);
                    self.flush().await?;
                }
                Err(_) => return Some(INTERNAL_ERROR),
            }
        }
        let mut heartbeat = Heartbeat::new(&self.app.config.presence);
        let mut recent: VecDeque<Instant> = VecDeque::new();
        let link = self.registration.link.clone();
        loop {
            if let Some(code) = link.close_code() {
                return Some(code);
            }
            let expiry = Duration::from_micros((link.expires_at() - self.app.now()).max(0) as u64);
            let idle_deadline = heartbeat.idle_deadline();
            tokio::select! {
                biased;
                _ = link.woken() => {}
                event = self.registration.events.recv() => match event {
                    Some(event) => self.send_events(event).await?,
                    None => return Some(link.close_code().unwrap_or(INTERNAL_ERROR)),
                },
                incoming = self.socket.recv() => {
                    // The peer is gone, or broke the protocol (a message over `MAX_READ`).
                    let message = incoming.ok()?;
                    let at = Instant::now();
                    heartbeat.seen(at);
                    recent.push_back(at);
                    while recent.front().is_some_and(|t| at.duration_since(*t) > FRAME_WINDOW) {
                        recent.pop_front();
                    }
                    if recent.len() > MAX_FRAMES {
                        return Some(POLICY_VIOLATION);
                    }
                    if recent.is_empty() {
                        recent.shrink_to_fit();
                    }
                    match message {
                        Incoming::Text(text) if text.len() > MAX_CLIENT_FRAME => return Some(TOO_BIG),
                        Incoming::Text(text) => self.answer(&text).await?,
                        Incoming::Binary => return Some(UNSUPPORTED_DATA),
                        Incoming::Ping(payload) => {
                            self.socket.queue_pong(&payload);
                            self.flush().await?;
                        }
                        Incoming::Pong => {}
                        // Answered with the client's own code (RFC 6455 §5.5.1), and done.
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
                _ = tokio::time::sleep(expiry) => {
                    // Nothing else notices a session's expiry at its moment (91-matchmaking §2.4).
                    strangers::session_ended(&self.app, &self.session.user).await;
                    return Some(close::SESSION_ENDED);
                }
            }
        }
    }

    /// Answers one client frame (§3.2, 90-chat-transport §2.1); other events are ignored. Room
    /// answers go through the connection's queue, in order with the room's events.
    async fn answer(&mut self, text: &str) -> Option<()> {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return Some(());
        };
        let data = frame.get("data").unwrap_or(&Value::Null);
        let link = self.registration.link.clone();
        match frame.get("event").and_then(Value::as_str) {
            Some("ping") => {
                let pong = presence::frame("pong", json!({"at": Timestamp(self.app.now())}));
                self.socket.queue_text(&pong);
                return self.flush().await;
            }
            Some(event @ "room:join") => {
                if let Err(err) = join::join(&self.app, &link, &self.session, data).await {
                    link.queue(&room_error(event, data, &err));
                }
            }
            Some(event @ "room:leave") => {
                let left = match join::read_leave(data) {
                    Ok(chat_id) => join::leave(&self.app, &link, chat_id)
                        .await
                        .map(|()| presence::frame("room:left", json!({ "chat_id": chat_id }))),
                    Err(err) => Err(err),
                };
                link.queue(&left.unwrap_or_else(|err| room_error(event, data, &err)));
            }
            _ => {}
        }
        Some(())
    }

    /// Writes `first` and whatever else is already waiting, up to `BATCH` events, at once: when
    /// many events arrive together (users joining in a storm), a connection catches up in a few
    /// writes rather than one per event.
    async fn send_events(&mut self, first: Queued) -> Option<()> {
        let link = &self.registration.link;
        let mut next = Some(first);
        let mut queued = 0;
        while let Some(event) = next.take() {
            if !link.already_seen(&event) {
                self.socket.queue_text(&event.frame);
                queued += 1;
            }
            if queued < BATCH {
                next = self.registration.events.try_recv().ok();
            }
        }
        if queued == 0 {
            return Some(());
        }
        self.flush().await
    }

    /// `None` when the peer is gone, or did not take the frames within `SEND_LIMIT`.
    async fn flush(&mut self) -> Option<()> {
        tokio::time::timeout(SEND_LIMIT, self.socket.flush()).await.ok()?.ok()
    }

    /// Sends our close frame and gives the client a moment to answer it.
    async fn finish(mut self, code: Ending) {
        if let Some(code) = code {
            self.socket.close_politely(code, SEND_LIMIT, CLOSE_WAIT).await;
        }
    }
}

/// `room:error` (90-chat-transport §2.1): the error body of the code, without a correlation id,
/// naming the room and the client event that failed.
fn room_error(event: &str, data: &Value, err: &ApiError) -> Arc<str> {
    let mut body = body_fields(err);
    body.remove("correlation_id");
    body.insert("chat_id".into(), json!(join::readable_chat_id(data)));
    body.insert("event".into(), json!(event));
    presence::frame("room:error", body)
}

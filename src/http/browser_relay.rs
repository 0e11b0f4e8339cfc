//! Browser machines on many nodes (92-browser-rooms §10.2–10.3): the internal routes a machine's
//! node serves to the other nodes, and the relay a node runs for a client whose screen's machine
//! lives elsewhere. The internal routes are in no rate tier and not in the OpenAPI document: only
//! nodes holding `browser.node_secret` can use them, and to anyone else they do not exist.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::browser::{close_with, serve_screen, ClientFrameLimits, HEARTBEAT_TIMEOUT, SCREEN_LIMITS, SEND_LIMIT};
use crate::browser::node_auth::{NodeViewer, AUTH_HEADER, VIEWER_HEADER};
use crate::domain::app::AppState;
use crate::domain::browser::machine::ScreenRoute;
use crate::domain::browser::relay::{self, RemoteMachine, RemoteScreen, UNREACHABLE};
use crate::domain::browser::screen;
use crate::domain::sessions::LiveSession;
use crate::error::ApiError;
use crate::http::correlation::{self, CORRELATION_ID_HEADER};
use crate::http::users::PathParam;
use crate::http::websocket::{Heartbeat, Incoming, WebSocket, WebSocketUpgrade};

/// How long the machine's node has to answer the relay's upgrade (§10.2).
const OWNER_ANSWER: Duration = Duration::from_secs(5);
/// How often the relay checks that the client's session is still joined to the room, as the
/// machine's node does for its own clients.
const ROOM_CHECK: Duration = Duration::from_millis(500);
/// How long closing the link to the machine's node may take.
const OWNER_CLOSE_WAIT: Duration = Duration::from_secs(1);
/// The relay to the machine's node broke (§7.10).
const RELAY_BROKE: u16 = 4014;
/// The machine's node is going away: for the client, its relay broke.
const GOING_AWAY: u16 = 1001;

type OwnerSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The internal routes, served only when this node has `browser.node_secret`. Every method is
/// routed here, so that an unsigned request of any method gets the unknown path's answer.
pub fn internal_routes(app: &AppState) -> Router<AppState> {
    if app.config.browser.node_secret.is_none() {
        return Router::new();
    }
    Router::new()
        .route(
            "/v1/internal/browser/machines/{machine_id}/screen",
            any(internal_screen),
        )
        .route(
            "/v1/internal/browser/machines/{machine_id}/screenshot",
            any(internal_screenshot),
        )
}

/// The viewer of a request signed by another node (§10.3).
fn signed_viewer(app: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<NodeViewer> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    relay::verified_viewer(app, method.as_str(), uri.path(), text(VIEWER_HEADER), text(AUTH_HEADER))
}

/// A machine id of the path; anything else names nothing.
fn machine_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().ok().filter(|id| *id >= 1).ok_or(ApiError::NotFound)
}

/// `GET /v1/internal/browser/machines/{machine_id}/screen`: a relayed viewer's screen,
/// attached like a local one, so control decisions stay on this node.
async fn internal_screen(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    PathParam(raw): PathParam,
    upgrade: Result<WebSocketUpgrade, ApiError>,
) -> Result<Response, ApiError> {
    let viewer = signed_viewer(&app, &method, &uri, &headers).ok_or(ApiError::NotFound)?;
    if method != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let machine_id = machine_id(&raw)?;
    let upgrade = upgrade?;
    let (machine, session) = relay::open_for_node(&app, &viewer, machine_id).await?;
    Ok(upgrade.on_upgrade(SCREEN_LIMITS, move |socket| {
        serve_screen(app, machine, session, socket, ScreenRoute::Relayed)
    }))
}

/// `GET /v1/internal/browser/machines/{machine_id}/screenshot`: the page as PNG for a relayed
/// screenshot (§9, §10.2).
async fn internal_screenshot(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    PathParam(raw): PathParam,
) -> Result<Response, ApiError> {
    let viewer = signed_viewer(&app, &method, &uri, &headers).ok_or(ApiError::NotFound)?;
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::MethodNotAllowed);
    }
    let png = relay::screenshot_for_node(&app, &viewer, machine_id(&raw)?).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// The screen of a machine on another node: the relay is opened before the client's upgrade is
/// answered, so that the machine's node's refusal reaches the client as an ordinary answer.
pub(super) async fn relay_screen(
    app: AppState,
    session: LiveSession,
    remote: RemoteScreen,
    upgrade: WebSocketUpgrade,
) -> Response {
    let owner = match connect_to_owner(&app, &session, &remote.machine).await {
        Ok(owner) => owner,
        Err(answer) => return answer,
    };
    let RemoteScreen { machine, slot } = remote;
    let chat_id = machine.chat_id;
    upgrade.on_upgrade(SCREEN_LIMITS, move |client| async move {
        let _slot = slot;
        let mut relay = Relay {
            app,
            session,
            chat_id,
            client,
            owner,
        };
        let code = relay.run().await;
        relay.finish(code).await;
    })
}

/// The two signed headers of a request to the machine's node, and the correlation id.
fn signed_request_headers(app: &AppState, path: &str, session: &LiveSession) -> Option<[(HeaderName, String); 3]> {
    let (viewer, auth) = relay::signed_headers(app, "GET", path, session)?;
    Some([
        (HeaderName::from_static(VIEWER_HEADER), viewer),
        (HeaderName::from_static(AUTH_HEADER), auth),
        (CORRELATION_ID_HEADER, correlation::current()),
    ])
}

fn unreachable_answer() -> Response {
    ApiError::BrowserNodeUnreachable(UNREACHABLE).into_response()
}

/// The machine's node gave no answer (`cause`), or none in time: logged once, and the client's
/// answer.
fn owner_unreachable(remote: &RemoteMachine, cause: Option<String>) -> Response {
    match cause {
        Some(cause) => tracing::warn!(machine_id = remote.machine_id, node_address = %remote.node_address, %cause,
                                      "the machine's node cannot be reached"),
        None => tracing::warn!(machine_id = remote.machine_id, node_address = %remote.node_address,
                               "the machine's node did not answer in time"),
    }
    unreachable_answer()
}

/// Opens the signed WebSocket to the machine's node; on failure, the answer the client gets.
async fn connect_to_owner(
    app: &AppState,
    session: &LiveSession,
    remote: &RemoteMachine,
) -> Result<OwnerSocket, Response> {
    let path = remote.screen_path();
    let signed = signed_request_headers(app, &path, session).ok_or_else(unreachable_answer)?;
    let url = websocket_url(&remote.node_address, &path).ok_or_else(|| {
        tracing::warn!(node_address = %remote.node_address, "browser.node_address of a machine is not an http(s) URL");
        unreachable_answer()
    })?;
    let mut request = url.into_client_request().map_err(|_| unreachable_answer())?;
    let headers = request.headers_mut();
    for (name, value) in signed {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    let connecting = tokio_tungstenite::connect_async_with_config(request, None, true);
    match tokio::time::timeout(OWNER_ANSWER, connecting).await {
        Ok(Ok((owner, _))) => Ok(owner),
        Ok(Err(WsError::Http(answer))) => {
            Err(owner_refusal(answer.status().as_u16(), answer.body().as_deref()).unwrap_or_else(unreachable_answer))
        }
        Ok(Err(cause)) => Err(owner_unreachable(remote, Some(cause.to_string()))),
        Err(_) => Err(owner_unreachable(remote, None)),
    }
}

/// The largest screenshot taken from another node: a PNG of the largest viewport (§15) with
/// room to spare.
const MAX_RELAYED_SCREENSHOT: usize = 64 * 1024 * 1024;

/// A screenshot of a machine on another node (§10.2): a signed GET of its internal route, within
/// the 5 seconds the node has to answer; its refusal passes through as the client's answer.
pub(super) async fn fetch_screenshot(
    app: &AppState,
    session: &LiveSession,
    remote: &RemoteMachine,
) -> Result<bytes::Bytes, Response> {
    let path = remote.screenshot_path();
    let signed = signed_request_headers(app, &path, session).ok_or_else(unreachable_answer)?;
    let fetched = tokio::time::timeout(OWNER_ANSWER, get_from_node(&remote.node_address, &path, signed)).await;
    match fetched {
        Ok(Ok((StatusCode::OK, png))) => Ok(png),
        Ok(Ok((status, body))) => Err(owner_refusal(status.as_u16(), Some(&body)).unwrap_or_else(unreachable_answer)),
        Ok(Err(cause)) => Err(owner_unreachable(remote, Some(cause.to_string()))),
        Err(_) => Err(owner_unreachable(remote, None)),
    }
}

/// One GET to another node over plain HTTP/1.1 (a node's address is `http://`; between nodes on
/// `https` a TLS-terminating proxy in front of each is the way, and this side does not speak TLS).
async fn get_from_node(
    node_address: &str,
    path: &str,
    headers: [(HeaderName, String); 3],
) -> Result<(StatusCode, bytes::Bytes), String> {
    use http_body_util::BodyExt;
    let authority = node_address
        .strip_prefix("http://")
        .filter(|rest| !rest.contains('/'))
        .ok_or_else(|| format!("browser.node_address {node_address:?} is not an http:// base URL"))?;
    let stream = TcpStream::connect(authority).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = axum::http::Request::get(path).header(header::HOST, authority);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let answer = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = answer.status();
    let body = http_body_util::Limited::new(answer.into_body(), MAX_RELAYED_SCREENSHOT)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

/// `{node_address}{path}` with the scheme of a WebSocket.
fn websocket_url(node_address: &str, path: &str) -> Option<String> {
    let (scheme, rest) = node_address.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => "ws",
        "https" => "wss",
        _ => return None,
    };
    Some(format!("{scheme}://{rest}{path}"))
}

/// The machine's node's refusal as the client's answer: its status and body, with this request's
/// correlation id. `None` for a 404 `ERR_NOT_FOUND` (it did not accept the signature) and for an
/// answer that is not an error body: then the node counts as unreachable.
fn owner_refusal(status: u16, body: Option<&[u8]>) -> Option<Response> {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())?;
    let Value::Object(mut body) = serde_json::from_slice(body?).ok()? else {
        return None;
    };
    let code = body.get("code")?.as_str()?;
    if status == StatusCode::NOT_FOUND && code == "ERR_NOT_FOUND" {
        return None;
    }
    body.insert("correlation_id".into(), Value::String(correlation::current()));
    let mut answer = (status, Json(Value::Object(body))).into_response();
    answer.extensions_mut().insert(correlation::RenderedError);
    Some(answer)
}

/// One relayed screen connection: the client on this node, the link to the machine's node.
struct Relay {
    app: AppState,
    session: LiveSession,
    chat_id: i64,
    client: WebSocket,
    owner: OwnerSocket,
}

impl Relay {
    /// Passes frames both ways until one side ends; the code to close the client with, or `None`
    /// when the client went.
    async fn run(&mut self) -> Option<u16> {
        let mut heartbeat = Heartbeat::new(&self.app.config.presence);
        let mut room_check = tokio::time::interval_at(Instant::now() + ROOM_CHECK, ROOM_CHECK);
        room_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut limits = ClientFrameLimits::default();
        loop {
            let idle_deadline = heartbeat.idle_deadline();
            tokio::select! {
                biased;
                from_owner = self.owner.next() => match from_owner {
                    Some(Ok(Message::Text(text))) => {
                        self.client.queue_text(text.as_str());
                        self.flush_client().await?;
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        self.client.queue_binary(&bytes);
                        self.flush_client().await?;
                    }
                    Some(Ok(Message::Close(frame))) => return Some(passed_on(frame)),
                    // The client library answers the owner's pings itself.
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return Some(RELAY_BROKE),
                },
                incoming = self.client.recv() => {
                    let message = incoming.ok()?;
                    let at = Instant::now();
                    heartbeat.seen(at);
                    if let Some(code) = limits.check(&message, at) {
                        return Some(code);
                    }
                    match message {
                        Incoming::Text(text) => {
                            let sent = tokio::time::timeout(SEND_LIMIT, self.owner.send(Message::text(text))).await;
                            if !matches!(sent, Ok(Ok(()))) {
                                return Some(RELAY_BROKE);
                            }
                        }
                        Incoming::Ping(payload) => {
                            self.client.queue_pong(&payload);
                            self.flush_client().await?;
                        }
                        Incoming::Close(code) => {
                            self.client.queue_close(code);
                            let _ = self.flush_client().await;
                            return None;
                        }
                        Incoming::Binary | Incoming::Pong => {}
                    }
                }
                _ = heartbeat.ping.tick() => {
                    self.client.queue_ping();
                    self.flush_client().await?;
                }
                _ = tokio::time::sleep_until(idle_deadline) => return Some(HEARTBEAT_TIMEOUT),
                _ = room_check.tick() => {
                    let session_id = self.session.session_id;
                    if !self.app.rooms.is_joined(self.chat_id, session_id).await {
                        return Some(screen::out_of_room_code(&self.app, self.chat_id, self.session.user.id, session_id).await);
                    }
                }
            }
        }
    }

    /// `None` when the client is gone.
    async fn flush_client(&mut self) -> Option<()> {
        tokio::time::timeout(SEND_LIMIT, self.client.flush()).await.ok()?.ok()
    }

    /// Closes the client with `code`, if it is still there, and the link to the machine's node.
    async fn finish(mut self, code: Option<u16>) {
        if let Some(code) = code {
            close_with(&mut self.client, code).await;
        }
        let closing = async {
            let normal = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            if self.owner.close(Some(normal)).await.is_ok() {
                while let Some(Ok(_)) = self.owner.next().await {}
            }
        };
        let _ = tokio::time::timeout(OWNER_CLOSE_WAIT, closing).await;
    }
}

/// The close code the machine's node gave, for the client: the same, except that its node going
/// away, or a close without a code, is a broken relay.
fn passed_on(frame: Option<CloseFrame>) -> u16 {
    match frame.map(|f| u16::from(f.code)) {
        None | Some(GOING_AWAY) => RELAY_BROKE,
        Some(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_become_websocket_urls() {
        let path = "/v1/internal/browser/machines/7/screen";
        assert_eq!(
            websocket_url("http://10.0.0.5:8080", path).as_deref(),
            Some("ws://10.0.0.5:8080/v1/internal/browser/machines/7/screen")
        );
        assert_eq!(
            websocket_url("HTTPS://node-b.internal", path).as_deref(),
            Some("wss://node-b.internal/v1/internal/browser/machines/7/screen")
        );
        assert_eq!(websocket_url("node-b:8080", path), None);
        assert_eq!(websocket_url("ftp://node-b", path), None);
    }

    #[test]
    fn the_owners_refusals_pass_on_except_an_unknown_path() {
        let full = br#"{"error":"The screen is full","code":"ERR_SCREEN_FULL","correlation_id":"x"}"#;
        let answer = owner_refusal(503, Some(full)).expect("passed on");
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        let not_found = br#"{"error":"Not found","code":"ERR_NOT_FOUND","correlation_id":"x"}"#;
        assert!(owner_refusal(404, Some(not_found)).is_none());
        assert!(owner_refusal(404, Some(br#"{"error":"x","code":"ERR_CHAT_NOT_FOUND"}"#)).is_some());
        assert!(owner_refusal(502, Some(b"<html>bad gateway</html>")).is_none());
        assert!(owner_refusal(503, None).is_none());
        assert!(owner_refusal(200, Some(full)).is_none());
    }

    #[test]
    fn the_owners_close_codes_pass_on_and_its_going_away_is_a_broken_relay() {
        let frame = |code: u16| {
            Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "".into(),
            })
        };
        assert_eq!(passed_on(frame(4010)), 4010);
        assert_eq!(passed_on(frame(4011)), 4011);
        assert_eq!(passed_on(frame(1013)), 1013);
        assert_eq!(passed_on(frame(1001)), RELAY_BROKE);
        assert_eq!(passed_on(None), RELAY_BROKE);
    }
}

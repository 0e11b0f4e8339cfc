//! A WebSocket client for the realtime connection (80-notifications-portal §3).

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderName;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// How long any expected frame may take.
pub const WAIT: Duration = Duration::from_secs(5);
/// Opens a connection with the session `token` and `headers`, or returns the refusal's status
/// and JSON body.
pub async fn try_open(addr: SocketAddr, token: Option<&str>, headers: &[(&str, &str)]) -> Result<Ws, (u16, Value)> {
    try_open_at(addr, "/v1/portal/ws", token, headers).await
}

/// Opens the WebSocket at `path` (the realtime connection, a chat's screen), or returns the
/// refusal's status and JSON body.
pub async fn try_open_at(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Ws, (u16, Value)> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("cookie", format!("psession={token}").parse().unwrap());
    }
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => {
            assert_eq!(response.status(), 101);
            Ok(ws)
        }
        Err(WsError::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| serde_json::from_slice(b).expect("a JSON refusal"))
                .unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("connection failed: {other}"),
    }
}

pub async fn open(addr: SocketAddr, token: &str) -> Ws {
    try_open(addr, Some(token), &[])
        .await
        .unwrap_or_else(|(status, body)| panic!("refused with {status}: {body}"))
}

/// Opens a connection and reads its first frame, which must be the snapshot; returns its data.
pub async fn open_with_snapshot(addr: SocketAddr, token: &str) -> (Ws, Value) {
    let mut ws = open(addr, token).await;
    let first = event(&mut ws).await;
    assert_eq!(first["event"], "presence:snapshot");
    (ws, first["data"].clone())
}

/// The next event, skipping control frames.
pub async fn event(ws: &mut Ws) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await.expect("connection open").expect("a frame") {
                Message::Text(text) => return serde_json::from_str::<Value>(text.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected an event, got {other:?}"),
            }
        }
    })
    .await
    .expect("an event in time")
}

/// The code of the close frame the server ends the connection with.
pub async fn closed_with(ws: &mut Ws) -> u16 {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("the connection ended without a close code: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame in time")
}

pub async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.unwrap();
}

/// No event is waiting: the answer to a ping is the next frame.
pub async fn nothing_pending(ws: &mut Ws) {
    send(ws, r#"{"event": "ping", "data": null}"#).await;
    let next = event(ws).await;
    assert_eq!(next["event"], "pong", "an event was waiting: {next}");
}

/// The user ids of a presence list (`users` of a snapshot or status), in order.
pub fn presence_ids(users: &Value) -> Vec<i64> {
    users
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["user"]["id"].as_i64().unwrap())
        .collect()
}

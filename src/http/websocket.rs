//! The server side of RFC 6455, as much as the realtime connection needs: the opening handshake,
//! client frames read and checked (masked, no extensions, fragments joined, a size bound), and
//! server frames written in batches.
//!
//! Written here rather than taken from a WebSocket library because an idle connection must cost
//! little memory (issue: ten thousand connections per node): a library keeps a 128 KiB read buffer
//! per connection and a write buffer as large as the largest frame it ever sent, such as a
//! `presence:snapshot` listing everyone online. Here both buffers shrink back once used, so an idle
//! connection holds a few hundred bytes of them.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::config::PresenceConfig;
use crate::error::ApiError;

/// RFC 6455 §1.3: appended to the client's key before hashing.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The free space the read buffer keeps for the next read; a write buffer larger than this is
/// given back after its flush.
const RESTING_CAPACITY: usize = 512;
/// A read buffer above this is given back once it has been used up.
const SHRINK_ABOVE: usize = 16 * 1024;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A request to open a WebSocket: a GET with the upgrade headers of RFC 6455 §4.2.1. Anything
/// else is refused with 426.
pub struct WebSocketUpgrade {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let upgrade_asked = parts.method == Method::GET
            && header_has_token(headers, header::CONNECTION, "upgrade")
            && header_has_token(headers, header::UPGRADE, "websocket")
            && headers
                .get(header::SEC_WEBSOCKET_VERSION)
                .is_some_and(|v| v.as_bytes() == b"13");
        let key = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .filter(|_| upgrade_asked)
            .ok_or(ApiError::UpgradeRequired)?;
        let accept = HeaderValue::from_str(&accept_key(key.as_bytes())).map_err(|_| ApiError::UpgradeRequired)?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(ApiError::UpgradeRequired)?;
        Ok(WebSocketUpgrade { accept, on_upgrade })
    }
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|part| part.trim().eq_ignore_ascii_case(token)))
    })
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID.as_bytes());
    STANDARD.encode(sha1.finalize())
}

impl WebSocketUpgrade {
    /// Answers 101 and runs `serve` on the socket once the switch is done.
    pub fn on_upgrade<F, Fut>(self, limits: Limits, serve: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                serve(WebSocket::new(TokioIo::new(upgraded), limits)).await;
            }
        });
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, self.accept);
        response
    }
}

/// The heartbeat of a connection (80-notifications-portal §3.3, 92-browser-rooms §7.2): a ping
/// every `presence.ping_interval_s`, and the deadline for a client that sends nothing for
/// `presence.idle_timeout_s`.
pub struct Heartbeat {
    pub ping: Interval,
    idle_limit: Duration,
    last_seen: Instant,
}

impl Heartbeat {
    pub fn new(config: &PresenceConfig) -> Heartbeat {
        let ping_every = Duration::from_secs(config.ping_interval_s.max(1));
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Heartbeat {
            ping,
            idle_limit: Duration::from_secs(config.idle_timeout_s.max(1)),
            last_seen: Instant::now(),
        }
    }

    /// The client sent something at `at`.
    pub fn seen(&mut self, at: Instant) {
        self.last_seen = at;
    }

    /// When the connection counts as dead unless the client sends something first.
    pub fn idle_deadline(&self) -> Instant {
        self.last_seen + self.idle_limit
    }
}

/// Bounds on what a client may send.
#[derive(Clone, Copy)]
pub struct Limits {
    /// The largest message (all its fragments) read; a larger one breaks the connection.
    pub max_message: usize,
}

/// A message from the client.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Text(String),
    Binary,
    Ping(Vec<u8>),
    Pong,
    /// The client's close frame, with its code when it gave one.
    Close(Option<u16>),
}

/// Why reading stopped: the peer is gone, or broke the protocol (a frame that is not masked,
/// uses an extension or an unknown opcode, a message over the limit, text that is not UTF-8).
#[derive(Debug, PartialEq)]
pub struct Broken;

/// An open WebSocket, server side.
pub struct WebSocket {
    io: TokioIo<Upgraded>,
    incoming: Incomings,
    /// Frames queued and not yet written.
    write: Vec<u8>,
}

/// The reading side's state: bytes read and not yet parsed, and a fragmented message being joined.
struct Incomings {
    limits: Limits,
    read: Vec<u8>,
    /// Whether the message is text, and its bytes so far.
    partial: Option<(bool, Vec<u8>)>,
}

impl Incomings {
    /// A whole message from the bytes already read, if they hold one.
    fn next_buffered(&mut self) -> Result<Option<Incoming>, Broken> {
        while let Some((frame, used)) = parse_frame(&self.read, self.limits.max_message)? {
            let message = self.take_frame(frame)?;
            self.read.drain(..used);
            if self.read.is_empty() && self.read.capacity() > SHRINK_ABOVE {
                self.read = Vec::new();
            }
            if message.is_some() {
                return Ok(message);
            }
        }
        Ok(None)
    }

    fn take_frame(&mut self, frame: Frame) -> Result<Option<Incoming>, Broken> {
        let Frame { fin, opcode, payload } = frame;
        match opcode {
            OP_PING => Ok(Some(Incoming::Ping(payload))),
            OP_PONG => Ok(Some(Incoming::Pong)),
            OP_CLOSE => Ok(Some(Incoming::Close(
                (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
            ))),
            OP_TEXT | OP_BINARY if self.partial.is_none() => {
                let text = opcode == OP_TEXT;
                if fin {
                    return finished(text, payload).map(Some);
                }
                self.partial = Some((text, payload));
                Ok(None)
            }
            OP_CONTINUATION => {
                let (text, mut bytes) = self.partial.take().ok_or(Broken)?;
                if bytes.len() + payload.len() > self.limits.max_message {
                    return Err(Broken);
                }
                bytes.extend_from_slice(&payload);
                if fin {
                    return finished(text, bytes).map(Some);
                }
                self.partial = Some((text, bytes));
                Ok(None)
            }
            _ => Err(Broken),
        }
    }
}

impl WebSocket {
    fn new(io: TokioIo<Upgraded>, limits: Limits) -> WebSocket {
        WebSocket {
            io,
            incoming: Incomings {
                limits,
                read: Vec::new(),
                partial: None,
            },
            write: Vec::new(),
        }
    }

    /// The next message. Cancel-safe: bytes already read stay for the next call.
    pub async fn recv(&mut self) -> Result<Incoming, Broken> {
        loop {
            if let Some(message) = self.incoming.next_buffered()? {
                return Ok(message);
            }
            let read = &mut self.incoming.read;
            if read.capacity() - read.len() < RESTING_CAPACITY {
                read.reserve(RESTING_CAPACITY);
            }
            match self.io.read_buf(read).await {
                Ok(0) | Err(_) => return Err(Broken),
                Ok(_) => {}
            }
        }
    }

    /// Queues a text frame; `flush` sends what is queued.
    pub fn queue_text(&mut self, text: &str) {
        self.queue(OP_TEXT, text.as_bytes());
    }

    /// Queues a binary frame (a screen frame, 92-browser-rooms §7.3).
    pub fn queue_binary(&mut self, bytes: &[u8]) {
        self.queue(OP_BINARY, bytes);
    }

    pub fn queue_ping(&mut self) {
        self.queue(OP_PING, &[]);
    }

    /// The answer to a client's ping carries its payload back (RFC 6455 §5.5.3).
    pub fn queue_pong(&mut self, payload: &[u8]) {
        self.queue(OP_PONG, payload);
    }

    pub fn queue_close(&mut self, code: Option<u16>) {
        let payload = code.map(u16::to_be_bytes);
        self.queue(OP_CLOSE, payload.as_ref().map_or(&[][..], |p| &p[..]));
    }

    fn queue(&mut self, opcode: u8, payload: &[u8]) {
        let len = payload.len();
        self.write.reserve(len + 10);
        self.write.push(0x80 | opcode);
        match len {
            0..=125 => self.write.push(len as u8),
            126..=0xFFFF => {
                self.write.push(126);
                self.write.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                self.write.push(127);
                self.write.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        self.write.extend_from_slice(payload);
    }

    /// Sends our close frame with `code`, then gives the client `wait` to answer it; a write that
    /// takes longer than `send_limit` ends it at once.
    pub async fn close_politely(&mut self, code: u16, send_limit: Duration, wait: Duration) {
        self.queue_close(Some(code));
        if !matches!(tokio::time::timeout(send_limit, self.flush()).await, Ok(Ok(()))) {
            return;
        }
        let _ = tokio::time::timeout(wait, async {
            while let Ok(message) = self.recv().await {
                if matches!(message, Incoming::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }

    /// Writes every queued frame. Not cancel-safe: a frame cut off midway leaves the connection
    /// unusable, so the caller drops it on a timeout.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        let written = self.io.write_all(&self.write).await;
        self.write.clear();
        // A batch of queued events can be ten kilobytes and more, and every connection of a join
        // storm writes such batches; kept, they were most of an idle connection's memory. An
        // allocation per larger write costs far less than its system call.
        if self.write.capacity() > RESTING_CAPACITY {
            self.write = Vec::new();
        }
        written?;
        self.io.flush().await
    }
}

/// A complete message from its bytes.
fn finished(text: bool, bytes: Vec<u8>) -> Result<Incoming, Broken> {
    match text {
        true => String::from_utf8(bytes).map(Incoming::Text).map_err(|_| Broken),
        false => Ok(Incoming::Binary),
    }
}

struct Frame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

/// The first frame in `bytes` and how many bytes it took, or `None` when it is not all there yet.
fn parse_frame(bytes: &[u8], max_payload: usize) -> Result<Option<(Frame, usize)>, Broken> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    let fin = first & 0x80 != 0;
    let opcode = first & 0x0F;
    // No extension was agreed, so the reserved bits must be clear; a client must mask (§5.1).
    if first & 0x70 != 0 || second & 0x80 == 0 {
        return Err(Broken);
    }
    let (len, mut at) = match second & 0x7F {
        126 => match bytes.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(b) => (u64::from_be_bytes(b.try_into().map_err(|_| Broken)?), 10),
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    let is_control = opcode & 0x08 != 0;
    if is_control && (!fin || len > 125) {
        return Err(Broken);
    }
    let len = usize::try_from(len).map_err(|_| Broken)?;
    if len > max_payload {
        return Err(Broken);
    }
    let Some(mask) = bytes.get(at..at + 4) else {
        return Ok(None);
    };
    let mask = [mask[0], mask[1], mask[2], mask[3]];
    at += 4;
    let Some(masked) = bytes.get(at..at + len) else {
        return Ok(None);
    };
    let payload = masked.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    Ok(Some((Frame { fin, opcode, payload }, at + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![first];
        match payload.len() {
            0..=125 => frame.push(0x80 | payload.len() as u8),
            len => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    fn incomings(bytes: Vec<u8>) -> Incomings {
        Incomings {
            limits: Limits { max_message: 10 },
            read: bytes,
            partial: None,
        }
    }

    #[test]
    fn fragments_are_joined_with_control_frames_between_them_and_bounded_in_all() {
        let mut bytes = client_frame(0x01, b"hel");
        bytes.extend(client_frame(0x89, b"p"));
        bytes.extend(client_frame(0x80, b"lo"));
        let mut incoming = incomings(bytes);
        assert_eq!(incoming.next_buffered(), Ok(Some(Incoming::Ping(b"p".to_vec()))));
        assert_eq!(incoming.next_buffered(), Ok(Some(Incoming::Text("hello".into()))));
        assert_eq!(incoming.next_buffered(), Ok(None));

        let mut too_long = client_frame(0x01, b"123456");
        too_long.extend(client_frame(0x80, b"789012"));
        assert_eq!(incomings(too_long).next_buffered(), Err(Broken));
        assert_eq!(incomings(client_frame(0x80, b"lo")).next_buffered(), Err(Broken));
        assert_eq!(
            incomings(client_frame(0x81, &[0xFF, 0xFE])).next_buffered(),
            Err(Broken)
        );
    }

    #[test]
    fn the_accept_key_is_the_one_of_the_rfc_example() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn a_masked_frame_is_read_whole_and_only_when_complete() {
        let frame = client_frame(0x81, &[b'x'; 300]);
        assert!(parse_frame(&frame[..frame.len() - 1], 4096).unwrap().is_none());
        let (parsed, used) = parse_frame(&frame, 4096).unwrap().unwrap();
        assert_eq!((parsed.opcode, parsed.fin, used), (OP_TEXT, true, frame.len()));
        assert_eq!(parsed.payload, vec![b'x'; 300]);
    }

    #[test]
    fn unmasked_oversized_extended_and_long_control_frames_break_the_connection() {
        assert_eq!(parse_frame(&[0x81, 0x01, b'a'], 4096).err(), Some(Broken));
        assert_eq!(parse_frame(&client_frame(0x81, &[0; 200]), 100).err(), Some(Broken));
        assert_eq!(parse_frame(&client_frame(0xC1, b"a"), 4096).err(), Some(Broken));
        assert_eq!(parse_frame(&client_frame(0x89, &[0; 126]), 4096).err(), Some(Broken));
        assert_eq!(parse_frame(&client_frame(0x09, b"a"), 4096).err(), Some(Broken));
    }
}

//! The wire of the screen socket (92-browser-rooms §7) without the socket: client text frames
//! parsed and validated into events, the binary screen frame, the cursor and client frame rates,
//! and the data of the server events that are pure data.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Map, Value};

use crate::browser::control::{ControlError, Outcome};
use crate::domain::input::{check_range, check_text, required, Fields};
use crate::domain::presence::PresenceUser;
use crate::error::ApiError;
use crate::time::Timestamp;

/// The viewport, in pixels: the frames' size and the space input coordinates are clamped into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    pub width: u16,
    pub height: u16,
}

// ---- client events (§7.2, §7.6, §7.7, §8.2) ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerType {
    Move,
    Down,
    Up,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseButton {
    None,
    Left,
    Middle,
    Right,
    Back,
    Forward,
}

impl MouseButton {
    /// The name, as the client sends it and as CDP `Input.dispatchMouseEvent` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MouseButton::None => "none",
            MouseButton::Left => "left",
            MouseButton::Middle => "middle",
            MouseButton::Right => "right",
            MouseButton::Back => "back",
            MouseButton::Forward => "forward",
        }
    }
}

/// `input:pointer`, with its defaults filled in and its coordinates clamped into the viewport.
#[derive(Debug, Clone, PartialEq)]
pub struct PointerInput {
    pub kind: PointerType,
    pub x: f64,
    pub y: f64,
    pub button: MouseButton,
    /// 0–31: 1 left, 2 right, 4 middle, 8 back, 16 forward.
    pub buttons: u8,
    /// 0–3.
    pub click_count: u8,
    /// 0–15: 1 Alt, 2 Ctrl, 4 Meta, 8 Shift.
    pub modifiers: u8,
}

/// `input:wheel`: the position clamped into the viewport, the scroll into ±`MAX_SCROLL`.
#[derive(Debug, Clone, PartialEq)]
pub struct WheelInput {
    pub x: f64,
    pub y: f64,
    pub dx: f64,
    pub dy: f64,
    pub modifiers: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Down,
    Up,
}

/// `input:key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInput {
    pub kind: KeyType,
    /// `KeyboardEvent.key`, 1–32 characters.
    pub key: String,
    /// `KeyboardEvent.code`, `""` when not sent.
    pub code: String,
    /// The text the key types, `""` when none.
    pub text: String,
    pub modifiers: u8,
    pub repeat: bool,
}

/// One client event, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    Ping,
    Pointer(PointerInput),
    Wheel(WheelInput),
    Key(KeyInput),
    /// `input:text`: 1–4000 characters inserted at the focus.
    Text(String),
    /// `nav:go` with a URL that parses; its scheme is checked later, under §3 (`nav:refused`).
    NavGo(url::Url),
    NavBack,
    NavForward,
    NavReload,
    ControlRequest,
    ControlCancel,
    ControlRelease,
    ControlGrant {
        user_id: i64,
    },
    ControlTake,
    ControlRevoke,
}

impl ClientEvent {
    /// The `event` name it came as.
    pub fn name(&self) -> &'static str {
        match self {
            ClientEvent::Ping => "ping",
            ClientEvent::Pointer(_) => "input:pointer",
            ClientEvent::Wheel(_) => "input:wheel",
            ClientEvent::Key(_) => "input:key",
            ClientEvent::Text(_) => "input:text",
            ClientEvent::NavGo(_) => "nav:go",
            ClientEvent::NavBack => "nav:back",
            ClientEvent::NavForward => "nav:forward",
            ClientEvent::NavReload => "nav:reload",
            ClientEvent::ControlRequest => "control:request",
            ClientEvent::ControlCancel => "control:cancel",
            ClientEvent::ControlRelease => "control:release",
            ClientEvent::ControlGrant { .. } => "control:grant",
            ClientEvent::ControlTake => "control:take",
            ClientEvent::ControlRevoke => "control:revoke",
        }
    }
}

/// What one client text frame is.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Event(ClientEvent),
    /// A known event whose data failed validation. Input events are answered only when the sender
    /// is the host (§7.6); `nav:go` and `control:grant` always, their validation being their first
    /// check (§7.7, §8.2).
    Invalid {
        event: &'static str,
        error: ScreenError,
    },
    /// Not a JSON object with a string `event`, or an unknown event (§7.2).
    Ignored,
}

pub const MAX_SCROLL: f64 = 10_000.0;
const MAX_KEY_CHARS: usize = 32;
const MAX_KEY_CODE_CHARS: usize = 32;
const MAX_KEY_TEXT_CHARS: usize = 8;
const MAX_INSERTED_TEXT_CHARS: usize = 4000;
const MAX_URL_CHARS: usize = 2048;

/// Parses one client text frame; `viewport` bounds the coordinates of input events.
pub fn parse_client_frame(text: &str, viewport: Viewport) -> ClientFrame {
    let Ok(Value::Object(frame)) = serde_json::from_str::<Value>(text) else {
        return ClientFrame::Ignored;
    };
    let Some(Value::String(event)) = frame.get("event") else {
        return ClientFrame::Ignored;
    };
    let data = frame.get("data").unwrap_or(&Value::Null);
    let (event, parsed): (&'static str, Result<ClientEvent, ScreenError>) = match event.as_str() {
        "ping" => ("ping", Ok(ClientEvent::Ping)),
        "input:pointer" => ("input:pointer", fields(data).and_then(|f| pointer(&f, viewport))),
        "input:wheel" => ("input:wheel", fields(data).and_then(|f| wheel(&f, viewport))),
        "input:key" => ("input:key", fields(data).and_then(|f| key(&f))),
        "input:text" => ("input:text", fields(data).and_then(|f| inserted_text(&f))),
        "nav:go" => ("nav:go", fields(data).and_then(|f| navigation_target(&f))),
        "nav:back" => ("nav:back", Ok(ClientEvent::NavBack)),
        "nav:forward" => ("nav:forward", Ok(ClientEvent::NavForward)),
        "nav:reload" => ("nav:reload", Ok(ClientEvent::NavReload)),
        "control:request" => ("control:request", Ok(ClientEvent::ControlRequest)),
        "control:cancel" => ("control:cancel", Ok(ClientEvent::ControlCancel)),
        "control:release" => ("control:release", Ok(ClientEvent::ControlRelease)),
        "control:grant" => ("control:grant", fields(data).and_then(|f| grant(&f))),
        "control:take" => ("control:take", Ok(ClientEvent::ControlTake)),
        "control:revoke" => ("control:revoke", Ok(ClientEvent::ControlRevoke)),
        _ => return ClientFrame::Ignored,
    };
    match parsed {
        Ok(event) => ClientFrame::Event(event),
        Err(error) => ClientFrame::Invalid { event, error },
    }
}

/// `data` of an event with fields: an object, or absent / `null` (every field then missing).
fn fields(data: &Value) -> Result<Fields, ScreenError> {
    match data {
        Value::Null => Ok(Fields::default()),
        Value::Object(map) => Ok(Fields(map.clone())),
        _ => Err(ScreenError::validation("data", "data must be an object")),
    }
}

fn pointer(fields: &Fields, viewport: Viewport) -> Result<ClientEvent, ScreenError> {
    let kind = match required_one_of(fields, "type", &["move", "down", "up"])? {
        "move" => PointerType::Move,
        "down" => PointerType::Down,
        _ => PointerType::Up,
    };
    let x = required_number(fields, "x")?;
    let y = required_number(fields, "y")?;
    let button = match optional_one_of(
        fields,
        "button",
        &["none", "left", "middle", "right", "back", "forward"],
    )? {
        None if kind == PointerType::Move => MouseButton::None,
        None | Some("left") => MouseButton::Left,
        Some("none") => MouseButton::None,
        Some("middle") => MouseButton::Middle,
        Some("right") => MouseButton::Right,
        Some("back") => MouseButton::Back,
        Some(_) => MouseButton::Forward,
    };
    let buttons = small_integer(fields, "buttons", 31)?.unwrap_or(0);
    let default_clicks = if kind == PointerType::Move { 0 } else { 1 };
    let click_count = small_integer(fields, "click_count", 3)?.unwrap_or(default_clicks);
    let modifiers = modifiers(fields)?;
    Ok(ClientEvent::Pointer(PointerInput {
        kind,
        x: clamp_x(x, viewport),
        y: clamp_y(y, viewport),
        button,
        buttons,
        click_count,
        modifiers,
    }))
}

fn wheel(fields: &Fields, viewport: Viewport) -> Result<ClientEvent, ScreenError> {
    let x = required_number(fields, "x")?;
    let y = required_number(fields, "y")?;
    let dx = required_number(fields, "dx")?;
    let dy = required_number(fields, "dy")?;
    let modifiers = modifiers(fields)?;
    Ok(ClientEvent::Wheel(WheelInput {
        x: clamp_x(x, viewport),
        y: clamp_y(y, viewport),
        dx: dx.clamp(-MAX_SCROLL, MAX_SCROLL),
        dy: dy.clamp(-MAX_SCROLL, MAX_SCROLL),
        modifiers,
    }))
}

fn key(fields: &Fields) -> Result<ClientEvent, ScreenError> {
    let kind = match required_one_of(fields, "type", &["down", "up"])? {
        "down" => KeyType::Down,
        _ => KeyType::Up,
    };
    let key = fields.req_str("key").map_err(ScreenError::from_validation)?;
    check_text("key", key, 1, MAX_KEY_CHARS, |_| true).map_err(ScreenError::from_validation)?;
    let code = optional_text(fields, "code", MAX_KEY_CODE_CHARS)?;
    let text = optional_text(fields, "text", MAX_KEY_TEXT_CHARS)?;
    let modifiers = modifiers(fields)?;
    let repeat = fields
        .opt_bool("repeat")
        .map_err(ScreenError::from_validation)?
        .unwrap_or(false);
    Ok(ClientEvent::Key(KeyInput {
        kind,
        key: key.to_owned(),
        code,
        text,
        modifiers,
        repeat,
    }))
}

fn inserted_text(fields: &Fields) -> Result<ClientEvent, ScreenError> {
    let text = fields.req_str("text").map_err(ScreenError::from_validation)?;
    check_text("text", text, 1, MAX_INSERTED_TEXT_CHARS, |_| true).map_err(ScreenError::from_validation)?;
    Ok(ClientEvent::Text(text.to_owned()))
}

/// `nav:go`'s first check (§7.7 step 1), made before the sender's role and the machine are looked
/// at: 1–2048 characters that parse as an absolute URL of any scheme.
fn navigation_target(fields: &Fields) -> Result<ClientEvent, ScreenError> {
    let text = fields.req_str("url").map_err(ScreenError::from_validation)?;
    check_text("url", text, 1, MAX_URL_CHARS, |_| true).map_err(ScreenError::from_validation)?;
    url::Url::parse(text)
        .map(ClientEvent::NavGo)
        .map_err(|_| ScreenError::validation("url", "url must be a valid URL"))
}

fn grant(fields: &Fields) -> Result<ClientEvent, ScreenError> {
    let user_id = fields.req_positive("user_id").map_err(ScreenError::from_validation)?;
    Ok(ClientEvent::ControlGrant { user_id })
}

fn required_number(fields: &Fields, name: &str) -> Result<f64, ScreenError> {
    fields
        .opt_f64(name)
        .and_then(|value| value.ok_or_else(|| required(name)))
        .map_err(ScreenError::from_validation)
}

fn optional_one_of<'a>(fields: &'a Fields, name: &str, allowed: &[&str]) -> Result<Option<&'a str>, ScreenError> {
    match fields.opt_str(name).map_err(ScreenError::from_validation)? {
        None => Ok(None),
        Some(value) if allowed.contains(&value) => Ok(Some(value)),
        Some(_) => Err(ScreenError::validation(
            name,
            format!("{name} must be one of: {}", allowed.join(", ")),
        )),
    }
}

fn required_one_of<'a>(fields: &'a Fields, name: &str, allowed: &[&str]) -> Result<&'a str, ScreenError> {
    optional_one_of(fields, name, allowed)?.ok_or_else(|| ScreenError::from_validation(required(name)))
}

/// An optional integer of 0 … `max` (`max` ≤ 255).
fn small_integer(fields: &Fields, name: &str, max: u8) -> Result<Option<u8>, ScreenError> {
    let Some(value) = fields.opt_i64(name).map_err(ScreenError::from_validation)? else {
        return Ok(None);
    };
    let value = check_range(name, value, 0, i64::from(max)).map_err(ScreenError::from_validation)?;
    Ok(Some(value as u8))
}

fn modifiers(fields: &Fields) -> Result<u8, ScreenError> {
    Ok(small_integer(fields, "modifiers", 15)?.unwrap_or(0))
}

fn optional_text(fields: &Fields, name: &str, max: usize) -> Result<String, ScreenError> {
    let text = fields
        .opt_str(name)
        .map_err(ScreenError::from_validation)?
        .unwrap_or("");
    check_text(name, text, 0, max, |_| true).map_err(ScreenError::from_validation)?;
    Ok(text.to_owned())
}

fn clamp_x(x: f64, viewport: Viewport) -> f64 {
    x.clamp(0.0, f64::from(viewport.width.saturating_sub(1)))
}

fn clamp_y(y: f64, viewport: Viewport) -> f64 {
    y.clamp(0.0, f64::from(viewport.height.saturating_sub(1)))
}

// ---- errors on the socket (§7.9) ----

/// A `screen:error`: a control refusal, a validation failure, kiosk mode, or an override whose
/// audit row could not be written (§13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenError {
    /// `field` names the failing field as written (00-conventions §5.1).
    Validation {
        field: Option<String>,
        message: String,
    },
    Control(ControlError),
    BrowserKiosk,
    Internal,
}

impl ScreenError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        ScreenError::Validation {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The validation failures of `crate::domain::input`; they never produce another error.
    fn from_validation(err: ApiError) -> Self {
        match err {
            ApiError::Validation { field, message } => ScreenError::Validation { field, message },
            _ => ScreenError::Internal,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ScreenError::Validation { .. } => "ERR_VALIDATION",
            ScreenError::Control(err) => err.code(),
            ScreenError::BrowserKiosk => "ERR_BROWSER_KIOSK",
            ScreenError::Internal => "ERR_INTERNAL",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ScreenError::Validation { message, .. } => message,
            ScreenError::Control(err) => err.message(),
            ScreenError::BrowserKiosk => "Navigation is turned off on this browser",
            ScreenError::Internal => "Internal server error",
        }
    }

    /// `screen:error` data: `{chat_id, event, code, error}` and the code's extra fields
    /// (`field`, `ttl`, `expires_at`).
    pub fn data(&self, chat_id: i64, event: &str) -> Value {
        let mut data = Map::new();
        data.insert("chat_id".into(), json!(chat_id));
        data.insert("event".into(), json!(event));
        data.insert("code".into(), json!(self.code()));
        data.insert("error".into(), json!(self.message()));
        match self {
            ScreenError::Validation { field, .. } => {
                data.insert("field".into(), json!(field));
            }
            ScreenError::Control(err) => data.extend(err.extra_fields()),
            ScreenError::BrowserKiosk | ScreenError::Internal => {}
        }
        Value::Object(data)
    }
}

impl From<ControlError> for ScreenError {
    fn from(err: ControlError) -> Self {
        ScreenError::Control(err)
    }
}

/// §7.7 checks 2–4 of `nav:*`, after `nav:go`'s URL was parsed: the sender is the host, the
/// machine is not in kiosk mode, the machine is `running`.
pub fn check_navigation(sender_is_host: bool, kiosk: bool, running: bool) -> Result<(), ScreenError> {
    if !sender_is_host {
        return Err(ControlError::NotHost.into());
    }
    if kiosk {
        return Err(ScreenError::BrowserKiosk);
    }
    if !running {
        return Err(ControlError::BrowserNotRunning.into());
    }
    Ok(())
}

// ---- server event data (§7.5, §8.2) ----

/// `control:changed` data after `outcome`: `{chat_id, reason, by, host, host_away_until, queue}`.
/// For an event that changed nothing, `outcome.reason` is `unchanged` and this goes to the asking
/// connection alone.
pub fn control_changed_data(chat_id: i64, outcome: &Outcome, presence: impl Fn(i64) -> PresenceUser) -> Value {
    let queue: Vec<PresenceUser> = outcome.queue().iter().map(|&user_id| presence(user_id)).collect();
    json!({
        "chat_id": chat_id,
        "reason": outcome.reason.as_str(),
        "by": outcome.by,
        "host": outcome.host().map(&presence),
        "host_away_until": outcome.host_away_until().map(Timestamp),
        "queue": queue,
    })
}

pub fn cursor_moved_data(chat_id: i64, user_id: i64, position: CursorPosition) -> Value {
    json!({"chat_id": chat_id, "user_id": user_id, "x": position.x, "y": position.y, "host": position.host})
}

pub fn cursor_gone_data(chat_id: i64, user_id: i64) -> Value {
    json!({"chat_id": chat_id, "user_id": user_id})
}

/// `pong` data; `at` in microseconds since the epoch.
pub fn pong_data(at: i64) -> Value {
    json!({"at": Timestamp(at)})
}

// ---- screen frames (§7.3) ----

pub const FRAME_HEADER_LENGTH: u16 = 24;
const FRAME_VERSION: u8 = 1;
const FRAME_KIND_JPEG: u8 = 1;

/// One binary screen frame: the 24-byte header of §7.3 (big-endian), then the JPEG. Built once per
/// accepted image and shared by every connection (§7.4).
pub fn frame_bytes(frame_number: u32, width: u16, height: u16, timestamp_ms: u64, jpeg: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(usize::from(FRAME_HEADER_LENGTH) + jpeg.len());
    frame.put_u8(FRAME_VERSION);
    frame.put_u8(FRAME_KIND_JPEG);
    frame.put_u16(FRAME_HEADER_LENGTH);
    frame.put_u32(frame_number);
    frame.put_u16(width);
    frame.put_u16(height);
    frame.put_u64(timestamp_ms);
    // A JPEG is a few hundred kilobytes at most; one over 4 GiB cannot come from a screencast.
    frame.put_u32(u32::try_from(jpeg.len()).unwrap_or(u32::MAX));
    frame.put_slice(jpeg);
    frame.freeze()
}

// ---- rates (§7.2, §7.8) ----

/// A position of a user's pointer to show to the others.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CursorPosition {
    pub x: f64,
    pub y: f64,
    pub host: bool,
}

/// At most 20 `cursor:moved` per second for one user (§7.8): a move that comes sooner than
/// 1/20 s after the last one sent is held, a newer one replaces it, and the held one goes when its
/// time comes — so the pointer's last position always reaches the others.
#[derive(Debug, Clone, Default)]
pub struct CursorThrottle {
    last_sent: Option<Instant>,
    held: Option<CursorPosition>,
}

impl CursorThrottle {
    pub const INTERVAL: Duration = Duration::from_millis(50);

    pub fn new() -> Self {
        CursorThrottle::default()
    }

    /// A new position at `now`: the position to send at once, or `None` when it is held until
    /// `due_at`.
    pub fn offer(&mut self, position: CursorPosition, now: Instant) -> Option<CursorPosition> {
        if self.last_sent.is_some_and(|last| now < last + Self::INTERVAL) {
            self.held = Some(position);
            return None;
        }
        self.held = None;
        self.last_sent = Some(now);
        Some(position)
    }

    /// When the held position may be sent; `None` when nothing is held.
    pub fn due_at(&self) -> Option<Instant> {
        self.held?;
        self.last_sent.map(|last| last + Self::INTERVAL)
    }

    /// The held position once its time has come, counted as sent.
    pub fn take_due(&mut self, now: Instant) -> Option<CursorPosition> {
        if self.due_at().is_some_and(|due| now >= due) {
            self.last_sent = Some(now);
            return self.held.take();
        }
        None
    }

    /// Drops a held position: the cursor went (`cursor:gone`).
    pub fn clear(&mut self) {
        self.held = None;
    }
}

/// The client frame limit of one connection (§7.2): more than 200 frames within any 1 second
/// closes it with 1008.
#[derive(Debug, Clone, Default)]
pub struct ClientFrameRate {
    /// The arrival times of the last frames still within one second of the newest.
    recent: VecDeque<Instant>,
}

impl ClientFrameRate {
    pub const MAX_FRAMES: usize = 200;
    pub const WINDOW: Duration = Duration::from_secs(1);

    pub fn new() -> Self {
        ClientFrameRate::default()
    }

    /// Counts a frame arriving at `now`; false when it is one too many.
    pub fn admit(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|&first| now.duration_since(first) >= Self::WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= Self::MAX_FRAMES {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

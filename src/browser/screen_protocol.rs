//! The wire of the screen socket (92-browser-rooms §7) without the socket: client text frames
//! parsed and validated into events, the binary screen frame, the cursor and client frame rates,
//! and the data of the server events that are pure data.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Map, Value};

use crate::browser::control::{ControlError, Outcome};
use crate::browser::tab::{Key, KeyKind, MouseButton, Pointer, PointerKind, Wheel};
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

/// One client event, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    Ping,
    Pointer(Pointer),
    Wheel(Wheel),
    Key(Key),
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
        "move" => PointerKind::Move,
        "down" => PointerKind::Down,
        _ => PointerKind::Up,
    };
    let x = required_number(fields, "x")?;
    let y = required_number(fields, "y")?;
    let button = match optional_one_of(
        fields,
        "button",
        &["none", "left", "middle", "right", "back", "forward"],
    )? {
        None if kind == PointerKind::Move => MouseButton::None,
        None | Some("left") => MouseButton::Left,
        Some("none") => MouseButton::None,
        Some("middle") => MouseButton::Middle,
        Some("right") => MouseButton::Right,
        Some("back") => MouseButton::Back,
        Some(_) => MouseButton::Forward,
    };
    let buttons = small_integer(fields, "buttons", 31)?.unwrap_or(0);
    let default_clicks = if kind == PointerKind::Move { 0 } else { 1 };
    let click_count = small_integer(fields, "click_count", 3)?.unwrap_or(default_clicks);
    let modifiers = modifiers(fields)?;
    Ok(ClientEvent::Pointer(Pointer {
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
    Ok(ClientEvent::Wheel(Wheel {
        x: clamp_x(x, viewport),
        y: clamp_y(y, viewport),
        dx: dx.clamp(-MAX_SCROLL, MAX_SCROLL),
        dy: dy.clamp(-MAX_SCROLL, MAX_SCROLL),
        modifiers,
    }))
}

fn key(fields: &Fields) -> Result<ClientEvent, ScreenError> {
    let kind = match required_one_of(fields, "type", &["down", "up"])? {
        "down" => KeyKind::Down,
        _ => KeyKind::Up,
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
    Ok(ClientEvent::Key(Key {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browser::control::{ChatSettings, ControlState, Facts, UserFacts};
    use crate::level::Level;

    const VIEWPORT: Viewport = Viewport {
        width: 1280,
        height: 720,
    };

    fn parse(frame: Value) -> ClientFrame {
        parse_client_frame(&frame.to_string(), VIEWPORT)
    }

    fn event(frame: Value) -> ClientEvent {
        match parse(frame) {
            ClientFrame::Event(event) => event,
            other => panic!("not an event: {other:?}"),
        }
    }

    /// The field and message of a validation failure, and the event it names.
    fn invalid(frame: Value) -> (&'static str, Option<String>, String) {
        match parse(frame) {
            ClientFrame::Invalid {
                event,
                error: ScreenError::Validation { field, message },
            } => (event, field, message),
            other => panic!("not a validation failure: {other:?}"),
        }
    }

    fn message_of(frame: Value) -> String {
        invalid(frame).2
    }

    #[test]
    fn frames_that_are_not_events_are_ignored() {
        for text in [
            "not json",
            "[1, 2]",
            "\"ping\"",
            "{}",
            r#"{"event": 1}"#,
            r#"{"event": null}"#,
            r#"{"event": "room:join", "data": {}}"#,
            r#"{"event": "input:touch", "data": {}}"#,
        ] {
            assert_eq!(parse_client_frame(text, VIEWPORT), ClientFrame::Ignored, "{text}");
        }
    }

    #[test]
    fn events_without_fields_ignore_their_data() {
        let cases = [
            ("ping", ClientEvent::Ping),
            ("nav:back", ClientEvent::NavBack),
            ("nav:forward", ClientEvent::NavForward),
            ("nav:reload", ClientEvent::NavReload),
            ("control:request", ClientEvent::ControlRequest),
            ("control:cancel", ClientEvent::ControlCancel),
            ("control:release", ClientEvent::ControlRelease),
            ("control:take", ClientEvent::ControlTake),
            ("control:revoke", ClientEvent::ControlRevoke),
        ];
        for (name, expected) in cases {
            assert_eq!(event(json!({"event": name, "data": null})), expected);
            assert_eq!(event(json!({"event": name})), expected);
            assert_eq!(event(json!({"event": name, "data": 5})), expected);
            assert_eq!(expected.name(), name);
        }
    }

    #[test]
    fn a_pointer_event_as_the_contract_shows_it() {
        let parsed = event(json!({"event": "input:pointer", "data":
            {"type": "down", "x": 412, "y": 233.5, "button": "left", "buttons": 1, "click_count": 1}}));
        assert_eq!(
            parsed,
            ClientEvent::Pointer(Pointer {
                kind: PointerKind::Down,
                x: 412.0,
                y: 233.5,
                button: MouseButton::Left,
                buttons: 1,
                click_count: 1,
                modifiers: 0,
            })
        );
        assert_eq!(parsed.name(), "input:pointer");
    }

    #[test]
    fn pointer_defaults_depend_on_the_type() {
        let moved = event(json!({"event": "input:pointer", "data": {"type": "move", "x": 1, "y": 2}}));
        let ClientEvent::Pointer(moved) = moved else {
            panic!("a pointer event")
        };
        assert_eq!(
            (moved.button, moved.click_count, moved.buttons),
            (MouseButton::None, 0, 0)
        );
        let up = event(json!({"event": "input:pointer", "data": {"type": "up", "x": 1, "y": 2, "modifiers": 8}}));
        let ClientEvent::Pointer(up) = up else {
            panic!("a pointer event")
        };
        assert_eq!((up.button, up.click_count, up.modifiers), (MouseButton::Left, 1, 8));
        let buttons = ["none", "left", "middle", "right", "back", "forward"];
        for name in buttons {
            let parsed =
                event(json!({"event": "input:pointer", "data": {"type": "down", "x": 1, "y": 2, "button": name}}));
            let ClientEvent::Pointer(parsed) = parsed else {
                panic!("a pointer event")
            };
            assert_eq!(parsed.button.as_str(), name);
        }
    }

    #[test]
    fn coordinates_are_clamped_into_the_viewport() {
        let parsed = event(json!({"event": "input:pointer", "data": {"type": "move", "x": -5.5, "y": 9999}}));
        let ClientEvent::Pointer(parsed) = parsed else {
            panic!("a pointer event")
        };
        assert_eq!((parsed.x, parsed.y), (0.0, 719.0));
        let parsed = event(json!({"event": "input:wheel", "data": {"x": 1280, "y": -1, "dx": -20000, "dy": 12.5}}));
        assert_eq!(
            parsed,
            ClientEvent::Wheel(Wheel {
                x: 1279.0,
                y: 0.0,
                dx: -10_000.0,
                dy: 12.5,
                modifiers: 0,
            })
        );
        let parsed = event(json!({"event": "input:wheel", "data": {"x": 0, "y": 0, "dx": 0, "dy": 1e9}}));
        let ClientEvent::Wheel(parsed) = parsed else {
            panic!("a wheel event")
        };
        assert_eq!(parsed.dy, MAX_SCROLL);
    }

    #[test]
    fn pointer_validation_names_the_first_failing_field() {
        let pointer = |data: Value| json!({"event": "input:pointer", "data": data});
        assert_eq!(
            invalid(pointer(json!({"x": "a"}))),
            ("input:pointer", Some("type".into()), "type is required".into())
        );
        assert_eq!(
            message_of(pointer(json!({"type": "click", "x": 1, "y": 1}))),
            "type must be one of: move, down, up"
        );
        assert_eq!(
            invalid(pointer(json!({"type": "move", "x": "1", "y": 1}))),
            ("input:pointer", Some("x".into()), "x must be a number".into())
        );
        assert_eq!(message_of(pointer(json!({"type": "move", "x": 1}))), "y is required");
        assert_eq!(
            message_of(pointer(json!({"type": "down", "x": 1, "y": 1, "button": "side"}))),
            "button must be one of: none, left, middle, right, back, forward"
        );
        assert_eq!(
            message_of(pointer(json!({"type": "down", "x": 1, "y": 1, "buttons": 32}))),
            "buttons must be between 0 and 31"
        );
        assert_eq!(
            message_of(pointer(json!({"type": "down", "x": 1, "y": 1, "click_count": 1.5}))),
            "click_count must be an integer"
        );
        assert_eq!(
            message_of(pointer(json!({"type": "down", "x": 1, "y": 1, "click_count": 4}))),
            "click_count must be between 0 and 3"
        );
        assert_eq!(
            message_of(pointer(json!({"type": "down", "x": 1, "y": 1, "modifiers": -1}))),
            "modifiers must be between 0 and 15"
        );
        assert_eq!(
            invalid(json!({"event": "input:pointer", "data": [1]})),
            ("input:pointer", Some("data".into()), "data must be an object".into())
        );
        assert_eq!(message_of(json!({"event": "input:pointer"})), "type is required");
    }

    #[test]
    fn wheel_validation() {
        let wheel = |data: Value| json!({"event": "input:wheel", "data": data});
        assert_eq!(message_of(wheel(json!({"x": 1, "y": 1, "dy": 1}))), "dx is required");
        assert_eq!(
            message_of(wheel(json!({"x": 1, "y": 1, "dx": 1, "dy": true}))),
            "dy must be a number"
        );
        assert_eq!(
            message_of(wheel(json!({"x": 1, "y": 1, "dx": 1, "dy": 1, "modifiers": 16}))),
            "modifiers must be between 0 and 15"
        );
    }

    #[test]
    fn key_events_with_their_defaults_and_limits() {
        let parsed = event(json!({"event": "input:key", "data": {"type": "down", "key": "Enter", "code": "Enter"}}));
        assert_eq!(
            parsed,
            ClientEvent::Key(Key {
                kind: KeyKind::Down,
                key: "Enter".into(),
                code: "Enter".into(),
                text: String::new(),
                modifiers: 0,
                repeat: false,
            })
        );
        let parsed = event(json!({"event": "input:key", "data":
            {"type": "up", "key": "a", "text": "a", "modifiers": 2, "repeat": true}}));
        let ClientEvent::Key(parsed) = parsed else {
            panic!("a key event")
        };
        assert_eq!(
            (parsed.kind, parsed.text.as_str(), parsed.modifiers, parsed.repeat),
            (KeyKind::Up, "a", 2, true)
        );
        let key = |data: Value| json!({"event": "input:key", "data": data});
        assert_eq!(
            message_of(key(json!({"type": "press", "key": "a"}))),
            "type must be one of: down, up"
        );
        assert_eq!(message_of(key(json!({"type": "down"}))), "key is required");
        assert_eq!(
            message_of(key(json!({"type": "down", "key": ""}))),
            "key must be at least 1 characters"
        );
        assert_eq!(
            message_of(key(json!({"type": "down", "key": "k".repeat(33)}))),
            "key must be at most 32 characters"
        );
        assert!(matches!(
            parse(key(json!({"type": "down", "key": "é".repeat(32)}))),
            ClientFrame::Event(_)
        ));
        assert_eq!(
            message_of(key(json!({"type": "down", "key": "a", "code": "c".repeat(33)}))),
            "code must be at most 32 characters"
        );
        assert_eq!(
            message_of(key(json!({"type": "down", "key": "a", "text": "abcdefghi"}))),
            "text must be at most 8 characters"
        );
        assert_eq!(
            message_of(key(json!({"type": "down", "key": "a", "repeat": 1}))),
            "repeat must be a boolean"
        );
    }

    #[test]
    fn inserted_text_is_one_to_four_thousand_characters() {
        assert_eq!(
            event(json!({"event": "input:text", "data": {"text": "co-browsing is fun"}})),
            ClientEvent::Text("co-browsing is fun".into())
        );
        let text = |data: Value| json!({"event": "input:text", "data": data});
        assert_eq!(message_of(text(json!({}))), "text is required");
        assert_eq!(
            message_of(text(json!({"text": ""}))),
            "text must be at least 1 characters"
        );
        assert_eq!(
            message_of(text(json!({"text": "x".repeat(4001)}))),
            "text must be at most 4000 characters"
        );
        assert_eq!(message_of(text(json!({"text": 5}))), "text must be a string");
    }

    #[test]
    fn navigation_takes_absolute_urls_of_any_scheme() {
        let go = |url: Value| json!({"event": "nav:go", "data": {"url": url}});
        let ClientEvent::NavGo(url) = event(go(json!("https://example.org/"))) else {
            panic!("a nav:go")
        };
        assert_eq!(url.as_str(), "https://example.org/");
        // Other schemes parse here and are refused later by the egress rules (§7.7).
        let ClientEvent::NavGo(url) = event(go(json!("javascript:alert(1)"))) else {
            panic!("a nav:go")
        };
        assert_eq!(url.scheme(), "javascript");
        for bad in ["example.org", "/relative", "http://exa mple.org/", "http://[::1/"] {
            assert_eq!(
                invalid(go(json!(bad))),
                ("nav:go", Some("url".into()), "url must be a valid URL".into()),
                "{bad}"
            );
        }
        assert_eq!(message_of(json!({"event": "nav:go", "data": {}})), "url is required");
        assert_eq!(message_of(go(json!(5))), "url must be a string");
        assert_eq!(message_of(go(json!(""))), "url must be at least 1 characters");
        let long = format!("https://example.org/{}", "a".repeat(2029));
        assert_eq!(message_of(go(json!(long))), "url must be at most 2048 characters");
    }

    #[test]
    fn navigation_checks_the_host_then_kiosk_then_the_machine() {
        assert_eq!(check_navigation(false, true, false), Err(ControlError::NotHost.into()));
        assert_eq!(check_navigation(true, true, false), Err(ScreenError::BrowserKiosk));
        assert_eq!(
            check_navigation(true, false, false),
            Err(ControlError::BrowserNotRunning.into())
        );
        assert_eq!(check_navigation(true, false, true), Ok(()));
    }

    #[test]
    fn grant_needs_a_positive_integer_user_id() {
        assert_eq!(
            event(json!({"event": "control:grant", "data": {"user_id": 9}})),
            ClientEvent::ControlGrant { user_id: 9 }
        );
        let grant = |data: Value| json!({"event": "control:grant", "data": data});
        assert_eq!(
            invalid(grant(json!({}))),
            ("control:grant", Some("user_id".into()), "user_id is required".into())
        );
        assert_eq!(message_of(grant(json!({"user_id": 0}))), "user_id must be at least 1");
        assert_eq!(message_of(grant(json!({"user_id": "9"}))), "user_id must be an integer");
        assert_eq!(
            message_of(json!({"event": "control:grant", "data": null})),
            "user_id is required"
        );
    }

    #[test]
    fn screen_error_data_as_the_contract_shows_it() {
        let error = ScreenError::from(ControlError::ControlRequestsDisabled);
        assert_eq!(
            error.data(42, "control:request"),
            json!({"chat_id": 42, "event": "control:request", "code": "ERR_CONTROL_REQUESTS_DISABLED",
                   "error": "Control requests are turned off in this chat"})
        );
        assert_eq!(
            ScreenError::from(ControlError::ChatMuted { ttl: 30 }).data(42, "control:take"),
            json!({"chat_id": 42, "event": "control:take", "code": "ERR_CHAT_MUTED",
                   "error": "You are muted in this chat", "ttl": 30})
        );
        assert_eq!(
            ScreenError::from(ControlError::HardMuted { expires_at: None }).data(42, "control:request"),
            json!({"chat_id": 42, "event": "control:request", "code": "ERR_HARD_MUTED",
                   "error": "You are muted in every chat", "expires_at": null})
        );
        assert_eq!(
            ScreenError::validation("x", "x must be a number").data(42, "input:pointer"),
            json!({"chat_id": 42, "event": "input:pointer", "code": "ERR_VALIDATION",
                   "error": "x must be a number", "field": "x"})
        );
        assert_eq!(
            ScreenError::BrowserKiosk.data(42, "nav:go"),
            json!({"chat_id": 42, "event": "nav:go", "code": "ERR_BROWSER_KIOSK",
                   "error": "Navigation is turned off on this browser"})
        );
        assert_eq!(
            ScreenError::Internal.data(42, "control:take"),
            json!({"chat_id": 42, "event": "control:take", "code": "ERR_INTERNAL",
                   "error": "Internal server error"})
        );
    }

    fn presence(user_id: i64) -> PresenceUser {
        let username = match user_id {
            7 => "alice",
            9 => "bob",
            _ => "someone",
        };
        PresenceUser {
            id: user_id,
            username: username.into(),
            avatar_url: None,
            permission_level: 0,
        }
    }

    #[test]
    fn control_changed_data_as_the_contract_shows_it() {
        let settings = ChatSettings {
            allow_control_requests: true,
            locked_controls: false,
            implicit_hosting: false,
            inactive_cursors: false,
        };
        let member = UserFacts {
            level: Level::User,
            manager: false,
            is_owner: false,
            may_control: Ok(()),
        };
        let facts = Facts::new(7).with(7, member.clone()).with(9, member);
        let state = ControlState::new(settings);
        let state = state.viewer_joined(7, 0, &facts, true).state;
        let state = state.viewer_joined(9, 0, &facts, true).state;
        let state = state.request(7, &facts, true).expect("free control").state;
        let outcome = state.request(9, &facts, true).expect("a request");
        assert_eq!(
            control_changed_data(42, &outcome, presence),
            json!({"chat_id": 42, "reason": "request", "by": 9,
                   "host": {"id": 7, "username": "alice", "avatar_url": null, "permission_level": 0},
                   "host_away_until": null,
                   "queue": [{"id": 9, "username": "bob", "avatar_url": null, "permission_level": 0}]})
        );
        let away_until = Timestamp::parse("2026-04-04T12:00:10Z").expect("a timestamp").0;
        let away = outcome.state.viewer_left(7, away_until - 10_000_000, 10_000_000);
        let data = control_changed_data(42, &away, presence);
        assert_eq!(data["reason"], "away");
        assert_eq!(data["by"], Value::Null);
        assert_eq!(data["host_away_until"], "2026-04-04T12:00:10Z");
    }

    #[test]
    fn cursor_and_pong_data() {
        let position = CursorPosition {
            x: 640.0,
            y: 360.0,
            host: false,
        };
        assert_eq!(
            cursor_moved_data(42, 9, position),
            json!({"chat_id": 42, "user_id": 9, "x": 640.0, "y": 360.0, "host": false})
        );
        assert_eq!(cursor_gone_data(42, 9), json!({"chat_id": 42, "user_id": 9}));
        let at = Timestamp::parse("2026-04-04T12:00:00Z").expect("a timestamp").0;
        assert_eq!(pong_data(at), json!({"at": "2026-04-04T12:00:00Z"}));
    }

    #[test]
    fn the_frame_header_matches_the_contract_example() {
        let received = Timestamp::parse("2026-04-04T12:00:00.123Z").expect("a timestamp").0 / 1000;
        let mut jpeg = vec![0u8; 80_511];
        jpeg[..4].copy_from_slice(&[0xff, 0xd8, 0xff, 0xe0]);
        jpeg[80_509..].copy_from_slice(&[0xff, 0xd9]);
        let frame = frame_bytes(42, 1280, 720, received as u64, &jpeg);
        let expected_start = [
            0x01, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00, 0x2a, 0x05, 0x00, 0x02, 0xd0, 0x00, 0x00, 0x01, 0x9d, 0x58, 0x5d,
            0x42, 0x7b, 0x00, 0x01, 0x3a, 0x7f, 0xff, 0xd8, 0xff, 0xe0,
        ];
        assert_eq!(&frame[..28], &expected_start);
        assert_eq!(frame.len(), 24 + 80_511);
        assert_eq!(&frame[24..], &jpeg[..]);
        assert_eq!(usize::from(FRAME_HEADER_LENGTH), 24);
    }

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn cursor_moves_are_coalesced_to_the_newest_position() {
        let start = Instant::now();
        let mut throttle = CursorThrottle::new();
        let position = |x: f64| CursorPosition { x, y: 0.0, host: true };
        assert_eq!(throttle.offer(position(1.0), start), Some(position(1.0)));
        assert_eq!(throttle.due_at(), None);
        assert_eq!(throttle.offer(position(2.0), at(start, 10)), None);
        assert_eq!(throttle.offer(position(3.0), at(start, 20)), None);
        assert_eq!(throttle.due_at(), Some(at(start, 50)));
        assert_eq!(throttle.take_due(at(start, 49)), None);
        assert_eq!(throttle.take_due(at(start, 50)), Some(position(3.0)));
        assert_eq!(throttle.take_due(at(start, 200)), None);
        // The next one waits a full interval after the held one went.
        assert_eq!(throttle.offer(position(4.0), at(start, 80)), None);
        throttle.clear();
        assert_eq!(throttle.due_at(), None);
        assert_eq!(throttle.offer(position(5.0), at(start, 100)), Some(position(5.0)));
    }

    #[test]
    fn at_most_twenty_cursor_moves_go_out_in_any_second() {
        let start = Instant::now();
        let mut throttle = CursorThrottle::new();
        let mut sent = Vec::new();
        for millis in 0..3000 {
            let now = at(start, millis);
            let position = CursorPosition {
                x: millis as f64,
                y: 0.0,
                host: false,
            };
            if throttle.offer(position, now).is_some() || throttle.take_due(now).is_some() {
                sent.push(millis);
            }
        }
        for (index, &first) in sent.iter().enumerate() {
            let within = sent[index..].iter().take_while(|&&later| later < first + 1000).count();
            assert!(within <= 20, "{within} moves within a second from {first} ms");
        }
        assert_eq!(sent.iter().filter(|&&millis| millis < 1000).count(), 20);
    }

    #[test]
    fn more_than_two_hundred_client_frames_within_a_second_is_a_violation() {
        let start = Instant::now();
        let mut rate = ClientFrameRate::new();
        for millis in 0..200 {
            assert!(rate.admit(at(start, millis * 4)), "frame {millis}");
        }
        // The 201st within one second of the first.
        assert!(!rate.admit(at(start, 999)));
        // A second after the first frame it has left the window.
        assert!(rate.admit(at(start, 1000)));
        let mut burst = ClientFrameRate::new();
        for _ in 0..ClientFrameRate::MAX_FRAMES {
            assert!(burst.admit(start));
        }
        assert!(!burst.admit(start));
        assert!(burst.admit(at(start, 1000)));
    }
}

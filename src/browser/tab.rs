//! The one tab of a machine (92-browser-rooms §2.4, §3.2–3.4, §7.3–7.7, §9), driven over any
//! [`Cdp`] connection whatever engine runs the browser: the screencast, the page's state, input,
//! navigation under the egress rules, and the page's ways out of one tab (windows, dialogs,
//! downloads, file pickers, permissions) closed.
//!
//! Top-level navigations are judged here before they load: `Fetch` pauses every document request,
//! the main frame's is judged by the caller's [`Judge`] (the egress rules with one resolution), and a
//! refused one is failed and replaced by the server's refusal page. The proxy still judges every
//! request on its own and stays authoritative; what only it refuses is a subresource.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::browser::cdp::{Cdp, CdpError, CdpEvent};
use crate::browser::egress::rules::Reason;

/// Decides a top-level navigation's URL: `Some(reason)` refuses it.
pub type Judge = Arc<dyn Fn(String) -> BoxFuture<'static, Option<Reason>> + Send + Sync>;

/// The longest URL a refusal reports (§3.4).
const MAX_REPORTED_URL: usize = 2048;

/// Permissions a page may ask for, all denied (§2.4). Names a browser does not know are skipped.
const DENIED_PERMISSIONS: [&str; 24] = [
    "geolocation",
    "notifications",
    "push",
    "midi",
    "midi-sysex",
    "camera",
    "microphone",
    "clipboard-read",
    "background-sync",
    "background-fetch",
    "periodic-background-sync",
    "payment-handler",
    "persistent-storage",
    "idle-detection",
    "display-capture",
    "window-management",
    "local-fonts",
    "storage-access",
    "top-level-storage-access",
    "nfc",
    "screen-wake-lock",
    "system-wake-lock",
    "speaker-selection",
    "captured-surface-control",
];

/// How the tab is set up.
#[derive(Clone)]
pub struct TabOptions {
    pub width: u32,
    pub height: u32,
    /// Screencast JPEG quality, 1–100.
    pub jpeg_quality: u8,
    /// Frames accepted per second (§7.4).
    pub max_fps: u32,
    pub judge: Judge,
}

/// One image of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub jpeg: Bytes,
    pub width: u32,
    pub height: u32,
    /// When the server received it from the browser, Unix time in milliseconds.
    pub received_unix_ms: u64,
}

/// What `screen:page` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageState {
    pub url: String,
    pub title: String,
    pub loading: bool,
    pub can_go_back: bool,
    pub can_go_forward: bool,
}

/// Why the tab is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabEnd {
    /// The page's renderer crashed (killed, out of memory).
    RendererCrashed,
    /// The page target went away.
    TargetClosed,
    /// The DevTools connection broke: the browser ended.
    ConnectionLost,
}

/// What the tab reports.
#[derive(Debug, Clone)]
pub enum TabEvent {
    /// An accepted screencast image (§7.4).
    Frame(Frame),
    /// The page's URL, title, loading or history changed.
    Page(PageState),
    /// A top-level navigation was refused (`nav:refused` with `top_level` true); `url` is cut to
    /// 2048 characters.
    TopLevelRefused { url: String, reason: Reason },
    /// The last event: the tab is gone.
    Ended(TabEnd),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerKind {
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

/// A validated `input:pointer` (§7.6): coordinates already clamped into the viewport.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pointer {
    pub kind: PointerKind,
    pub x: f64,
    pub y: f64,
    pub button: MouseButton,
    /// Buttons held: 1 left, 2 right, 4 middle, 8 back, 16 forward.
    pub buttons: u8,
    pub click_count: u8,
    /// 1 Alt, 2 Ctrl, 4 Meta, 8 Shift (as CDP counts them).
    pub modifiers: u8,
}

/// A validated `input:wheel`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wheel {
    pub x: f64,
    pub y: f64,
    pub dx: f64,
    pub dy: f64,
    pub modifiers: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Down,
    Up,
}

/// A validated `input:key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub kind: KeyKind,
    /// `KeyboardEvent.key`: `a`, `Enter`, `ArrowLeft`.
    pub key: String,
    /// `KeyboardEvent.code`: `KeyA`; may be empty.
    pub code: String,
    /// What the key types; may be empty.
    pub text: String,
    pub modifiers: u8,
    pub repeat: bool,
}

/// At most `max_fps` images per second with hold-and-replace (§7.4): an image offered sooner than
/// 1/`max_fps` after the last accepted one is held, a newer one replaces it, and the held one is
/// accepted when its time comes, so the last image of a burst always comes out.
#[derive(Debug)]
pub struct FrameGate<T> {
    interval: Duration,
    last_accepted: Option<Instant>,
    held: Option<T>,
}

impl<T> FrameGate<T> {
    pub fn new(max_fps: u32) -> FrameGate<T> {
        FrameGate {
            interval: Duration::from_secs(1) / max_fps.max(1),
            last_accepted: None,
            held: None,
        }
    }

    /// Offers an image received at `now`: returns it when it is accepted at once, else holds it.
    pub fn offer(&mut self, item: T, now: Instant) -> Option<T> {
        match self.last_accepted {
            Some(last) if now < last + self.interval => {
                self.held = Some(item);
                None
            }
            _ => {
                // A held image not yet released is older than this one.
                self.held = None;
                self.last_accepted = Some(now);
                Some(item)
            }
        }
    }

    /// When the held image is due, if one is held.
    pub fn due(&self) -> Option<Instant> {
        match (&self.held, self.last_accepted) {
            (Some(_), Some(last)) => Some(last + self.interval),
            _ => None,
        }
    }

    /// The held image, accepted, when it is due at `now`.
    pub fn release(&mut self, now: Instant) -> Option<T> {
        if self.due().is_some_and(|due| due <= now) {
            self.last_accepted = Some(now);
            self.held.take()
        } else {
            None
        }
    }
}

struct Inner {
    cdp: Cdp,
    session: String,
    target_id: String,
    width: u32,
    height: u32,
    jpeg_quality: u8,
    judge: Judge,
    events: mpsc::UnboundedSender<TabEvent>,
    main_frame: Mutex<String>,
    /// Held while the refusal page is put in place.
    navigating: tokio::sync::Mutex<()>,
    loading: Mutex<bool>,
    last_state: Mutex<Option<PageState>>,
    state_changed: Notify,
}

/// The driver of one tab. Dropping it stops driving (the browser keeps running).
pub struct Tab {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Tab {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn str_field<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The scheme of a URL, lower case (`http` of `HTTP://x`).
fn scheme_of(url: &str) -> String {
    url.split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_web_url(url: &str) -> bool {
    matches!(scheme_of(url).as_str(), "http" | "https")
}

/// What the main frame may show besides web pages: the blank page, the refusal page (which is a
/// blank page), and the browser's own network error page.
fn main_frame_may_show(url: &str) -> bool {
    is_web_url(url) || url == "about:blank" || url.is_empty() || scheme_of(url) == "chrome-error"
}

fn cut(url: &str, limit: usize) -> String {
    match url.char_indices().nth(limit) {
        Some((end, _)) => url[..end].to_owned(),
        None => url.to_owned(),
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The reason of a refusal in words, for the refusal page.
pub fn reason_in_words(reason: Reason) -> &'static str {
    match reason {
        Reason::Scheme => "only http and https addresses may be opened here",
        Reason::Host => "this server does not allow that host",
        Reason::Port => "that port is closed to shared browsers",
        Reason::Address => "that address is on a private or local network, or belongs to this server",
    }
}

/// The server's refusal page (§3.4). The URL comes from a page, so it is escaped.
pub fn refusal_page(url: &str, reason: Reason) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Navigation refused</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;margin:4em auto;max-width:40em;color:#222}}\
         code{{word-break:break-all}}</style></head><body><h1>Navigation refused</h1>\
         <p>The page <code>{}</code> was not opened: {}.</p></body></html>",
        escape_html(&cut(url, MAX_REPORTED_URL)),
        reason_in_words(reason)
    )
}

/// The width and height in a JPEG's start-of-frame segment.
pub fn jpeg_size(data: &[u8]) -> Option<(u32, u32)> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    while at + 4 <= data.len() {
        if data[at] != 0xFF {
            return None;
        }
        let marker = data[at + 1];
        if marker == 0xFF {
            at += 1;
            continue;
        }
        if marker == 0x01 || (0xD0..=0xD8).contains(&marker) {
            at += 2;
            continue;
        }
        let length = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        let start_of_frame = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if start_of_frame {
            let field = |i: usize| {
                data.get(at + i..at + i + 2)
                    .map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])))
            };
            return Some((field(7)?, field(5)?));
        }
        at += 2 + length;
    }
    None
}

/// The Windows virtual key code of a key, which Chromium needs to act on named keys (Enter submits,
/// Backspace deletes, arrows move the caret).
pub fn virtual_key_code(key: &str, code: &str) -> Option<i64> {
    let named = match key {
        "Backspace" => 8,
        "Tab" => 9,
        "Enter" => 13,
        "Shift" => 16,
        "Control" => 17,
        "Alt" => 18,
        "Pause" => 19,
        "CapsLock" => 20,
        "Escape" => 27,
        " " => 32,
        "PageUp" => 33,
        "PageDown" => 34,
        "End" => 35,
        "Home" => 36,
        "ArrowLeft" => 37,
        "ArrowUp" => 38,
        "ArrowRight" => 39,
        "ArrowDown" => 40,
        "Insert" => 45,
        "Delete" => 46,
        "Meta" => 91,
        "ContextMenu" => 93,
        _ => 0,
    };
    if named != 0 {
        return Some(named);
    }
    if let Some(n) = key.strip_prefix('F').and_then(|n| n.parse::<i64>().ok()) {
        if (1..=24).contains(&n) {
            return Some(111 + n);
        }
    }
    let mut chars = key.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_ascii_alphanumeric() {
            return Some(i64::from(c.to_ascii_uppercase() as u8));
        }
    }
    if let Some(letter) = code.strip_prefix("Key").filter(|l| l.len() == 1) {
        return Some(i64::from(letter.as_bytes()[0].to_ascii_uppercase()));
    }
    if let Some(digit) = code.strip_prefix("Digit").filter(|d| d.len() == 1) {
        return Some(i64::from(digit.as_bytes()[0]));
    }
    let punctuation = match code {
        "Semicolon" => 186,
        "Equal" => 187,
        "Comma" => 188,
        "Minus" => 189,
        "Period" => 190,
        "Slash" => 191,
        "Backquote" => 192,
        "BracketLeft" => 219,
        "Backslash" => 220,
        "BracketRight" => 221,
        "Quote" => 222,
        _ => return None,
    };
    Some(punctuation)
}

impl Tab {
    /// Takes over the browser's page: attaches to it, sets the viewport, closes the page's ways out
    /// of one tab, and starts the screencast. `cdp_events` is the connection's event stream; the
    /// tab reports on the returned stream until [`TabEvent::Ended`].
    pub async fn open(
        cdp: Cdp,
        cdp_events: mpsc::UnboundedReceiver<CdpEvent>,
        options: TabOptions,
    ) -> Result<(Tab, mpsc::UnboundedReceiver<TabEvent>), CdpError> {
        let target_id = page_target(&cdp).await?;
        let attached = cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        let session = str_field(&attached, "sessionId").to_owned();
        let (events, tab_events) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            cdp: cdp.clone(),
            session,
            target_id,
            width: options.width,
            height: options.height,
            jpeg_quality: options.jpeg_quality,
            judge: options.judge,
            events,
            main_frame: Mutex::new(String::new()),
            navigating: tokio::sync::Mutex::new(()),
            loading: Mutex::new(false),
            last_state: Mutex::new(None),
            state_changed: Notify::new(),
        });
        // Events queue up in `cdp_events` while the tab is set up, and are handled from here on.
        let mut tasks = vec![tokio::spawn(run(inner.clone(), cdp_events, options.max_fps))];
        tasks.push(tokio::spawn(report_page_state(inner.clone())));
        let tab = Tab { inner, tasks };
        tab.set_up().await?;
        Ok((tab, tab_events))
    }

    async fn set_up(&self) -> Result<(), CdpError> {
        let inner = &self.inner;
        let cdp = &inner.cdp;
        cdp.call(None, "Browser.setDownloadBehavior", json!({"behavior": "deny"}))
            .await?;
        for name in DENIED_PERMISSIONS {
            // A permission this browser version does not know is nothing to deny.
            let _ = cdp
                .call(
                    None,
                    "Browser.setPermission",
                    json!({"permission": {"name": name}, "setting": "denied"}),
                )
                .await;
        }
        // Every other page target that appears (a window the page opens) is reported, and closed.
        cdp.call(None, "Target.setDiscoverTargets", json!({"discover": true}))
            .await?;
        inner.call("Page.enable", json!({})).await?;
        inner.call("Inspector.enable", json!({})).await?;
        let tree = inner.call("Page.getFrameTree", json!({})).await?;
        *inner.main_frame.lock().unwrap_or_else(|p| p.into_inner()) =
            str_field(&tree["frameTree"]["frame"], "id").to_owned();
        inner
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": inner.width, "height": inner.height, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await?;
        inner
            .call("Emulation.setFocusEmulationEnabled", json!({"enabled": true}))
            .await?;
        inner
            .call("Page.setInterceptFileChooserDialog", json!({"enabled": true}))
            .await?;
        inner
            .call(
                "Fetch.enable",
                json!({
                    "patterns": [{"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"}],
                    "handleAuthRequests": true,
                }),
            )
            .await?;
        inner
            .call(
                "Page.startScreencast",
                json!({
                    "format": "jpeg",
                    "quality": inner.jpeg_quality,
                    "maxWidth": inner.width,
                    "maxHeight": inner.height,
                    "everyNthFrame": 1,
                }),
            )
            .await?;
        inner.state_changed.notify_one();
        Ok(())
    }

    /// The tab's current page state.
    pub async fn page_state(&self) -> Result<PageState, CdpError> {
        self.inner.read_page_state().await
    }

    /// `nav:go`: loads `url` under §3. A scheme other than `http`/`https` is refused with reason
    /// `scheme` and nothing loads; a refused destination shows the refusal page. Waits until the
    /// navigation commits or fails.
    pub async fn navigate(&self, url: &str) -> Result<(), CdpError> {
        self.inner.navigate(url).await
    }

    /// `nav:back`: one step back; `false` (nothing done) at the start of the history.
    pub async fn back(&self) -> Result<bool, CdpError> {
        self.history_step(-1).await
    }

    /// `nav:forward`: one step forward; `false` (nothing done) at the end of the history.
    pub async fn forward(&self) -> Result<bool, CdpError> {
        self.history_step(1).await
    }

    async fn history_step(&self, step: i64) -> Result<bool, CdpError> {
        let history = self.inner.call("Page.getNavigationHistory", json!({})).await?;
        let index = history["currentIndex"].as_i64().unwrap_or(0) + step;
        let Some(entry) = usize::try_from(index).ok().and_then(|i| history["entries"].get(i)) else {
            return Ok(false);
        };
        self.inner
            .call("Page.navigateToHistoryEntry", json!({"entryId": entry["id"]}))
            .await?;
        Ok(true)
    }

    /// `nav:reload`.
    pub async fn reload(&self) -> Result<(), CdpError> {
        self.inner.call("Page.reload", json!({})).await.map(drop)
    }

    /// `input:pointer`.
    pub async fn pointer(&self, pointer: Pointer) -> Result<(), CdpError> {
        let kind = match pointer.kind {
            PointerKind::Move => "mouseMoved",
            PointerKind::Down => "mousePressed",
            PointerKind::Up => "mouseReleased",
        };
        self.inner
            .call(
                "Input.dispatchMouseEvent",
                json!({
                    "type": kind,
                    "x": pointer.x,
                    "y": pointer.y,
                    "button": pointer.button.as_str(),
                    "buttons": pointer.buttons,
                    "clickCount": pointer.click_count,
                    "modifiers": pointer.modifiers,
                }),
            )
            .await
            .map(drop)
    }

    /// `input:wheel`.
    pub async fn wheel(&self, wheel: Wheel) -> Result<(), CdpError> {
        self.inner
            .call(
                "Input.dispatchMouseEvent",
                json!({
                    "type": "mouseWheel",
                    "x": wheel.x,
                    "y": wheel.y,
                    "deltaX": wheel.dx,
                    "deltaY": wheel.dy,
                    "modifiers": wheel.modifiers,
                }),
            )
            .await
            .map(drop)
    }

    /// `input:key`.
    pub async fn key(&self, key: &Key) -> Result<(), CdpError> {
        // Enter types a carriage return, which is what submits a form.
        let text = match (key.text.as_str(), key.key.as_str()) {
            ("", "Enter") => "\r",
            (text, _) => text,
        };
        let kind = match key.kind {
            KeyKind::Up => "keyUp",
            KeyKind::Down if text.is_empty() => "rawKeyDown",
            KeyKind::Down => "keyDown",
        };
        let mut params = json!({
            "type": kind,
            "key": key.key,
            "code": key.code,
            "modifiers": key.modifiers,
            "autoRepeat": key.repeat,
            "isKeypad": key.code.starts_with("Numpad"),
        });
        if key.kind == KeyKind::Down && !text.is_empty() {
            params["text"] = json!(text);
            params["unmodifiedText"] = json!(text);
        }
        if let Some(code) = virtual_key_code(&key.key, &key.code) {
            params["windowsVirtualKeyCode"] = json!(code);
            params["nativeVirtualKeyCode"] = json!(code);
        }
        self.inner.call("Input.dispatchKeyEvent", params).await.map(drop)
    }

    /// `input:text`: inserted at the focus as if typed.
    pub async fn insert_text(&self, text: &str) -> Result<(), CdpError> {
        self.inner
            .call("Input.insertText", json!({"text": text}))
            .await
            .map(drop)
    }

    /// The viewport as PNG (§9).
    pub async fn screenshot_png(&self) -> Result<Bytes, CdpError> {
        self.inner.capture("png", None).await
    }

    /// A fresh JPEG of the viewport, for a new viewer when no frame exists yet (§7.4). It is not
    /// counted as an accepted frame.
    pub async fn capture_frame(&self) -> Result<Frame, CdpError> {
        let jpeg = self.inner.capture("jpeg", Some(self.inner.jpeg_quality)).await?;
        Ok(self.inner.frame(jpeg, now_unix_ms()))
    }

    /// Stops the screencast and lets go of the page; no event follows.
    pub async fn close(self) {
        let _ = self.inner.call("Page.stopScreencast", json!({})).await;
        let _ = self
            .inner
            .cdp
            .call(
                None,
                "Target.detachFromTarget",
                json!({"sessionId": self.inner.session}),
            )
            .await;
    }
}

/// The browser's page target: the one a fresh browser opened, or a new one.
async fn page_target(cdp: &Cdp) -> Result<String, CdpError> {
    for _ in 0..20 {
        let targets = cdp.call(None, "Target.getTargets", json!({})).await?;
        let page = targets["targetInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| str_field(t, "type") == "page");
        if let Some(page) = page {
            return Ok(str_field(page, "targetId").to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created = cdp
        .call(None, "Target.createTarget", json!({"url": "about:blank"}))
        .await?;
    Ok(str_field(&created, "targetId").to_owned())
}

impl Inner {
    async fn call(&self, method: &str, params: Value) -> Result<Value, CdpError> {
        self.cdp.call(Some(&self.session), method, params).await
    }

    fn emit(&self, event: TabEvent) {
        let _ = self.events.send(event);
    }

    fn main_frame(&self) -> String {
        self.main_frame.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn frame(&self, jpeg: Bytes, received_unix_ms: u64) -> Frame {
        let (width, height) = jpeg_size(&jpeg).unwrap_or((self.width, self.height));
        Frame {
            jpeg,
            width,
            height,
            received_unix_ms,
        }
    }

    async fn capture(&self, format: &str, quality: Option<u8>) -> Result<Bytes, CdpError> {
        let mut params = json!({"format": format, "captureBeyondViewport": false});
        if let Some(quality) = quality {
            params["quality"] = json!(quality);
        }
        let shot = self.call("Page.captureScreenshot", params).await?;
        Ok(decode(str_field(&shot, "data")))
    }

    async fn navigate(&self, url: &str) -> Result<(), CdpError> {
        if !is_web_url(url) {
            self.emit(TabEvent::TopLevelRefused {
                url: cut(url, MAX_REPORTED_URL),
                reason: Reason::Scheme,
            });
            return Ok(());
        }
        // Waits for a refusal page being put in place; not held further, since this very
        // navigation may be refused and need it.
        drop(self.navigating.lock().await);
        self.call("Page.navigate", json!({"url": url})).await.map(drop)
    }

    /// Shows the refusal page in place of `url`, then reports the refusal.
    async fn refuse(&self, url: &str, reason: Reason) {
        {
            // No navigation of ours starts between the blank page and its content, which would
            // otherwise land in the next page.
            let _showing = self.navigating.lock().await;
            if let Ok(navigated) = self.call("Page.navigate", json!({"url": "about:blank"})).await {
                let frame_id = match str_field(&navigated, "frameId") {
                    "" => self.main_frame(),
                    id => id.to_owned(),
                };
                let _ = self
                    .call(
                        "Page.setDocumentContent",
                        json!({"frameId": frame_id, "html": refusal_page(url, reason)}),
                    )
                    .await;
            }
        }
        self.state_changed.notify_one();
        self.emit(TabEvent::TopLevelRefused {
            url: cut(url, MAX_REPORTED_URL),
            reason,
        });
    }

    /// A paused document request: the main frame's is judged, a frame's goes on to the proxy.
    async fn judge_document(&self, paused: Value) {
        let request_id = str_field(&paused, "requestId").to_owned();
        let url = format!(
            "{}{}",
            str_field(&paused["request"], "url"),
            str_field(&paused["request"], "urlFragment")
        );
        let top_level = str_field(&paused, "frameId") == self.main_frame();
        let verdict = if !top_level {
            None
        } else if !is_web_url(&url) {
            Some(Reason::Scheme)
        } else {
            (self.judge)(url.clone()).await
        };
        match verdict {
            None => {
                let _ = self
                    .call("Fetch.continueRequest", json!({"requestId": request_id}))
                    .await;
            }
            Some(reason) => {
                let _ = self
                    .call(
                        "Fetch.failRequest",
                        json!({"requestId": request_id, "errorReason": "BlockedByClient"}),
                    )
                    .await;
                self.refuse(&url, reason).await;
            }
        }
    }

    /// A window the page opens loads in the one tab instead (§2.4).
    async fn open_in_tab(&self, url: &str) {
        if url.is_empty() || url == "about:blank" {
            return;
        }
        let _ = self.navigate(url).await;
    }

    async fn read_page_state(&self) -> Result<PageState, CdpError> {
        let history = self.call("Page.getNavigationHistory", json!({})).await?;
        let entries = history["entries"].as_array().cloned().unwrap_or_default();
        let index = history["currentIndex"].as_u64().unwrap_or(0) as usize;
        let current = entries.get(index).cloned().unwrap_or(Value::Null);
        Ok(PageState {
            url: str_field(&current, "url").to_owned(),
            title: str_field(&current, "title").to_owned(),
            loading: *self.loading.lock().unwrap_or_else(|p| p.into_inner()),
            can_go_back: index > 0,
            can_go_forward: index + 1 < entries.len(),
        })
    }

    fn spawn_call(self: &Arc<Self>, method: &'static str, params: Value) {
        let inner = self.clone();
        tokio::spawn(async move {
            let _ = inner.call(method, params).await;
        });
    }

    /// Handles one DevTools event; `Some` when the tab is gone.
    fn handle(self: &Arc<Self>, event: CdpEvent, gate: &mut FrameGate<Frame>) -> Option<TabEnd> {
        let params = &event.params;
        match event.session_id.as_deref() {
            Some(session) if session == self.session => {}
            Some(_) => return None,
            None => return self.handle_browser_event(&event),
        }
        match event.method.as_str() {
            "Page.screencastFrame" => {
                let received = now_unix_ms();
                self.spawn_call("Page.screencastFrameAck", json!({"sessionId": params["sessionId"]}));
                let frame = self.frame(decode(str_field(params, "data")), received);
                // A paint from before the viewport's override took hold comes in the window's
                // size; viewers are promised the viewport (§7.3), which the next paint brings.
                if (frame.width, frame.height) != (self.width, self.height) {
                    return None;
                }
                if let Some(frame) = gate.offer(frame, Instant::now()) {
                    self.emit(TabEvent::Frame(frame));
                }
            }
            "Page.javascriptDialogOpening" => {
                let accept = matches!(str_field(params, "type"), "alert" | "beforeunload");
                self.spawn_call("Page.handleJavaScriptDialog", json!({"accept": accept}));
            }
            "Fetch.requestPaused" => {
                let inner = self.clone();
                let paused = params.clone();
                tokio::spawn(async move { inner.judge_document(paused).await });
            }
            "Fetch.authRequired" => self.spawn_call(
                "Fetch.continueWithAuth",
                json!({"requestId": params["requestId"], "authChallengeResponse": {"response": "CancelAuth"}}),
            ),
            "Page.windowOpen" => {
                let inner = self.clone();
                let url = str_field(params, "url").to_owned();
                tokio::spawn(async move { inner.open_in_tab(&url).await });
            }
            "Page.frameStartedLoading" | "Page.frameStoppedLoading"
                if str_field(params, "frameId") == self.main_frame() =>
            {
                *self.loading.lock().unwrap_or_else(|p| p.into_inner()) = event.method == "Page.frameStartedLoading";
                self.state_changed.notify_one();
            }
            "Page.frameNavigated" => {
                let frame = &params["frame"];
                if frame.get("parentId").is_none() {
                    *self.main_frame.lock().unwrap_or_else(|p| p.into_inner()) = str_field(frame, "id").to_owned();
                    let url = str_field(frame, "url").to_owned();
                    // A scheme that slipped past the request check (one no request is made for).
                    if !main_frame_may_show(&url) {
                        let inner = self.clone();
                        tokio::spawn(async move { inner.refuse(&url, Reason::Scheme).await });
                    }
                    self.state_changed.notify_one();
                }
            }
            "Page.navigatedWithinDocument" | "Page.loadEventFired" | "Page.domContentEventFired" => {
                self.state_changed.notify_one();
            }
            "Inspector.targetCrashed" => return Some(TabEnd::RendererCrashed),
            "Inspector.detached" => return Some(TabEnd::TargetClosed),
            _ => {}
        }
        None
    }

    fn handle_browser_event(self: &Arc<Self>, event: &CdpEvent) -> Option<TabEnd> {
        let info = &event.params["targetInfo"];
        let target_id = match str_field(info, "targetId") {
            "" => str_field(&event.params, "targetId"),
            id => id,
        };
        let ours = target_id == self.target_id;
        match event.method.as_str() {
            "Target.targetCreated" if !ours && str_field(info, "type") == "page" => {
                let cdp = self.cdp.clone();
                let target_id = target_id.to_owned();
                tokio::spawn(async move {
                    let _ = cdp
                        .call(None, "Target.closeTarget", json!({"targetId": target_id}))
                        .await;
                });
            }
            // The title is only told here when a script changes it.
            "Target.targetInfoChanged" if ours => self.state_changed.notify_one(),
            "Target.targetCrashed" if ours => return Some(TabEnd::RendererCrashed),
            "Target.targetDestroyed" if ours => return Some(TabEnd::TargetClosed),
            "Target.detachedFromTarget" if str_field(&event.params, "sessionId") == self.session => {
                return Some(TabEnd::TargetClosed)
            }
            _ => {}
        }
        None
    }
}

fn decode(data: &str) -> Bytes {
    Bytes::from(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap_or_default(),
    )
}

/// Handles the connection's events until the tab is gone, releasing held frames on time.
async fn run(inner: Arc<Inner>, mut cdp_events: mpsc::UnboundedReceiver<CdpEvent>, max_fps: u32) {
    let mut gate = FrameGate::new(max_fps);
    let end = loop {
        let due = gate.due();
        tokio::select! {
            event = cdp_events.recv() => match event {
                None => break TabEnd::ConnectionLost,
                Some(event) => if let Some(end) = inner.handle(event, &mut gate) {
                    break end;
                },
            },
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                if let Some(frame) = gate.release(Instant::now()) {
                    inner.emit(TabEvent::Frame(frame));
                }
            }
        }
    };
    inner.emit(TabEvent::Ended(end));
}

/// Reports the page state whenever it changes; bursts of events make one reading.
async fn report_page_state(inner: Arc<Inner>) {
    loop {
        inner.state_changed.notified().await;
        let state = match inner.read_page_state().await {
            Ok(state) => state,
            Err(CdpError::Closed) => return,
            Err(_) => continue,
        };
        let mut last = inner.last_state.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref() != Some(&state) {
            *last = Some(state.clone());
            inner.emit(TabEvent::Page(state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_holds_and_replaces_so_the_last_image_of_a_burst_comes_out() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // 10 per second: one image per 100 ms.
        let mut gate = FrameGate::new(10);
        assert_eq!(gate.offer(1, at(0)), Some(1));
        assert_eq!(gate.due(), None);
        assert_eq!(gate.offer(2, at(20)), None);
        assert_eq!(gate.offer(3, at(40)), None);
        assert_eq!(gate.due(), Some(at(100)));
        assert_eq!(gate.release(at(99)), None);
        assert_eq!(gate.release(at(100)), Some(3));
        assert_eq!(gate.due(), None);
        // The next one is spaced from the held one's acceptance.
        assert_eq!(gate.offer(4, at(150)), None);
        assert_eq!(gate.release(at(200)), Some(4));
        // A quiet spell: accepted at once.
        assert_eq!(gate.offer(5, at(500)), Some(5));
        // A held image not released in time is replaced by a newer one accepted at once.
        assert_eq!(gate.offer(6, at(550)), None);
        assert_eq!(gate.offer(7, at(650)), Some(7));
        assert_eq!(gate.due(), None);
        assert_eq!(gate.release(at(10_000)), None);
    }

    #[test]
    fn the_refusal_page_escapes_the_url_and_names_the_reason() {
        let page = refusal_page("http://x.test/<script>alert('x')</script>&\"", Reason::Address);
        assert!(page.contains("<title>Navigation refused</title>"));
        assert!(page.contains("http://x.test/&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
        assert!(!page.contains("<script>"));
        assert!(page.contains(reason_in_words(Reason::Address)));
        assert_eq!(cut("äbc", 2), "äb");
    }

    #[test]
    fn named_keys_get_their_virtual_key_codes() {
        assert_eq!(virtual_key_code("Enter", "Enter"), Some(13));
        assert_eq!(virtual_key_code("Backspace", ""), Some(8));
        assert_eq!(virtual_key_code("ArrowLeft", "ArrowLeft"), Some(37));
        assert_eq!(virtual_key_code("a", "KeyA"), Some(65));
        assert_eq!(virtual_key_code("Q", ""), Some(81));
        assert_eq!(virtual_key_code("ä", "KeyA"), Some(65));
        assert_eq!(virtual_key_code("7", "Digit7"), Some(55));
        assert_eq!(virtual_key_code(",", "Comma"), Some(188));
        assert_eq!(virtual_key_code("F5", "F5"), Some(116));
        assert_eq!(virtual_key_code("Dead", ""), None);
    }

    #[test]
    fn schemes_are_read_case_insensitively() {
        assert!(is_web_url("HTTPS://example.org/"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("file:///etc/passwd"));
        assert!(main_frame_may_show("about:blank"));
        assert!(!main_frame_may_show("about:version"));
        assert!(!main_frame_may_show("data:text/html,hi"));
    }
}

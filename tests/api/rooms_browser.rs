//! Browser rooms (92-browser-rooms) against real Chromium on both backends: a member starts the
//! chat's machine, viewers watch its screen over the WebSocket, the host drives it, control moves,
//! the egress filter refuses the server's own and private addresses, and machines stop when asked,
//! when idle and when their browser dies.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use portal::config::Config;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::chats::{create_official, create_private, new_invite};
use crate::common::e2e::{chat_path, Device};
use crate::common::ws::Ws;
use crate::common::{assert_error_fields, in_ci, People, TestApp, HOUR};

/// Chromium is on this machine; without it the tests skip loudly, and fail under `CI=true`.
pub fn chromium_present() -> bool {
    let found = std::path::Path::new("/usr/bin/chromium").exists();
    if !found {
        assert!(!in_ci(), "Chromium is required under CI=true");
        eprintln!("SKIPPED: browser room test, /usr/bin/chromium is missing");
    }
    found
}

/// A Docker daemon answers on its default socket; without one the docker engine's runs skip
/// loudly, and fail under `CI=true` (where `.ci/run` starts the daemon and builds the image).
pub fn docker_present() -> bool {
    let found = std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok();
    if !found {
        assert!(
            !in_ci(),
            "a Docker daemon is required under CI=true (scripts/browser-image.sh)"
        );
        eprintln!("SKIPPED: browser room test on the docker engine, no Docker daemon answers");
    }
    found
}

/// The docker engine's runs take turns: every test app numbers its machines from 1, and a
/// container is named by its machine (`portal-browser-{machine_id}`, §2.3), so two at once would
/// clash on the daemon. A turn starts by removing what an earlier run that failed left behind.
async fn docker_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    let listed = std::process::Command::new("docker")
        .args(["ps", "--all", "--quiet", "--filter", "label=portal.machine"])
        .output()
        .expect("the docker command");
    let ids: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if !ids.is_empty() {
        std::process::Command::new("docker")
            .args(["rm", "--force", "--volumes"])
            .args(&ids)
            .output()
            .expect("the docker command");
    }
    turn
}

/// Which engine a run uses.
#[derive(Clone, Copy, PartialEq)]
pub enum Engine {
    Process,
    Docker,
}

/// The engine, as root needs it; the test's page server is the one inner site allowed.
fn browser_config(c: &mut Config, pages: SocketAddr, engine: Engine) {
    match engine {
        Engine::Process => {
            c.browser.engine = Some("process".into());
            c.browser.chromium_path = Some("/usr/bin/chromium".into());
            c.browser.process.no_sandbox = true;
        }
        Engine::Docker => {
            c.browser.engine = Some("docker".into());
            // A container's file system is a copy of the image on the `vfs` storage driver.
            c.browser.start_timeout_s = 90;
        }
    }
    c.browser.viewport = "640x480".into();
    c.browser.egress.allow_hosts = vec![pages.to_string()];
}

/// The engine the test's app was given.
fn engine_of(t: &TestApp) -> String {
    t.app.config.browser.engine.clone().unwrap()
}

/// Both backends on the process engine, and SQLite on the docker engine, with a page server of
/// the test's own and the browser configured to reach it.
macro_rules! browser_room_test {
    ($name:ident, $body:expr) => {
        browser_room_test!($name, |_: &mut Config| {}, $body);
    };
    ($name:ident, $configure:expr, $body:expr) => {
        mod $name {
            use super::*;
            async fn run(kind: $crate::common::Kind, engine: Engine) {
                let present = match engine {
                    Engine::Process => chromium_present(),
                    Engine::Docker => docker_present(),
                };
                if !present {
                    return;
                }
                let _one_at_a_time = match engine {
                    Engine::Process => None,
                    Engine::Docker => Some(docker_turn().await),
                };
                let pages = serve_pages().await;
                let Some(t) = TestApp::new(kind, |c| {
                    browser_config(c, pages, engine);
                    ($configure)(c);
                })
                .await
                else {
                    return;
                };
                ($body)(t, pages).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::common::Kind::Sqlite, Engine::Process).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::common::Kind::Postgres, Engine::Process).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn docker() {
                run($crate::common::Kind::Sqlite, Engine::Docker).await;
            }
        }
    };
}

const PAGE_ONE: &str = r#"<!doctype html><html><head><title>One</title></head><body style="margin:0">
<a id="go" href="/two" style="display:block;width:100%;height:460px;font-size:40px">to two</a></body></html>"#;
const PAGE_TWO: &str = r#"<!doctype html><html><head><title>Two</title></head><body style="margin:0">
<a href="/one" style="display:block;width:100%;height:460px;font-size:40px">back to one</a></body></html>"#;

/// Two pages that link to each other, served on a loopback port of the test's own.
pub(crate) async fn serve_pages() -> SocketAddr {
    use axum::response::Html;
    let router = axum::Router::new()
        .route("/one", axum::routing::get(|| async { Html(PAGE_ONE) }))
        .route("/two", axum::routing::get(|| async { Html(PAGE_TWO) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Long enough for Chromium to start and load a page on a busy machine.
const SLOW: Duration = Duration::from_secs(30);

/// One screen connection (§7).
struct Screen {
    ws: Ws,
    /// The header fields of the last binary frame read: (frame number, width, height).
    last_frame: Option<(u32, u16, u16)>,
    /// Events read while waiting for another, oldest first: the next wait looks here first.
    pending: Vec<Value>,
}

async fn try_screen(addr: SocketAddr, token: &str, chat_id: i64) -> Result<Screen, (u16, Value)> {
    let ws = crate::common::ws::try_open_at(addr, &chat_path(chat_id, "screen"), Some(token), &[]).await?;
    Ok(Screen {
        ws,
        last_frame: None,
        pending: Vec::new(),
    })
}

async fn screen(addr: SocketAddr, token: &str, chat_id: i64) -> Screen {
    try_screen(addr, token, chat_id)
        .await
        .unwrap_or_else(|(status, body)| panic!("screen refused with {status}: {body}"))
}

/// Checks a binary frame against §7.3 and returns (frame number, width, height).
fn check_frame(bytes: &[u8]) -> (u32, u16, u16) {
    assert!(bytes.len() > 24, "a frame has a header and an image");
    assert_eq!(bytes[0], 1, "version");
    assert_eq!(bytes[1], 1, "kind");
    let header = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
    assert_eq!(header, 24);
    let number = u32::from_be_bytes(bytes[4..8].try_into().unwrap());
    let width = u16::from_be_bytes([bytes[8], bytes[9]]);
    let height = u16::from_be_bytes([bytes[10], bytes[11]]);
    let jpeg_length = u32::from_be_bytes(bytes[20..24].try_into().unwrap()) as usize;
    assert_eq!(jpeg_length, bytes.len() - header);
    assert_eq!(&bytes[header..header + 2], &[0xFF, 0xD8], "a JPEG starts FF D8");
    assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9], "a JPEG ends FF D9");
    (number, width, height)
}

impl Screen {
    /// The next JSON event named `name`, reading past frames and other events.
    async fn next(&mut self, name: &str) -> Value {
        self.next_where(name, |_| true).await
    }

    async fn next_where(&mut self, name: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let matches = |event: &Value| event["event"] == name && wanted(&event["data"]);
        if let Some(i) = self.pending.iter().position(matches) {
            return self.pending.remove(i)["data"].clone();
        }
        let found = tokio::time::timeout(SLOW, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let event: Value = serde_json::from_str(&text).unwrap();
                        if matches(&event) {
                            return event["data"].clone();
                        }
                        self.pending.push(event);
                    }
                    Some(Ok(Message::Binary(bytes))) => self.last_frame = Some(check_frame(&bytes)),
                    Some(Ok(_)) => {}
                    other => panic!("screen ended while waiting for {name}: {other:?}"),
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no {name} within {SLOW:?}; read meanwhile: {:?}", self.pending))
    }

    /// The next binary frame's header fields.
    async fn frame(&mut self) -> (u32, u16, u16) {
        let found = tokio::time::timeout(SLOW, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(bytes))) => return check_frame(&bytes),
                    Some(Ok(_)) => {}
                    other => panic!("screen ended while waiting for a frame: {other:?}"),
                }
            }
        })
        .await;
        found.expect("a frame")
    }

    async fn send(&mut self, event: &str, data: Value) {
        let text = json!({"event": event, "data": data}).to_string();
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The close code, reading past whatever comes before it.
    async fn closed_with(&mut self) -> u16 {
        let found = tokio::time::timeout(SLOW, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)).unwrap_or(1005),
                    Some(Ok(_)) => {}
                    other => panic!("screen ended without a close frame: {other:?}"),
                }
            }
        })
        .await;
        found.expect("a close")
    }

    async fn click(&mut self, x: f64, y: f64) {
        self.send("input:pointer", json!({"type": "move", "x": x, "y": y}))
            .await;
        self.send(
            "input:pointer",
            json!({"type": "down", "x": x, "y": y, "button": "left", "buttons": 1}),
        )
        .await;
        self.send(
            "input:pointer",
            json!({"type": "up", "x": x, "y": y, "button": "left", "buttons": 0}),
        )
        .await;
    }
}

/// Alice (Premium) owns a private chat with `start_url`, Bob is its member; both have joined its
/// room. Returns (chat, alice, bob) with their devices.
async fn room_with_two<'a>(
    t: &'a TestApp,
    p: &People<'a>,
    addr: SocketAddr,
    start_url: Option<String>,
) -> (i64, (i64, String, Device<'a>), (i64, String, Device<'a>)) {
    let (alice_id, alice) = p.premium("alice", 24 * HOUR).await;
    let (bob_id, bob) = p.at("bob", 0).await;
    let chat = create_private(t, &alice, "cobrowse").await;
    let chat_id = chat["id"].as_i64().unwrap();
    if let Some(url) = start_url {
        let r = t
            .post(&format!("/v1/admin/chats/{chat_id}/update"))
            .cookie(&p.at("root", 3).await.1)
            .json(json!({"allow_control_requests": true,
                        "browser_config": {"browser": "chromium", "start_url": url, "kiosk": false}}))
            .send()
            .await;
        r.assert_ok();
    }
    let code = new_invite(t, &alice, chat_id, json!({})).await;
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&bob)
        .send()
        .await
        .assert_ok();
    let mut alice_device = Device::new(t, addr, alice_id, &alice).await;
    let mut bob_device = Device::new(t, addr, bob_id, &bob).await;
    alice_device.join(chat_id).await;
    bob_device.join(chat_id).await;
    (chat_id, (alice_id, alice, alice_device), (bob_id, bob, bob_device))
}

/// `token` stops the chat's machine; `screen` hears why (`requested`), last, and closes with 4010.
async fn stop_heard_by(t: &TestApp, token: &str, chat_id: i64, screen: &mut Screen) {
    t.post(&chat_path(chat_id, "stop"))
        .cookie(token)
        .send()
        .await
        .assert_ok();
    let stopped = screen.next("screen:stopped").await;
    assert_eq!(stopped["reason"], "requested");
    assert_eq!(screen.closed_with().await, 4010);
}

async fn start(t: &TestApp, token: &str, chat_id: i64) {
    let r = t.post(&chat_path(chat_id, "start")).cookie(token).send().await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
}

browser_room_test!(
    a_start_runs_the_machine_and_a_stop_ends_it,
    |t: TestApp, _pages| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (chat_id, (alice_id, alice, mut alice_device), (_, bob, mut bob_device)) =
            room_with_two(&t, &p, addr, None).await;

        // Only the owner (or an Owner) starts it.
        let r = t.post(&chat_path(chat_id, "start")).cookie(&bob).send().await;
        assert_error_fields(&r, 403, "ERR_FORBIDDEN", &[]);
        assert_eq!(r.body["error"], "Only the chat owner can start or stop the browser");

        start(&t, &alice, chat_id).await;
        for device in [&mut alice_device, &mut bob_device] {
            let started = device.next_within("room:started", SLOW).await;
            assert_eq!(started["chat_id"], chat_id);
            assert_eq!(started["started_by"], alice_id);
            assert!(started["machine_id"].as_i64().unwrap() > 0);
            assert!(started["started_at"].is_string());
        }
        // Starting again through the portal is idempotent; through the admin route a conflict.
        start(&t, &alice, chat_id).await;
        let root = p.at("root", 3).await.1;
        let r = t
            .post(&format!("/v1/admin/chats/{chat_id}/start"))
            .cookie(&root)
            .send()
            .await;
        assert_error_fields(&r, 409, "ERR_BROWSER_ALREADY_RUNNING", &[]);

        let list = t
            .get("/v1/portal/chats")
            .cookie(&alice)
            .send()
            .await
            .assert_ok()
            .clone();
        let listed = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == chat_id)
            .unwrap()
            .clone();
        assert_eq!(
            (listed["running"].clone(), listed["viewer_count"].clone()),
            (json!(true), json!(0))
        );
        let detail = t
            .get(&format!("/v1/admin/chats/{chat_id}"))
            .cookie(&root)
            .send()
            .await
            .assert_ok()
            .clone();
        assert_eq!(detail["machine"]["state"], "running");
        assert_eq!(detail["machine"]["engine"], engine_of(&t));
        assert_eq!(detail["machine"]["route"], "portal");
        assert_eq!(detail["machine"]["started_by"], alice_id);
        assert_eq!(detail["running"], true);

        let r = t.post(&chat_path(chat_id, "stop")).cookie(&alice).send().await;
        assert_eq!(r.assert_ok(), &json!({"ok": true}));
        for device in [&mut alice_device, &mut bob_device] {
            let stopped = device.next_within("room:stopped", SLOW).await;
            assert_eq!(stopped["reason"], "requested");
            assert_eq!(stopped["stopped_by"], alice_id);
        }
        let detail = t
            .get(&format!("/v1/admin/chats/{chat_id}"))
            .cookie(&root)
            .send()
            .await
            .assert_ok()
            .clone();
        assert_eq!(detail["machine"], Value::Null);
        assert_eq!(detail["running"], false);
        // Stopping a stopped machine: the portal says nothing happened, the admin route refuses.
        t.post(&chat_path(chat_id, "stop"))
            .cookie(&alice)
            .send()
            .await
            .assert_ok();
        let r = t
            .post(&format!("/v1/admin/chats/{chat_id}/stop"))
            .cookie(&root)
            .send()
            .await;
        assert_error_fields(&r, 409, "ERR_BROWSER_NOT_RUNNING", &[]);
        // The owner's own start and stop are not audited; an Owner's are, as the admin route's.
        let r = t
            .post(&format!("/v1/admin/chats/{chat_id}/start"))
            .cookie(&root)
            .send()
            .await;
        assert_eq!(r.assert_ok()["message"], "Chat 'cobrowse' started");
        let r = t
            .post(&format!("/v1/admin/chats/{chat_id}/stop"))
            .cookie(&root)
            .send()
            .await;
        assert_eq!(r.assert_ok()["message"], "Chat 'cobrowse' stopped");
        let audit = t
            .get("/v1/admin/audit/logs?event_type=BROWSER_START")
            .cookie(&root)
            .send()
            .await
            .assert_ok()
            .clone();
        let rows = audit["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "{audit}");
        assert_eq!(rows[0]["metadata"]["route"], "admin");
        let audit = t
            .get("/v1/admin/audit/logs?event_type=BROWSER_STOP")
            .cookie(&root)
            .send()
            .await
            .assert_ok()
            .clone();
        let rows = audit["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "{audit}");

        // A deleted chat's machine stops with it: `room:stopped` comes before `room:destroyed`.
        alice_device.drain().await;
        bob_device.drain().await;
        start(&t, &alice, chat_id).await;
        alice_device.next_within("room:started", SLOW).await;
        bob_device.next_within("room:started", SLOW).await;
        let r = t.post(&chat_path(chat_id, "delete")).cookie(&alice).send().await;
        r.assert_ok();
        let events = bob_device.expect_sequence(&["room:stopped", "room:destroyed"]).await;
        assert_eq!(events[0]["reason"], "chat_deleted", "{events:?}");
        assert_eq!(events[0]["stopped_by"], Value::Null);
        for _ in 0..50 {
            if t.app.browser.machine_of(chat_id).is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            t.app.browser.machine_of(chat_id).is_none(),
            "the machine is gone with its chat"
        );
    }
);

browser_room_test!(
    viewers_watch_the_host_drive_and_control_move_on,
    |c: &mut Config| c.browser.screenshots_per_minute = 1,
    |t: TestApp, pages: SocketAddr| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let start_url = format!("http://{pages}/one");
        let (chat_id, (alice_id, alice, mut alice_device), (bob_id, bob, _bob_device)) =
            room_with_two(&t, &p, addr, Some(start_url.clone())).await;
        start(&t, &alice, chat_id).await;

        let mut alice_screen = screen(addr, &alice, chat_id).await;
        let state = alice_screen.next("screen:state").await;
        assert_eq!(state["state"], "running");
        assert_eq!(state["viewport"], json!({"width": 640, "height": 480}));
        assert_eq!(
            state["you"],
            json!({"user_id": alice_id, "manager": true, "may_control": true})
        );
        let (_, width, height) = alice_screen.frame().await;
        assert_eq!((width, height), (640, 480));
        let viewers = alice_device.next_within("room:viewers", SLOW).await;
        assert_eq!(viewers["viewer_count"], 1);

        let mut bob_screen = screen(addr, &bob, chat_id).await;
        let state = bob_screen.next("screen:state").await;
        assert_eq!(
            state["you"],
            json!({"user_id": bob_id, "manager": false, "may_control": true})
        );
        bob_screen.frame().await;
        let seen = alice_screen.next("screen:viewers").await;
        assert_eq!(seen["viewers"].as_array().unwrap().len(), 2);

        // A viewer's click is not applied: the page stays on page one.
        bob_screen.click(100.0, 100.0).await;
        // Alice takes control (she owns the chat), and her click follows the link for everyone.
        alice_screen.send("control:take", Value::Null).await;
        let changed = bob_screen.next("control:changed").await;
        assert_eq!(changed["reason"], "take");
        assert_eq!(changed["host"]["id"], alice_id);
        alice_screen.click(100.0, 100.0).await;
        for screen in [&mut alice_screen, &mut bob_screen] {
            let page = screen.next_where("screen:page", |d| d["title"] == "Two").await;
            assert_eq!(page["url"], format!("http://{pages}/two"));
            assert_eq!(page["can_go_back"], true);
        }

        // Bob asks for control and waits; Alice hands it over; he drives back to page one.
        bob_screen.send("control:request", Value::Null).await;
        let changed = alice_screen
            .next_where("control:changed", |d| d["reason"] == "request")
            .await;
        assert_eq!(changed["queue"][0]["id"], bob_id);
        alice_screen.send("control:release", Value::Null).await;
        let changed = bob_screen
            .next_where("control:changed", |d| d["reason"] == "release")
            .await;
        assert_eq!(changed["host"]["id"], bob_id);
        alice_screen.click(100.0, 100.0).await; // no longer hers to drive
        bob_screen.send("nav:back", Value::Null).await;
        let page = alice_screen.next_where("screen:page", |d| d["title"] == "One").await;
        assert_eq!(page["url"], start_url);
        // The owner takes it back: a manager's take, not audited for the owner.
        alice_screen.send("control:take", Value::Null).await;
        let changed = bob_screen
            .next_where("control:changed", |d| d["reason"] == "take")
            .await;
        assert_eq!(changed["host"]["id"], alice_id);
        // Bob navigating without control is told so.
        bob_screen.send("nav:go", json!({"url": "https://example.org/"})).await;
        let error = bob_screen.next("screen:error").await;
        assert_eq!(
            (error["event"].clone(), error["code"].clone()),
            (json!("nav:go"), json!("ERR_NOT_HOST"))
        );

        // The egress filter: the portal's own port and a private address are refused, and reported.
        let own = format!("http://127.0.0.1:{}/health", addr.port());
        alice_screen.send("nav:go", json!({"url": own})).await;
        let refused = bob_screen.next("nav:refused").await;
        assert_eq!(
            refused,
            json!({"chat_id": chat_id, "url": own, "reason": "address", "top_level": true})
        );
        let page = bob_screen
            .next_where("screen:page", |d| d["title"] == "Navigation refused")
            .await;
        assert_eq!(page["url"], "about:blank");
        alice_screen
            .send("nav:go", json!({"url": "http://10.0.0.5/admin"}))
            .await;
        let refused = bob_screen.next("nav:refused").await;
        assert_eq!(refused["reason"], "address");
        alice_screen.send("nav:go", json!({"url": "file:///etc/passwd"})).await;
        let refused = bob_screen.next("nav:refused").await;
        assert_eq!(refused["reason"], "scheme");

        // A screenshot of the page, for a member of the room, a few a minute.
        let (status, headers, png) = t.get(&chat_path(chat_id, "screenshot")).cookie(&bob).send_bytes().await;
        assert_eq!(status.as_u16(), 200);
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(header("content-type"), "image/png");
        assert_eq!(header("cache-control"), "no-store");
        let disposition = header("content-disposition");
        assert!(
            disposition.starts_with(&format!("attachment; filename=\"chat-{chat_id}-"))
                && disposition.ends_with("Z.png\""),
            "{disposition}"
        );
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
        let r = t.get(&chat_path(chat_id, "screenshot")).cookie(&bob).send().await;
        assert_error_fields(&r, 429, "ERR_SCREENSHOT_RATE_LIMITED", &[]);
        assert!(r.header("retry-after").is_some());

        // Staff take control from a member: a manager's override, audited; Bob then gets it
        // back by a grant, and loses it when he is kicked.
        let (root_id, root) = p.at("staff", 3).await;
        let mut root_device = Device::new(&t, addr, root_id, &root).await;
        root_device.join(chat_id).await;
        let mut root_screen = screen(addr, &root, chat_id).await;
        root_screen.next("screen:state").await;
        alice_screen.send("control:grant", json!({"user_id": bob_id})).await;
        let changed = bob_screen
            .next_where("control:changed", |d| d["reason"] == "grant")
            .await;
        assert_eq!(changed["host"]["id"], bob_id);
        root_screen.send("control:take", Value::Null).await;
        let changed = bob_screen
            .next_where("control:changed", |d| d["reason"] == "take")
            .await;
        assert_eq!(changed["host"]["id"], root_id);
        let overrides = crate::common::audits(&t, "BROWSER_CONTROL_OVERRIDE").await;
        assert_eq!(overrides.len(), 1, "{overrides:?}");
        assert_eq!(overrides[0].0, Some(root_id));
        assert_eq!(overrides[0].3["action"], "take");
        assert_eq!(overrides[0].3["from_user_id"], bob_id);
        assert_eq!(overrides[0].3["to_user_id"], root_id);
        root_screen.send("control:grant", json!({"user_id": bob_id})).await;
        let changed = alice_screen
            .next_where("control:changed", |d| d["reason"] == "grant" && d["by"] == root_id)
            .await;
        assert_eq!(changed["host"]["id"], bob_id);
        drop(root_screen);

        // Bob is kicked: his screen closes with 4011, he loses control at once and leaves the
        // viewers.
        let r = t
            .post(&chat_path(chat_id, "kick"))
            .cookie(&alice)
            .json(json!({"user_id": bob_id}))
            .send()
            .await;
        r.assert_ok();
        assert_eq!(bob_screen.closed_with().await, 4011);
        let changed = alice_screen
            .next_where("control:changed", |d| d["reason"] == "removed")
            .await;
        assert_eq!(changed["host"], Value::Null);
        let seen = alice_screen
            .next_where("screen:viewers", |d| d["viewers"].as_array().unwrap().len() == 1)
            .await;
        assert_eq!(seen["viewers"][0]["id"], alice_id);

        // The machine stops: the screen hears why, last, and closes with 4010.
        stop_heard_by(&t, &alice, chat_id, &mut alice_screen).await;
    }
);

browser_room_test!(
    a_machine_nobody_watches_stops_idle_and_a_killed_browser_is_a_crash,
    |c: &mut Config| c.browser.idle_timeout_s = 2,
    |t: TestApp, _pages| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (chat_id, (_, alice, mut alice_device), _) = room_with_two(&t, &p, addr, None).await;
        start(&t, &alice, chat_id).await;
        alice_device.next_within("room:started", SLOW).await;
        let stopped = alice_device.next_within("room:stopped", SLOW).await;
        assert_eq!(stopped["reason"], "idle");
        assert_eq!(stopped["stopped_by"], Value::Null);

        start(&t, &alice, chat_id).await;
        alice_device.next_within("room:started", SLOW).await;
        // Watching keeps it alive past the idle time; killing its browser ends it as a crash.
        let mut watching = screen(addr, &alice, chat_id).await;
        watching.next("screen:state").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let machine = t.app.browser.machine_of(chat_id).expect("the machine runs here");
        let pid = machine.browser_pid().expect("a browser process");
        // SAFETY: kill has no memory effects; the pid is this test's browser.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let stopped = watching.next("screen:stopped").await;
        assert_eq!(stopped["reason"], "crashed");
        assert_eq!(watching.closed_with().await, 4010);
        let stopped = alice_device.next_within("room:stopped", SLOW).await;
        assert_eq!(stopped["reason"], "crashed");
    }
);

browser_room_test!(
    starts_are_refused_in_order_and_within_the_limits,
    |c: &mut Config| c.browser.max_machines = 2,
    |t: TestApp, _pages| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (admin_id, admin) = p.at("admin", 2).await;
        let lobby = create_official(&t, &admin, "Lobby", "lobby").await;
        let hall = create_official(&t, &admin, "Hall", "hall").await;
        let third = create_official(&t, &admin, "Third", "third").await;
        let r = t.post(&chat_path(0, "start")).cookie(&admin).send().await;
        assert_error_fields(&r, 400, "ERR_VALIDATION", &["field"]);
        let r = t.post(&chat_path(999_999, "start")).cookie(&admin).send().await;
        assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
        // One portal-started machine per user.
        start(&t, &admin, lobby).await;
        let r = t.post(&chat_path(hall, "start")).cookie(&admin).send().await;
        assert_error_fields(&r, 409, "ERR_BROWSER_USER_LIMIT", &["limit"]);
        assert_eq!(r.body["limit"], 1);
        // The admin route does not use the allowance, but the node's capacity holds.
        let r = t
            .post(&format!("/v1/admin/chats/{hall}/start"))
            .cookie(&admin)
            .send()
            .await;
        r.assert_ok();
        let r = t
            .post(&format!("/v1/admin/chats/{third}/start"))
            .cookie(&admin)
            .send()
            .await;
        assert_error_fields(&r, 503, "ERR_BROWSER_CAPACITY", &[]);
        let health = t
            .get("/v1/admin/health")
            .cookie(&admin)
            .send()
            .await
            .assert_ok()
            .clone();
        assert_eq!(health["browser"]["engine"], engine_of(&t));
        assert_eq!(health["browser"]["available"], true);
        assert_eq!(health["browser"]["machines"], 2);
        assert_eq!(health["browser"]["max_machines"], 2);
        let stats = t.get("/v1/statistics/chats").send().await.assert_ok().clone();
        assert_eq!(stats["running_count"], 2, "{stats}");
        // A screen needs a joined room, then a machine that runs.
        let r = try_screen(addr, &admin, lobby).await.err().expect("refused");
        assert_eq!((r.0, r.1["code"].clone()), (403, json!("ERR_ROOM_NOT_JOINED")));
        let mut device = Device::new(&t, addr, admin_id, &admin).await;
        device.join(third).await;
        let r = try_screen(addr, &admin, third).await.err().expect("refused");
        assert_eq!((r.0, r.1["code"].clone()), (409, json!("ERR_BROWSER_NOT_RUNNING")));
        // Tor cannot run here.
        let root = p.at("root", 3).await.1;
        let r = t
            .post(&format!("/v1/admin/chats/{third}/update"))
            .cookie(&root)
            .json(json!({"browser_config": {"browser": "tor"}}))
            .send()
            .await;
        r.assert_ok();
        t.post(&format!("/v1/admin/chats/{hall}/stop"))
            .cookie(&admin)
            .send()
            .await
            .assert_ok();
        let r = t
            .post(&format!("/v1/admin/chats/{third}/start"))
            .cookie(&admin)
            .send()
            .await;
        assert_error_fields(&r, 409, "ERR_BROWSER_UNSUPPORTED", &[]);
        // A browser_config that breaks §2.5 is refused when written.
        let r = t
            .post(&format!("/v1/admin/chats/{third}/update"))
            .cookie(&root)
            .json(json!({"browser_config": {"start_url": "javascript:alert(1)"}}))
            .send()
            .await;
        assert_error_fields(&r, 400, "ERR_VALIDATION", &["field"]);
        assert_eq!(r.body["error"], "browser_config.start_url must be a valid URL");
    }
);

/// An Admin's start of a fresh official chat, refused with 503 `code`; then the admin health
/// report.
async fn start_refused(t: &TestApp, code: &str) -> Value {
    let p = People::new(t).await;
    let (_, admin) = p.at("admin", 2).await;
    let lobby = create_official(t, &admin, "Lobby", "lobby").await;
    let r = t.post(&chat_path(lobby, "start")).cookie(&admin).send().await;
    assert_error_fields(&r, 503, code, &[]);
    t.get("/v1/admin/health")
        .cookie(&admin)
        .send()
        .await
        .assert_ok()
        .clone()
}

both_backends!(
    a_node_without_an_engine_refuses_starts,
    |c: &mut Config| c.browser.engine = Some("off".into()),
    |t: TestApp| async move {
        let health = start_refused(&t, "ERR_BROWSER_DISABLED").await;
        assert_eq!(health["browser"]["engine"], "off");
        assert_eq!(health["browser"]["available"], false);
    }
);

both_backends!(
    the_machines_of_a_lost_node_are_stopped_as_node_lost,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (admin_id, admin) = p.at("admin", 2).await;
        let lobby = create_official(&t, &admin, "Lobby", "lobby").await;
        let mut device = Device::new(&t, addr, admin_id, &admin).await;
        device.join(lobby).await;
        // A machine that another node started and never stopped: that node's last heartbeat is old.
        let now = t.app.now();
        let old = now - 31 * 1_000_000;
        t.exec(&format!(
        "INSERT INTO browser_nodes (identity, engine, max_machines, beat_at) VALUES ('gone:8080', 'process', 2, {old})"
    ))
        .await;
        t.exec(&format!(
        "INSERT INTO browser_machines (chat_id, state, engine, node, started_by, route, browser, kiosk, started_at, \
         running_since) VALUES ({lobby}, 'running', 'process', 'gone:8080', {admin_id}, 'portal', 'firefox', 0, {old}, {old})"
    ))
    .await;
        let listed = t
            .get("/v1/portal/chats")
            .cookie(&admin)
            .send()
            .await
            .assert_ok()
            .clone();
        assert_eq!(listed[0]["running"], true, "{listed}");
        portal::domain::browser::lifecycle::stop_lost_machines(&t.app, 30)
            .await
            .unwrap();
        let stopped = device.next("room:stopped").await;
        assert_eq!(stopped["reason"], "node_lost");
        assert_eq!(stopped["stopped_by"], Value::Null);
        let listed = t
            .get("/v1/portal/chats")
            .cookie(&admin)
            .send()
            .await
            .assert_ok()
            .clone();
        assert_eq!(listed[0]["running"], false);
        // Marking is a conditional update: a second sweep (another node's) announces nothing.
        portal::domain::browser::lifecycle::stop_lost_machines(&t.app, 30)
            .await
            .unwrap();
        device.no_pending(&["room:stopped"]).await;
        // The screen of a chat without a machine is refused as not running.
        let r = try_screen(addr, &admin, lobby).await.err().expect("refused");
        assert_eq!((r.0, r.1["code"].clone()), (409, json!("ERR_BROWSER_NOT_RUNNING")));
    }
);

/// `docker inspect` of one object, as JSON.
fn docker_inspect(kind: &str, name: &str) -> Option<Value> {
    let out = std::process::Command::new("docker")
        .args([kind, "inspect", name])
        .output()
        .expect("the docker command");
    out.status
        .success()
        .then(|| serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone())
}

/// Whether the container is gone within 20 seconds.
async fn container_goes(name: &str) -> bool {
    for _ in 0..100 {
        if docker_inspect("container", name).is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// The docker engine (§2.3): the container is bounded, read-only, unprivileged, unlogged and on
/// the internal network alone; it is removed with its machine; and a node that starts removes the
/// containers an earlier run of it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_machine_is_a_bounded_unprivileged_container_that_goes_with_it() {
    if !docker_present() {
        return;
    }
    let _turn = docker_turn().await;
    let node = format!("leftovers-{}:1", std::process::id());
    // What an earlier run of this node left: a container with its label.
    let made = std::process::Command::new("docker")
        .args([
            "create",
            "--label",
            &format!("portal.node={node}"),
            "--label",
            "portal.machine=0",
        ])
        .args(["--network", "none", "portal-browser:latest", "true"])
        .output()
        .expect("the docker command");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let leftover = String::from_utf8_lossy(&made.stdout).trim().to_owned();

    let pages = serve_pages().await;
    let Some(t) = TestApp::new(crate::common::Kind::Sqlite, |c| {
        browser_config(c, pages, Engine::Docker);
        c.browser.node_address = Some(node.clone());
        c.browser.docker.cpus = 0.5;
        c.browser.docker.memory_mb = 768;
        c.browser.docker.pids_limit = 200;
    })
    .await
    else {
        return;
    };
    tokio::spawn(portal::domain::browser::lifecycle::run_node(t.app.clone()));
    assert!(
        container_goes(&leftover).await,
        "the node's leftover container is still there"
    );

    let p = People::new(&t).await;
    let addr = t.listen().await;
    let (chat_id, (_, alice, mut alice_device), _) = room_with_two(&t, &p, addr, None).await;
    start(&t, &alice, chat_id).await;
    alice_device.next_within("room:started", SLOW).await;
    let machine_id = t.app.browser.machine_of(chat_id).expect("the machine runs here").id;
    let name = format!("portal-browser-{machine_id}");
    let container = docker_inspect("container", &name).expect("the machine's container");
    let host = &container["HostConfig"];
    assert_eq!(host["NanoCpus"], 500_000_000);
    assert_eq!(host["Memory"], 768 * 1024 * 1024);
    assert_eq!(host["MemorySwap"], host["Memory"]);
    assert_eq!(host["PidsLimit"], 200);
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["CapDrop"], json!(["ALL"]));
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges"]));
    assert_eq!(host["LogConfig"]["Type"], "none");
    assert_eq!(host["NetworkMode"], "portal-browser");
    assert!(host["Binds"].is_null() && host["Mounts"].is_null(), "{host}");
    assert_eq!(host["ShmSize"], 256 * 1024 * 1024);
    assert!(host["Tmpfs"]["/tmp"].is_string());
    assert_eq!(container["Config"]["User"], "10001:10001");
    assert_eq!(container["Config"]["Labels"]["portal.node"], node.as_str());
    assert_eq!(container["Config"]["Labels"]["portal.machine"], machine_id.to_string());
    assert_eq!(
        container["NetworkSettings"]["Networks"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["portal-browser"]
    );
    let network = docker_inspect("network", "portal-browser").expect("the machines' network");
    assert_eq!(network["Internal"], true);
    assert_eq!(network["Options"]["com.docker.network.bridge.enable_icc"], "false");
    // The browser itself is the container's first process, and it is not root.
    let status = std::fs::read_to_string(format!(
        "/proc/{}/status",
        t.app.browser.machine_of(chat_id).unwrap().browser_pid().unwrap()
    ))
    .unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.split_whitespace().skip(1).all(|id| id == "10001"), "{uid}");

    // A browser that ignored its flags would still reach nothing past its network (§3.5), while
    // the egress listener on the host's address there answers. (Where the daemon runs without
    // its iptables rules, as on this test machine, that rests on the host not routing the
    // network's traffic out: docs/OPERATIONS.md.)
    let connect = |target: &str| {
        let script = format!("exec 3<>/dev/tcp/{target}");
        std::process::Command::new("docker")
            .args(["exec", &name, "timeout", "3", "bash", "-c", &script])
            .output()
            .expect("the docker command")
    };
    assert!(
        !connect("1.1.1.1/80").status.success(),
        "a machine reached past its network"
    );
    let gateway = network["IPAM"]["Config"][0]["Gateway"].as_str().unwrap().to_owned();
    let args = container["Args"].as_array().unwrap();
    let proxy = args
        .iter()
        .find_map(|a| a.as_str().unwrap().strip_prefix("--proxy-server=http://"))
        .expect("the proxy flag");
    assert!(proxy.starts_with(&format!("{gateway}:")), "{proxy}");
    assert!(
        connect(&proxy.replace(':', "/")).status.success(),
        "the egress listener does not answer"
    );
    // The listener serves its own machine only: another container on the network gets nothing
    // from it, not even a refusal, while the machine's own request is answered.
    let fetch = format!(
        "exec 3<>/dev/tcp/{}; printf 'GET http://{pages}/one HTTP/1.1\r\nHost: {pages}\r\nConnection: close\r\n\r\n' >&3; timeout 5 cat <&3",
        proxy.replace(':', "/")
    );
    let own = std::process::Command::new("docker")
        .args(["exec", &name, "bash", "-c", &fetch])
        .output()
        .expect("the docker command");
    let own = String::from_utf8_lossy(&own.stdout);
    assert!(
        own.starts_with("HTTP/1.1 200") && own.contains("<title>One</title>"),
        "{own}"
    );
    let stranger = std::process::Command::new("docker")
        .args(["run", "--rm", "--network", "portal-browser", "--user", "10001"])
        .args(["portal-browser:latest", "bash", "-c", &fetch])
        .output()
        .expect("the docker command");
    let stranger = String::from_utf8_lossy(&stranger.stdout);
    assert!(!stranger.contains("HTTP/"), "another container was served: {stranger}");

    t.post(&chat_path(chat_id, "stop"))
        .cookie(&alice)
        .send()
        .await
        .assert_ok();
    alice_device.next_within("room:stopped", SLOW).await;
    assert!(
        container_goes(&name).await,
        "the stopped machine's container is still there"
    );
}

/// The docker engine's failures (§2.2, §4.2): a missing image fails the start with 503
/// `ERR_BROWSER_START_FAILED` and leaves no container; a daemon that does not answer fails it the
/// same way, and health says the engine is not available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_start_without_its_image_or_its_daemon_fails_cleanly() {
    if !docker_present() {
        return;
    }
    let _turn = docker_turn().await;
    for (image, host, available) in [
        ("portal-browser-missing:none", "unix:///var/run/docker.sock", true),
        ("portal-browser:latest", "unix:///nonexistent/docker.sock", false),
    ] {
        let pages = serve_pages().await;
        let Some(t) = TestApp::new(crate::common::Kind::Sqlite, |c| {
            browser_config(c, pages, Engine::Docker);
            c.browser.docker.image = image.into();
            c.browser.docker.host = host.into();
        })
        .await
        else {
            return;
        };
        let health = start_refused(&t, "ERR_BROWSER_START_FAILED").await;
        assert_eq!(health["browser"]["engine"], "docker");
        assert_eq!(health["browser"]["available"], available, "{image} at {host}");
        assert_eq!(health["browser"]["machines"], 0);
        let listed = std::process::Command::new("docker")
            .args(["ps", "--all", "--quiet", "--filter", "label=portal.machine"])
            .output()
            .expect("the docker command");
        assert!(listed.stdout.is_empty(), "a failed start left a container");
    }
}

/// The same rooms on two nodes: a screen relayed to the node of its machine.
mod nodes;

//! A real browser for the web front's tests: headless Chromium driven through its driver's
//! WebDriver protocol (HTTP with JSON, W3C WebDriver), spoken over `wire`. Each `Browser` runs its
//! own `chromedriver` on a free port with its own profile folder, so two browsers are two people
//! with their own cookies.
//!
//! The binaries are `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`), or `PORTAL_TEST_CHROMIUM` / `PORTAL_TEST_CHROMEDRIVER`. Without them a test
//! is skipped loudly, and under `CI=true` it fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use super::in_ci;
use super::wire;

/// W3C WebDriver's key for an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a wait for something on the page lasts before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

fn binary(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The browser and its driver, or `None` (a loud skip) when either is missing; under `CI=true` a
/// panic.
pub fn binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = binary("PORTAL_TEST_CHROMIUM", "/usr/bin/chromium");
    let driver = binary("PORTAL_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
    for path in [&chromium, &driver] {
        if !path.exists() {
            if in_ci() {
                panic!(
                    "{} is required under CI=true (apt-get install chromium chromium-driver)",
                    path.display()
                );
            }
            eprintln!("SKIPPED: browser test, {} is missing", path.display());
            return None;
        }
    }
    Some((chromium, driver))
}

pub struct Browser {
    driver: Child,
    driver_addr: SocketAddr,
    session: String,
    /// The front's origin, `http://127.0.0.1:<port>`.
    pub origin: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new headless browser for the server at `server`, sized as a laptop screen.
    pub async fn open(server: SocketAddr) -> Option<Browser> {
        Self::open_sized(server, 1280, 900).await
    }

    pub async fn open_sized(server: SocketAddr, width: u32, height: u32) -> Option<Browser> {
        let (chromium, driver_path) = binaries()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let profile = tempfile::tempdir().expect("a profile folder");
        let mut browser = Browser {
            driver,
            driver_addr,
            session: String::new(),
            origin: format!("http://{server}"),
            _profile: profile,
        };
        browser.wait_for_driver().await;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--lang=en-GB",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
        }}});
        let answer = browser.command("POST", "/session", Some(capabilities)).await;
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_owned();
        Some(browser)
    }

    async fn wait_for_driver(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = wire::send_sized(self.driver_addr, "GET", "/status", None, Duration::from_secs(5)).await {
                if r.status == 200 && r.json()["value"]["ready"] == true {
                    return;
                }
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited with {status}");
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One WebDriver command; its `value`. A WebDriver error fails the test.
    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.try_command(method, path, body).await;
        assert_eq!(status, 200, "WebDriver {method} {path}: {value}");
        value
    }

    async fn try_command(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        // WebDriver wants a JSON body on every POST, `{}` at least.
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        // Starting Chromium can take a while on a busy machine.
        let r = wire::send_sized(self.driver_addr, method, path, body.as_ref(), Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        (r.status, r.json()["value"].clone())
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `path` of the front (`/`, `/#/sessions`).
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.origin);
        self.command("POST", &self.at("/url"), Some(json!({ "url": url })))
            .await;
    }

    /// Loads the current address again, as the reload button does (`goto` to the address already
    /// shown changes nothing in a page of hash routes).
    pub async fn reload(&self) {
        self.command("POST", &self.at("/refresh"), None).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its return value.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            &self.at("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs `script` that ends by calling `done(value)` (e.g. after an `import()`); that value.
    pub async fn run_async(&self, script: &str) -> Value {
        let body = format!("const done = arguments[arguments.length - 1]; {script}");
        self.command(
            "POST",
            &self.at("/execute/async"),
            Some(json!({"script": body, "args": []})),
        )
        .await
    }

    async fn find_now(&self, css: &str) -> Option<String> {
        let (status, value) = self
            .try_command(
                "POST",
                &self.at("/element"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        (status == 200).then(|| {
            value[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("an element id in {value}"))
                .to_owned()
        })
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(id) = self.find_now(css).await {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on the page; it shows:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the field matching `css` (after emptying it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command("POST", &self.at(&format!("/element/{id}/clear")), None)
            .await;
        self.command(
            "POST",
            &self.at(&format!("/element/{id}/value")),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Clicks the first button whose text is `label`.
    pub async fn press(&self, label: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let clicked = self
                .run(
                    "const b = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === arguments[0] && !b.disabled && b.offsetParent !== null);
                     if (b) { b.click(); return true; } return false;",
                    json!([label]),
                )
                .await;
            if clicked == true {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no button \"{label}\"; the page shows:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the first visible, enabled button whose text is `label` inside the first element
    /// matching `scope` (a row of a list, one message), waiting for it.
    pub async fn press_within(&self, scope: &str, label: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let clicked = self
                .run(
                    "const s = document.querySelector(arguments[0]); if (!s) return false;
                     const b = [...s.querySelectorAll('button')].find(b => b.textContent.trim() === arguments[1] && !b.disabled && b.offsetParent !== null);
                     if (b) { b.click(); return true; } return false;",
                    json!([scope, label]),
                )
                .await;
            if clicked == true {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no button \"{label}\" in {scope}; the page shows:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element matching `css` (a checkbox, a link), waiting for it.
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.command("POST", &self.at(&format!("/element/{id}/click")), None)
            .await;
    }

    /// The `value` of the form field matching `css`, waiting for it to appear.
    pub async fn value_of(&self, css: &str) -> String {
        self.find(css).await;
        self.run("return document.querySelector(arguments[0]).value;", json!([css]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves what the browser shows as `docs/screenshots/<name>.png` when `PORTAL_SCREENSHOTS=1`
    /// (the pictures of the documentation are made by the tests themselves).
    pub async fn screenshot_for_docs(&self, name: &str) {
        if std::env::var("PORTAL_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&folder).expect("the screenshot folder");
        self.screenshot(&folder.join(format!("{name}.png"))).await;
    }

    /// The visible text of the element matching `css`, or `None` when there is none now.
    pub async fn text_of(&self, css: &str) -> Option<String> {
        let id = self.find_now(css).await?;
        let (status, value) = self
            .try_command("GET", &self.at(&format!("/element/{id}/text")), None)
            .await;
        (status == 200).then(|| value.as_str().unwrap_or_default().to_owned())
    }

    /// Everything the page shows, as a person reads it.
    pub async fn page_text(&self) -> String {
        self.text_of("body").await.unwrap_or_default()
    }

    /// Waits until the element matching `css` shows `needle`; returns its whole text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(text) = self.text_of(css).await {
                if text.contains(needle) {
                    return text;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed \"{needle}\"; the page shows:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page (anywhere) shows `needle`.
    pub async fn wait_for_page_text(&self, needle: &str) -> String {
        self.wait_for_text("body", needle).await
    }

    /// Waits until the element matching `css` no longer shows `needle`.
    pub async fn wait_until_gone(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if !self.text_of(css).await.unwrap_or_default().contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} still shows \"{needle}\"; the page shows:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the browser's viewport written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let data = self.command("GET", &self.at("/screenshot"), None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("a PNG");
        std::fs::write(path, png).expect("writing a screenshot");
    }

    /// Resizes the window (the viewport a screenshot shows).
    pub async fn resize(&self, width: u32, height: u32) {
        self.command(
            "POST",
            &self.at("/window/rect"),
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// The element that has the keyboard focus: its tag and text.
    pub async fn focused(&self) -> (String, String) {
        let value = self
            .run(
                "const e = document.activeElement; return [e.tagName.toLowerCase(), e.textContent.trim()];",
                json!([]),
            )
            .await;
        (
            value[0].as_str().unwrap().to_owned(),
            value[1].as_str().unwrap().to_owned(),
        )
    }

    /// The page's address after `#`.
    pub async fn hash(&self) -> String {
        self.run("return location.hash;", json!([]))
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium; killing the driver alone would leave it running. A
        // plain blocking request, since a drop cannot await.
        if !self.session.is_empty() {
            use std::io::{Read, Write};
            if let Ok(mut stream) = std::net::TcpStream::connect(self.driver_addr) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let request = format!(
                    "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                    self.session, self.driver_addr
                );
                if stream.write_all(request.as_bytes()).is_ok() {
                    // The driver keeps the connection open: read until the answer is whole.
                    let mut answer = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        answer.extend_from_slice(&buf[..n]);
                        if wire::has_sized_body(&answer) {
                            break;
                        }
                    }
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

//! The driver against a real Chromium (`/usr/bin/chromium`, without its sandbox since tests run as
//! root) behind a real egress proxy listener that allows only the test's own page server. Without
//! Chromium the tests say loudly that they are skipped, except under `CI=true`, where they fail.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::egress::proxy::{system_resolver, Egress, ProxyListener, Refusal};
use super::egress::rules::{EgressRules, OwnSockets, Reason};
use super::engine::process::{find_chromium, ChromiumProcess};
use super::engine::{LaunchOptions, Limits, ProcessEnd};
use super::tab::{
    jpeg_size, Judge, Key, KeyKind, MouseButton, PageState, Pointer, PointerKind, Tab, TabEnd, TabEvent, TabOptions,
    Wheel,
};
use crate::metrics::Metrics;

const WIDTH: u32 = 800;
const HEIGHT: u32 = 600;
const WAIT: Duration = Duration::from_secs(15);

fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "/usr/bin/chromium is required under CI=true (apt-get install chromium)"
    );
    eprintln!("!!! SKIPPED: /usr/bin/chromium is missing, so the browser driver is not tested against Chromium");
    None
}

/// The test's own site: a link page, a form page, a page that opens a window, one that raises an
/// alert, and a redirect to a destination the proxy refuses. Every request's path is recorded.
async fn page_server(forbidden: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                recorded.lock().unwrap().push(path.clone());
                let big = "position:absolute;left:0;top:0;width:400px;height:100px;display:block;font-size:40px";
                let (status, extra, body) = match path.split('?').next().unwrap_or("/") {
                    "/" => (
                        "200 OK",
                        String::new(),
                        format!("<title>One</title><a id=next href=/two style='{big}'>Next</a>"),
                    ),
                    "/two" => (
                        "200 OK",
                        String::new(),
                        format!(
                            "<title>Two</title><form action=/submitted><input name=value style='{big}'></form>\
                         <img src='http://{forbidden}/pixel.png'>"
                        ),
                    ),
                    "/submitted" => ("200 OK", String::new(), "<title>Submitted</title>".to_owned()),
                    "/popup" => (
                        "200 OK",
                        String::new(),
                        format!(
                            "<title>Popup</title><button style='{big}' onclick=\"window.open('/two')\">Open</button>"
                        ),
                    ),
                    "/alert" => (
                        "200 OK",
                        String::new(),
                        "<title>Alert</title><script>alert('hello');document.title='After alert'</script>".to_owned(),
                    ),
                    "/redirect" => (
                        "302 Found",
                        format!("location: http://{forbidden}/behind-redirect\r\n"),
                        String::new(),
                    ),
                    _ => ("404 Not Found", String::new(), String::new()),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, seen)
}

/// A listener the egress rules forbid (loopback, not on the allow list); counts connections.
async fn forbidden_server() -> (SocketAddr, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(Mutex::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            *counted.lock().unwrap() += 1;
        }
    });
    (addr, connections)
}

struct Machine {
    process: ChromiumProcess,
    tab: Tab,
    events: mpsc::UnboundedReceiver<TabEvent>,
    refusals: mpsc::UnboundedReceiver<Refusal>,
    _proxy: ProxyListener,
}

async fn machine(chromium: PathBuf, allowed: SocketAddr) -> Machine {
    let rules = EgressRules::new(false, &[allowed.to_string()], &[]).unwrap();
    let egress = Egress::new(
        rules,
        OwnSockets::default(),
        system_resolver(),
        Arc::new(Metrics::default()),
    );
    let (refused, refusals) = mpsc::unbounded_channel();
    let proxy = egress.listen("127.0.0.1".parse().unwrap(), refused).await.unwrap();
    let options = LaunchOptions {
        chromium,
        proxy: proxy.addr,
        width: WIDTH,
        height: HEIGHT,
        no_sandbox: true,
        limits: Limits {
            cpus: 1.0,
            memory_mb: 1024,
        },
        call_timeout: Duration::from_secs(20),
    };
    let (process, cdp_events, limited) = ChromiumProcess::launch(&options).await.unwrap();
    if !limited {
        eprintln!("no writable cgroup v2 tree here: the machine runs without CPU and memory limits");
    }
    let judge: Judge = Arc::new(move |url: String| {
        let egress = egress.clone();
        Box::pin(async move { egress.judge_url(&url).await })
    });
    let (tab, events) = Tab::open(
        process.cdp().clone(),
        cdp_events,
        TabOptions {
            width: WIDTH,
            height: HEIGHT,
            jpeg_quality: 60,
            max_fps: 15,
            judge,
        },
    )
    .await
    .unwrap();
    Machine {
        process,
        tab,
        events,
        refusals,
        _proxy: proxy,
    }
}

impl Machine {
    /// Reads the tab's events until `wanted` picks one, failing after a while.
    async fn until<T>(&mut self, what: &str, mut wanted: impl FnMut(&TabEvent) -> Option<T>) -> T {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                match self.events.recv().await {
                    Some(event) => {
                        if let Some(found) = wanted(&event) {
                            return found;
                        }
                    }
                    None => panic!("the tab's events ended while waiting for {what}"),
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
    }

    async fn until_page(&mut self, what: &str, wanted: impl Fn(&PageState) -> bool) -> PageState {
        self.until(what, |event| match event {
            TabEvent::Page(state) => {
                eprintln!("page: {state:?}");
                wanted(state).then(|| state.clone())
            }
            _ => None,
        })
        .await
    }

    async fn click(&self, x: f64, y: f64) {
        let pointer = |kind, button, buttons| Pointer {
            kind,
            x,
            y,
            button,
            buttons,
            click_count: if kind == PointerKind::Move { 0 } else { 1 },
            modifiers: 0,
        };
        self.tab
            .pointer(pointer(PointerKind::Move, MouseButton::None, 0))
            .await
            .unwrap();
        self.tab
            .pointer(pointer(PointerKind::Down, MouseButton::Left, 1))
            .await
            .unwrap();
        self.tab
            .pointer(pointer(PointerKind::Up, MouseButton::Left, 0))
            .await
            .unwrap();
    }

    async fn press(&self, key: &str, code: &str, text: &str) {
        for kind in [KeyKind::Down, KeyKind::Up] {
            let key = Key {
                kind,
                key: key.into(),
                code: code.into(),
                text: text.into(),
                modifiers: 0,
                repeat: false,
            };
            self.tab.key(&key).await.unwrap();
        }
    }
}

/// The processes of a process group whose command line contains `needle`.
fn processes_of_group(group: i32, needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: getpgid(2) only reads.
        if unsafe { libc::getpgid(pid) } != group {
            continue;
        }
        let command = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&command).contains(needle) {
            found.push(pid);
        }
    }
    found
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let field = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (field(16), field(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_chromium_is_driven_through_its_one_tab_under_the_egress_rules() {
    let Some(chromium) = chromium() else { return };
    let (forbidden, forbidden_connections) = forbidden_server().await;
    let (site, seen) = page_server(forbidden).await;
    let mut m = machine(chromium, site).await;

    // The first page, and its picture.
    m.tab.navigate(&format!("http://{site}/")).await.unwrap();
    // A page that is still sends no more frames, so the first may come before the page is done.
    let (mut one, mut frame) = (None, None);
    m.until("the first page and a frame", |e| {
        match e {
            TabEvent::Page(state) if state.title == "One" && !state.loading => one = Some(state.clone()),
            TabEvent::Frame(f) => frame = Some(f.clone()),
            _ => {}
        }
        (one.is_some() && frame.is_some()).then_some(())
    })
    .await;
    let (one, frame) = (one.unwrap(), frame.unwrap());
    assert_eq!(one.url, format!("http://{site}/"));
    assert!(!one.can_go_back || one.url.ends_with('/'));
    assert!(frame.jpeg.starts_with(&[0xFF, 0xD8]) && frame.jpeg.ends_with(&[0xFF, 0xD9]));
    assert_eq!((frame.width, frame.height), (WIDTH, HEIGHT));
    assert!(frame.received_unix_ms > 1_600_000_000_000);

    // A click on the link.
    m.click(50.0, 50.0).await;
    let two = m
        .until_page("the second page", |s| s.title == "Two" && !s.loading)
        .await;
    assert_eq!(two.url, format!("http://{site}/two"));
    assert!(two.can_go_back && !two.can_go_forward);
    // Its image from a forbidden origin went to the proxy, which refused it.
    let refusal = tokio::time::timeout(WAIT, m.refusals.recv()).await.unwrap().unwrap();
    assert_eq!(
        refusal,
        Refusal {
            origin: format!("http://{forbidden}"),
            reason: Reason::Address
        }
    );

    // Typing: a key with text, inserted text, Backspace, and Enter submitting the form.
    m.click(50.0, 50.0).await;
    m.press("h", "KeyH", "h").await;
    m.tab.insert_text("ello!").await.unwrap();
    m.press("Backspace", "Backspace", "").await;
    m.press("Enter", "Enter", "").await;
    let submitted = m.until_page("the submitted form", |s| s.title == "Submitted").await;
    assert_eq!(submitted.url, format!("http://{site}/submitted?value=hello"));
    assert!(seen.lock().unwrap().contains(&"/submitted?value=hello".to_owned()));

    // History.
    assert!(m.tab.back().await.unwrap());
    let back = m.until_page("the page before", |s| s.title == "Two").await;
    assert!(back.can_go_forward);
    assert!(m.tab.forward().await.unwrap());
    m.until_page("the page after", |s| s.title == "Submitted" && !s.can_go_forward)
        .await;
    assert!(!m.tab.forward().await.unwrap());
    m.tab.reload().await.unwrap();

    // A destination the egress rules refuse shows the refusal page.
    let refused = format!("http://{forbidden}/secret?<b>");
    m.tab.navigate(&refused).await.unwrap();
    // The report and the page that shows it may come in either order.
    let (mut refusal, mut shown) = (None, None);
    m.until("the refusal and its page", |e| {
        match e {
            TabEvent::TopLevelRefused { url, reason } => refusal = Some((url.clone(), *reason)),
            TabEvent::Page(state) if state.title == "Navigation refused" => shown = Some(state.clone()),
            _ => {}
        }
        (refusal.is_some() && shown.is_some()).then_some(())
    })
    .await;
    let (url, reason) = refusal.unwrap();
    assert!(url.starts_with(&format!("http://{forbidden}/secret")), "{url}");
    assert_eq!(reason, Reason::Address);
    assert_eq!(shown.unwrap().url, "about:blank");

    // So does a redirect to one.
    m.tab.navigate(&format!("http://{site}/redirect")).await.unwrap();
    let (url, reason) = m
        .until("the refused redirect", |e| match e {
            TabEvent::TopLevelRefused { url, reason } => Some((url.clone(), *reason)),
            _ => None,
        })
        .await;
    assert_eq!(
        (url, reason),
        (format!("http://{forbidden}/behind-redirect"), Reason::Address)
    );
    assert_eq!(
        *forbidden_connections.lock().unwrap(),
        0,
        "the forbidden server was reached"
    );

    // Another scheme loads nothing.
    m.tab.navigate("file:///etc/passwd").await.unwrap();
    let (url, reason) = m
        .until("the scheme refusal", |e| match e {
            TabEvent::TopLevelRefused { url, reason } => Some((url.clone(), *reason)),
            _ => None,
        })
        .await;
    assert_eq!((url.as_str(), reason), ("file:///etc/passwd", Reason::Scheme));

    // A window the page opens loads in the one tab.
    m.tab.navigate(&format!("http://{site}/popup")).await.unwrap();
    m.until_page("the page that opens a window", |s| s.title == "Popup" && !s.loading)
        .await;
    m.click(50.0, 50.0).await;
    let opened = m.until_page("the window's page in the tab", |s| s.title == "Two").await;
    assert_eq!(opened.url, format!("http://{site}/two"));
    let mut pages = usize::MAX;
    for _ in 0..50 {
        let targets = m
            .process
            .cdp()
            .call(None, "Target.getTargets", serde_json::json!({}))
            .await
            .unwrap();
        pages = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["type"] == "page")
            .count();
        if pages == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pages, 1, "more than one tab");

    // An alert does not hold the page up.
    m.tab.navigate(&format!("http://{site}/alert")).await.unwrap();
    m.until_page("the page after its alert", |s| s.title == "After alert")
        .await;

    // A screenshot and a fresh frame, of the viewport.
    let png = m.tab.screenshot_png().await.unwrap();
    assert_eq!(png_size(&png), (WIDTH, HEIGHT));
    let fresh = m.tab.capture_frame().await.unwrap();
    assert_eq!(jpeg_size(&fresh.jpeg), Some((WIDTH, HEIGHT)));
    assert_eq!((fresh.width, fresh.height), (WIDTH, HEIGHT));

    // The browser killed: the tab and the process both report the end within 5 seconds.
    let profile = m.process.profile_dir().unwrap().to_owned();
    assert!(profile.exists());
    // SAFETY: kill(2) on the browser this test started.
    unsafe { libc::kill(m.process.pid(), libc::SIGKILL) };
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match m.events.recv().await {
                Some(TabEvent::Ended(end)) => return end,
                Some(_) => continue,
                None => panic!("the events ended without an Ended"),
            }
        }
    })
    .await
    .expect("the end reported within 5 s");
    eprintln!("tab end: {end:?}");
    let ended = tokio::time::timeout(Duration::from_secs(5), m.process.ended())
        .await
        .unwrap();
    assert_eq!(ended, ProcessEnd::Signalled { signal: libc::SIGKILL });
    assert_eq!(m.process.stop(Duration::from_secs(2)).await, ended);
    assert!(!profile.exists(), "the profile outlived the machine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_browser_ends_politely_and_leaves_no_profile() {
    let Some(chromium) = chromium() else { return };
    assert_eq!(find_chromium(Some(&chromium)), Ok(Some(chromium.clone())));
    let not_executable = tempfile::NamedTempFile::new().unwrap();
    assert!(find_chromium(Some(not_executable.path())).is_err());
    let (site, _) = page_server("127.0.0.1:9".parse().unwrap()).await;
    let mut m = machine(chromium, site).await;
    let profile = m.process.profile_dir().unwrap().to_owned();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&profile).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(m.process.try_ended().is_none());
    let pid = m.process.pid();

    // A crashed renderer ends the tab, not the browser.
    m.tab.navigate(&format!("http://{site}/")).await.unwrap();
    m.until_page("the first page", |s| s.title == "One").await;
    let wheel = Wheel {
        x: 10.0,
        y: 10.0,
        dx: 0.0,
        dy: 120.0,
        modifiers: 0,
    };
    m.tab.wheel(wheel).await.unwrap();
    assert_eq!(m.tab.page_state().await.unwrap().title, "One");
    let renderers = processes_of_group(pid, "--type=renderer");
    assert!(!renderers.is_empty(), "no renderer in the browser's group");
    for renderer in renderers {
        // SAFETY: kill(2) on a renderer of the browser this test started.
        unsafe { libc::kill(renderer, libc::SIGKILL) };
    }
    let end = m
        .until("the crash", |e| match e {
            TabEvent::Ended(end) => Some(*end),
            _ => None,
        })
        .await;
    assert_eq!(end, TabEnd::RendererCrashed);
    assert!(m.process.try_ended().is_none());

    tokio::time::timeout(Duration::from_secs(5), m.tab.close())
        .await
        .expect("the tab let go");
    let end = m.process.stop(Duration::from_secs(10)).await;
    assert_eq!(end, ProcessEnd::Exited { code: 0 });
    assert!(!profile.exists(), "the profile outlived the machine");
    // Nothing of the process group is left.
    let mut gone = false;
    for _ in 0..50 {
        // SAFETY: signal 0 only asks whether the group exists.
        if unsafe { libc::kill(-pid, 0) } != 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the browser's process group outlived it");
}

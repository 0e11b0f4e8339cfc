//! Engines run machines (92-browser-rooms §2.2): the process engine, one Chromium process per
//! machine on the node's own host, and the docker engine, one container per machine through the
//! Docker Engine API. Both start the same browser with the same flags and speak to it over the same
//! DevTools pipe; they differ in what holds it and bounds it.

pub mod docker;
pub mod process;

use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::browser::cdp::Cdp;
use docker::ChromiumContainer;
use process::ChromiumProcess;

/// Per-machine limits (`browser.process.*` or `browser.docker.*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub cpus: f64,
    pub memory_mb: u64,
}

/// How to start one machine's browser.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// The binary: a path on this host (process), or the name on the image's `PATH` (docker).
    pub chromium: PathBuf,
    /// The machine's egress proxy listener: the browser's only way out.
    pub proxy: SocketAddr,
    pub width: u32,
    pub height: u32,
    /// `--no-sandbox`: only when the operator asked (`browser.process.no_sandbox`), or inside a
    /// container, which is the sandbox (§2.3.6).
    pub no_sandbox: bool,
    pub limits: Limits,
    /// The longest wait for the answer to one DevTools call.
    pub call_timeout: Duration,
}

/// How the browser ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    Exited {
        code: i32,
    },
    Signalled {
        signal: i32,
    },
    /// Killed by the kernel for exceeding the machine's memory limit (the cgroup's OOM count, or
    /// Docker's OOM flag).
    OutOfMemory,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot prepare the browser: {0}")]
    Io(#[from] io::Error),
    #[error("the container could not be made: {0}")]
    Docker(#[from] docker::DockerError),
    #[error("the browser did not answer over DevTools: {0}")]
    NoAnswer(#[from] crate::browser::cdp::CdpError),
}

/// The flags that close every path but the proxy (§3.5) and keep the browser quiet and bare.
pub fn chromium_args(options: &LaunchOptions, profile: &Path) -> Vec<OsString> {
    let proxy_host = options.proxy.ip().to_string();
    let mut args: Vec<OsString> = [
        "--headless".to_owned(),
        "--remote-debugging-pipe".to_owned(),
        format!("--proxy-server=http://{}", options.proxy),
        // Without it Chromium sends loopback and link-local destinations past the proxy.
        "--proxy-bypass-list=<-loopback>".to_owned(),
        // The browser resolves no name itself; the proxy resolves and judges.
        format!("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {proxy_host}"),
        // UDP cannot cross an HTTP proxy, so WebRTC peer connections do not connect.
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp".to_owned(),
        "--disable-quic".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-component-update".to_owned(),
        "--no-pings".to_owned(),
        "--disable-domain-reliability".to_owned(),
        "--safebrowsing-disable-auto-update".to_owned(),
        "--disable-client-side-phishing-detection".to_owned(),
        "--disable-features=SafeBrowsing,Translate,MediaRouter,OptimizationHints,AutofillServerCommunication"
            .to_owned(),
        "--disable-breakpad".to_owned(),
        "--disable-extensions".to_owned(),
        "--disable-default-apps".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--metrics-recording-only".to_owned(),
        "--password-store=basic".to_owned(),
        "--mute-audio".to_owned(),
        format!("--window-size={},{}", options.width, options.height),
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    let mut profile_arg = OsString::from("--user-data-dir=");
    profile_arg.push(profile);
    args.push(profile_arg);
    if options.no_sandbox {
        args.push("--no-sandbox".into());
    }
    args.push("about:blank".into());
    args
}

/// Waits until the thread that watches a browser says how it ended (it always says so before it
/// goes).
pub(crate) async fn wait_for_end(ended: &tokio::sync::watch::Receiver<Option<ProcessEnd>>) -> ProcessEnd {
    let mut waiting = ended.clone();
    let end = waiting.wait_for(Option::is_some).await.ok().and_then(|end| *end);
    let told = *ended.borrow();
    end.or(told).unwrap_or(ProcessEnd::Exited { code: -1 })
}

/// One running browser of either engine.
pub enum Browser {
    Process(ChromiumProcess),
    Docker(ChromiumContainer),
}

impl Browser {
    /// The DevTools connection.
    pub fn cdp(&self) -> &Cdp {
        match self {
            Browser::Process(p) => p.cdp(),
            Browser::Docker(c) => c.cdp(),
        }
    }

    /// The browser's process id on this host (for a container, its first process).
    pub fn pid(&self) -> i32 {
        match self {
            Browser::Process(p) => p.pid(),
            Browser::Docker(c) => c.pid(),
        }
    }

    /// Waits until the browser ends, however that happens (a crash, a kill, an OOM).
    pub async fn ended(&self) -> ProcessEnd {
        match self {
            Browser::Process(p) => p.ended().await,
            Browser::Docker(c) => c.ended().await,
        }
    }

    /// Ends the browser politely, then by force within `timeout`; its profile goes with it.
    pub async fn stop(self, timeout: Duration) -> ProcessEnd {
        match self {
            Browser::Process(p) => p.stop(timeout).await,
            Browser::Docker(c) => c.stop(timeout).await,
        }
    }
}

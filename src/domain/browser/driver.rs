//! What the machine's task needs of an engine (92-browser-rooms §2.2–2.3): a browser behind its
//! own egress listener, driven through its one tab, and ended on request or noticed when it ends.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use crate::browser::tab::{Frame as FrameImage, PageState, Tab, TabEvent};

use super::machine::Machine;
use super::{EngineKind, StopReason};
use crate::browser::egress::proxy::{ProxyListener, Refusal};
use crate::browser::engine::process::{ChromiumProcess, LaunchOptions, Limits, ProcessEnd};
use crate::browser::tab::TabOptions;
use crate::domain::app::App;

/// The longest wait for the answer to one DevTools call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A browser that answers: its process, its tab's events, and its egress listener's refusals.
pub struct Launched {
    process: ChromiumProcess,
    pub events: mpsc::UnboundedReceiver<TabEvent>,
    pub refusals: mpsc::UnboundedReceiver<Refusal>,
    /// Dropped with the machine: its listener stops accepting.
    _proxy: ProxyListener,
}

impl Launched {
    /// Why the browser ended, once its tab reported the end: `capacity` when the kernel ended it
    /// for its memory limit, else `crashed` (§2.3, §4.6).
    pub async fn end_reason(&self) -> StopReason {
        match tokio::time::timeout(Duration::from_secs(2), self.process.ended()).await {
            Ok(ProcessEnd::OutOfMemory) => StopReason::Capacity,
            _ => StopReason::Crashed,
        }
    }

    /// Asks the browser to close, then ends its process group; its profile goes with it.
    pub async fn stop(self, timeout: Duration) {
        self.process.stop(timeout).await;
    }
}

/// Starts the machine's browser on this node's engine, its tab on `start_url` (or `about:blank`).
pub async fn launch(app: &App, machine: &Arc<Machine>) -> Result<Launched, String> {
    let choice = &app.browser.engine;
    let chromium = match (choice.kind, &choice.chromium) {
        (EngineKind::Process, Some(chromium)) => chromium.clone(),
        (EngineKind::Docker, _) => return Err("the docker engine is not served by this build".into()),
        _ => return Err("no engine".into()),
    };
    let config = &app.config.browser;
    let (refusals_tx, refusals) = mpsc::unbounded_channel();
    let egress = app.browser.egress.clone();
    let proxy = egress
        .listen(IpAddr::V4(Ipv4Addr::LOCALHOST), refusals_tx)
        .await
        .map_err(|e| format!("cannot open the egress listener: {e}"))?;
    let options = LaunchOptions {
        chromium,
        proxy: proxy.addr,
        width: u32::from(machine.viewport.0),
        height: u32::from(machine.viewport.1),
        no_sandbox: config.process.no_sandbox,
        limits: Limits {
            cpus: config.process.cpus,
            memory_mb: config.process.memory_mb,
        },
        call_timeout: CALL_TIMEOUT,
    };
    let (process, cdp_events, limited) = ChromiumProcess::launch(&options).await.map_err(|e| e.to_string())?;
    if !limited {
        tracing::debug!(
            machine_id = machine.id,
            "no writable cgroup v2 tree: the browser runs without CPU and memory limits"
        );
    }
    machine.set_browser_pid(process.pid());
    let judge_egress = egress.clone();
    let tab_options = TabOptions {
        width: options.width,
        height: options.height,
        jpeg_quality: config.jpeg_quality as u8,
        max_fps: config.max_fps,
        judge: Arc::new(move |url: String| {
            let egress = judge_egress.clone();
            Box::pin(async move { egress.judge_url(&url).await })
        }),
    };
    let (tab, events) = Tab::open(process.cdp().clone(), cdp_events, tab_options)
        .await
        .map_err(|e| e.to_string())?;
    let first = machine.start_url.as_deref().unwrap_or("about:blank");
    tab.navigate(first).await.map_err(|e| e.to_string())?;
    machine.set_tab(Arc::new(tab));
    Ok(Launched {
        process,
        events,
        refusals,
        _proxy: proxy,
    })
}

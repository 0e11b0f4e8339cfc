//! What the machine's task needs of an engine (92-browser-rooms §2.2–2.3): a browser behind its
//! own egress listener, driven through its one tab, and ended on request or noticed when it ends.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use crate::browser::tab::{Frame as FrameImage, PageState, Tab, TabEvent};

use super::machine::Machine;
use super::{EngineKind, StopReason};
use crate::browser::egress::proxy::{ProxyListener, Refusal};
use crate::browser::engine::docker::{ChromiumContainer, ContainerSpec};
use crate::browser::engine::process::ChromiumProcess;
use crate::browser::engine::{Browser, LaunchOptions, Limits, ProcessEnd};
use crate::browser::tab::TabOptions;
use crate::domain::app::App;

/// The longest wait for the answer to one DevTools call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A browser that answers: its process or container, its tab's events, and its egress listener's
/// refusals.
pub struct Launched {
    browser: Browser,
    pub events: mpsc::UnboundedReceiver<TabEvent>,
    pub refusals: mpsc::UnboundedReceiver<Refusal>,
    /// Dropped with the machine: its listener stops accepting.
    _proxy: ProxyListener,
}

impl Launched {
    /// Why the browser ended, once its tab reported the end: `capacity` when the kernel ended it
    /// for its memory limit, else `crashed` (§2.3, §4.6).
    pub async fn end_reason(&self) -> StopReason {
        match tokio::time::timeout(Duration::from_secs(2), self.browser.ended()).await {
            Ok(ProcessEnd::OutOfMemory) => StopReason::Capacity,
            _ => StopReason::Crashed,
        }
    }

    /// Asks the browser to close, then ends its process group or removes its container; its
    /// profile goes with it.
    pub async fn stop(self, timeout: Duration) {
        self.browser.stop(timeout).await;
    }
}

/// Starts the machine's browser on this node's engine, its tab on `start_url` (or `about:blank`).
pub async fn launch(app: &App, machine: &Arc<Machine>) -> Result<Launched, String> {
    let choice = &app.browser.engine;
    let config = &app.config.browser;
    let (refusals_tx, refusals) = mpsc::unbounded_channel();
    let egress = app.browser.egress.clone();
    let mut options = LaunchOptions {
        chromium: PathBuf::from("chromium"),
        proxy: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        width: u32::from(machine.viewport.0),
        height: u32::from(machine.viewport.1),
        no_sandbox: config.process.no_sandbox,
        limits: Limits {
            cpus: config.process.cpus,
            memory_mb: config.process.memory_mb,
        },
        call_timeout: CALL_TIMEOUT,
    };
    let (browser, cdp_events, proxy) = match (choice.kind, &choice.chromium, &app.browser.docker) {
        (EngineKind::Process, Some(chromium), _) => {
            options.chromium = chromium.clone();
            let proxy = listen(&egress, IpAddr::V4(Ipv4Addr::LOCALHOST), refusals_tx).await?;
            options.proxy = proxy.addr;
            let (process, events, limited) = ChromiumProcess::launch(&options).await.map_err(|e| e.to_string())?;
            if !limited {
                tracing::debug!(
                    machine_id = machine.id,
                    "no writable cgroup v2 tree: the browser runs without CPU and memory limits"
                );
            }
            (Browser::Process(process), events, proxy)
        }
        (EngineKind::Docker, _, Some(docker)) => {
            let docker_config = &config.docker;
            // The listener binds the host's address on the machines' internal network: the one
            // address a container there can reach.
            let gateway = docker
                .machine_network(&docker_config.network)
                .await
                .map_err(|e| e.to_string())?;
            let proxy = listen(&egress, gateway, refusals_tx).await?;
            options.proxy = proxy.addr;
            // The container is the sandbox (§2.3.6).
            options.no_sandbox = true;
            options.limits = Limits {
                cpus: docker_config.cpus,
                memory_mb: docker_config.memory_mb,
            };
            let spec = ContainerSpec {
                image: docker_config.image.clone(),
                name: format!("portal-browser-{}", machine.id),
                machine_id: machine.id,
                node: app.browser.identity(),
                network: docker_config.network.clone(),
                pids_limit: docker_config.pids_limit,
            };
            let (container, events) = ChromiumContainer::launch(docker.clone(), spec, options.clone())
                .await
                .map_err(|e| e.to_string())?;
            // Other machines share the network: the listener serves this container alone.
            let address = container
                .address()
                .ok_or("the container has no address on the machines' network")?;
            proxy.admit_only(address);
            (Browser::Docker(container), events, proxy)
        }
        _ => return Err("no engine".into()),
    };
    machine.set_browser_pid(browser.pid());
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
    let (tab, events) = Tab::open(browser.cdp().clone(), cdp_events, tab_options)
        .await
        .map_err(|e| e.to_string())?;
    let first = machine.start_url.as_deref().unwrap_or("about:blank");
    tab.navigate(first).await.map_err(|e| e.to_string())?;
    machine.set_tab(Arc::new(tab));
    Ok(Launched {
        browser,
        events,
        refusals,
        _proxy: proxy,
    })
}

async fn listen(
    egress: &Arc<crate::browser::egress::proxy::Egress>,
    address: IpAddr,
    refusals: mpsc::UnboundedSender<Refusal>,
) -> Result<ProxyListener, String> {
    egress
        .listen(address, refusals)
        .await
        .map_err(|e| format!("cannot open the egress listener: {e}"))
}

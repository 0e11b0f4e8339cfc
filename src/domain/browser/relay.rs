//! Screens of a machine that lives on another node (92-browser-rooms §10.2–10.3). The node a
//! client reaches makes the checks of §7.1 and relays the connection to the machine's node,
//! signed; the machine's node re-reads the viewer and attaches them like a local screen, so that
//! every control decision stays in one place.

use std::sync::Arc;

use bytes::Bytes;

use super::machine::{Machine, Phase};
use super::ScreenSlot;
use crate::browser::node_auth::{self, NodeViewer};
use crate::domain::app::App;
use crate::domain::chats::visible_chat;
use crate::domain::sessions::LiveSession;
use crate::error::ApiError;
use crate::store::browser::MachineRow;
use crate::store::{self};
use crate::time::MICROS_PER_SECOND;

/// The answer when relaying is not configured on this node or for the machine.
pub const NOT_RELAYED: &str = "The browser runs on another node";
/// The answer when the machine's node gives none, or refuses this node's signature.
pub const UNREACHABLE: &str = "The browser's node cannot be reached";
const NOT_RUNNING: &str = "The browser is not running";

/// A machine on another node that this node may relay to (§10.2).
pub struct RemoteMachine {
    pub chat_id: i64,
    pub machine_id: i64,
    /// The machine node's base URL, without a trailing `/`.
    pub node_address: String,
}

impl RemoteMachine {
    /// The path of the machine's screen on its node.
    pub fn screen_path(&self) -> String {
        screen_path(self.machine_id)
    }

    /// The path of the machine's screenshot on its node.
    pub fn screenshot_path(&self) -> String {
        format!("/v1/internal/browser/machines/{}/screenshot", self.machine_id)
    }
}

/// A screen the caller may open on another node: every check of §7.1 made here passed.
pub struct RemoteScreen {
    pub machine: RemoteMachine,
    pub slot: ScreenSlot,
}

pub fn screen_path(machine_id: i64) -> String {
    format!("/v1/internal/browser/machines/{machine_id}/screen")
}

/// The machine of `row` lives on another node: relayed when this node has `browser.node_secret`
/// and the record a `node_address` (§10.2).
pub fn remote_machine(app: &App, row: &MachineRow) -> Result<RemoteMachine, ApiError> {
    let address = row
        .node_address
        .as_deref()
        .map(|a| a.trim_end_matches('/'))
        .filter(|a| !a.is_empty());
    match address {
        Some(address) if app.config.browser.node_secret.is_some() && row.node != app.browser.identity() => {
            Ok(RemoteMachine {
                chat_id: row.chat_id,
                machine_id: row.id,
                node_address: address.to_owned(),
            })
        }
        _ => Err(ApiError::BrowserNodeUnreachable(NOT_RELAYED)),
    }
}

/// The two headers of a request this node makes for `session` (§10.3): the viewer and the
/// signature. `None` without `browser.node_secret`.
pub fn signed_headers(app: &App, method: &str, path: &str, session: &LiveSession) -> Option<(String, String)> {
    let secret = app.config.browser.node_secret.as_deref()?;
    let viewer = NodeViewer {
        user_id: session.user.id,
        device: session.token_suffix.clone(),
        node: app.browser.identity(),
    }
    .header_value();
    let auth = node_auth::auth_header(secret, method, path, app.now() / MICROS_PER_SECOND, &viewer);
    Some((viewer, auth))
}

/// The viewer of a request another node signed, or `None`: no `browser.node_secret` here, a
/// header missing, a signature that does not match, a time too far off, a nonce seen before.
pub fn verified_viewer(
    app: &App,
    method: &str,
    path: &str,
    viewer: Option<&str>,
    auth: Option<&str>,
) -> Option<NodeViewer> {
    let secret = app.config.browser.node_secret.as_deref()?;
    node_auth::verify(
        secret,
        method,
        path,
        viewer?,
        auth?,
        app.now() / MICROS_PER_SECOND,
        &app.browser.nonces,
    )
}

/// §10.3 on the machine's node: the viewer read again from the database — the session named by
/// user and suffix valid, the machine this node's own and `starting` or `running`, the chat
/// visible, no chat ban, no timeout.
async fn checked_viewer(
    app: &App,
    viewer: &NodeViewer,
    machine_id: i64,
) -> Result<(Arc<Machine>, LiveSession), ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let session = store::sessions::live_by_suffix(&mut conn, viewer.user_id, &viewer.device, now)
        .await?
        .ok_or(ApiError::AuthRequired("Authentication required"))?;
    let machine = app
        .browser
        .machines()
        .into_iter()
        .find(|m| m.id == machine_id)
        .filter(|m| matches!(m.phase(), Phase::Starting | Phase::Running))
        .ok_or(ApiError::BrowserNotRunning(NOT_RUNNING))?;
    let chat = visible_chat(&mut conn, machine.chat_id, &session.user).await?;
    if store::chats::is_banned(&mut conn, chat.id, session.user.id, now).await? {
        return Err(ApiError::ChatBanned);
    }
    if let Some(expires_at) = store::users::restrictions(&mut conn, session.user.id, now)
        .await?
        .timeout
    {
        return Err(ApiError::AccountTimedOut { expires_at });
    }
    Ok((machine, session))
}

/// A relayed screen on the machine's node: the viewer checked and the machine's viewer limit
/// applied; the caller attaches it like a local screen.
pub async fn open_for_node(
    app: &App,
    viewer: &NodeViewer,
    machine_id: i64,
) -> Result<(Arc<Machine>, LiveSession), ApiError> {
    let (machine, session) = checked_viewer(app, viewer, machine_id).await?;
    super::screen::refuse_when_full(app, &machine, session.user.id).await?;
    Ok((machine, session))
}

/// A relayed screenshot on the machine's node (§9, §10.2): the viewer checked, the machine
/// `running`, the page captured. The allowance of screenshots is charged by the node the client
/// reached.
pub async fn screenshot_for_node(app: &App, viewer: &NodeViewer, machine_id: i64) -> Result<Bytes, ApiError> {
    let (machine, _) = checked_viewer(app, viewer, machine_id).await?;
    capture(&machine).await
}

/// The machine's viewport as PNG, captured now (§9).
pub async fn capture(machine: &Machine) -> Result<Bytes, ApiError> {
    let tab = machine
        .tab()
        .filter(|_| machine.phase() == Phase::Running)
        .ok_or(ApiError::BrowserNotRunning(NOT_RUNNING))?;
    tab.screenshot_png().await.map_err(|e| {
        tracing::warn!(machine_id = machine.id, cause = %e, "screenshot failed");
        ApiError::BrowserNotRunning(NOT_RUNNING)
    })
}

//! Who is reachable, and the timed transitions (91-matchmaking §3.2, §4.6, §7).
//!
//! A queue entry and a place in a direct chat live while their user has a realtime connection
//! open, on any node. When a user's last connection on a node closes (presence counts them) and no
//! other node holds one (the shared presence counts those), the user is recorded away in the
//! database, and a connection opening anywhere clears it. Every node sweeps the
//! deadlines each `match.sweep_interval_s`: each transition is one conditional write, so of several
//! nodes exactly one carries it out and sends its events. A node also clears the away mark of the
//! users it hosts, which repairs a close on one node racing an open on another.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::lifecycle;
use super::moments;
use super::queue::{end_dead_entry, is_live};
use crate::domain::app::App;
use crate::error::ApiError;
use crate::store;
use crate::time::MICROS_PER_SECOND;

/// Whether the user has a realtime connection open on any node.
pub async fn is_connected(app: &App, user_id: i64) -> bool {
    app.presence.has_open_here(user_id) || app.ephemeral.presence_connected_elsewhere(user_id).await == Some(true)
}

/// A realtime connection of the user opened (presence has registered it): they are no longer
/// away until the returned guard is dropped with the connection.
pub async fn connected(app: &Arc<App>, user_id: i64) -> Reachable {
    if let Err(err) = came_back(app, user_id).await {
        tracing::warn!(error = %err, user_id, "matchmaking could not record a return");
    }
    Reachable {
        app: app.clone(),
        user_id,
    }
}

/// Held by an open realtime connection, and dropped after its presence registration. Dropping it,
/// however the connection ends, counts the close: when the user has no connection left anywhere,
/// they are away from now on.
pub struct Reachable {
    app: Arc<App>,
    user_id: i64,
}

impl Drop for Reachable {
    fn drop(&mut self) {
        let (app, user_id) = (self.app.clone(), self.user_id);
        if app.presence.has_open_here(user_id) {
            return;
        }
        tokio::spawn(async move {
            if app.ephemeral.presence_connected_elsewhere(user_id).await == Some(true) {
                return;
            }
            if let Err(err) = went_away(&app, user_id).await {
                tracing::warn!(error = %err, user_id, "matchmaking could not record an absence");
            }
        });
    }
}

async fn went_away(app: &App, user_id: i64) -> Result<(), ApiError> {
    let mut conn = app.store.acquire().await?;
    if !store::matchmaking::has_liveness(&mut conn, user_id).await? {
        return Ok(());
    }
    drop(conn);
    let mut tx = app.store.begin().await?;
    store::matchmaking::mark_away(&mut tx, user_id, app.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Clears the user's away marks; where `room:peer_left` had announced their grace, the peer hears
/// `room:peer_returned`.
async fn came_back(app: &App, user_id: i64) -> Result<(), ApiError> {
    let mut conn = app.store.acquire().await?;
    if !store::matchmaking::has_liveness(&mut conn, user_id).await? {
        return Ok(());
    }
    drop(conn);
    let mut tx = app.store.begin().await?;
    let announced = store::matchmaking::mark_back(&mut tx, user_id).await?;
    tx.commit().await?;
    if announced.is_empty() {
        return Ok(());
    }
    let mut conn = app.store.acquire().await?;
    let participants = store::matchmaking::participants_of(&mut conn, &announced).await?;
    drop(conn);
    for peer in participants.iter().filter(|p| p.user_id != user_id) {
        lifecycle::announce_peer_returned(app, peer).await;
    }
    Ok(())
}

/// Runs the timed transitions every `match.sweep_interval_s`, and looks for closes nobody counted
/// at the pace nodes beat, for as long as the server runs.
pub async fn run_sweeps(app: Arc<App>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(app.config.matching.sweep_interval_s));
    let repair_every = Duration::from_secs(app.config.presence.node_beat_s.max(1));
    let mut last_repair = tokio::time::Instant::now();
    loop {
        ticks.tick().await;
        if let Err(err) = sweep(&app).await {
            tracing::warn!(error = %err, "matchmaking sweep failed");
        }
        if last_repair.elapsed() >= repair_every {
            last_repair = tokio::time::Instant::now();
            if let Err(err) = record_uncounted_closes(&app).await {
                tracing::warn!(error = %err, "matchmaking could not look for uncounted closes");
            }
        }
    }
}

/// Records as away the users the database holds as connected while no node has a connection of
/// theirs open: the node that hosted them died, or restarted, before it could count the close.
/// Without Redis this node is the only one, so its own connections are the whole truth; with
/// Redis out of reach nothing is known of the other nodes, and nothing changes. A connection that
/// opens meanwhile is repaired by the next sweep, which clears the away mark of hosted users.
pub async fn record_uncounted_closes(app: &App) -> Result<(), ApiError> {
    let mut conn = app.store.acquire().await?;
    let present = store::matchmaking::present_users(&mut conn).await?;
    drop(conn);
    let unseen: Vec<i64> = present
        .into_iter()
        .filter(|user_id| !app.presence.has_open_here(*user_id))
        .collect();
    if unseen.is_empty() {
        return Ok(());
    }
    let elsewhere: HashSet<i64> = if app.ephemeral.uses_redis() {
        let Some(connected) = app.ephemeral.presence_connected_of(&unseen).await else {
            return Ok(());
        };
        connected.into_iter().collect()
    } else {
        HashSet::new()
    };
    for user_id in unseen.into_iter().filter(|user_id| !elsewhere.contains(user_id)) {
        went_away(app, user_id).await?;
    }
    Ok(())
}

/// One pass over every deadline that has come (§7).
pub async fn sweep(app: &Arc<App>) -> Result<(), ApiError> {
    let now = app.now();
    let at = moments(app, now);
    let matching = &app.config.matching;
    let mut conn = app.store.acquire().await?;
    let hosted_away: Vec<i64> = store::matchmaking::away_users(&mut conn)
        .await?
        .into_iter()
        .filter(|user_id| app.presence.has_open_here(*user_id))
        .collect();
    drop(conn);
    for user_id in hosted_away {
        came_back(app, user_id).await?;
    }

    let mut conn = app.store.acquire().await?;
    let expired_strangers = store::matchmaking::strangers_without_session(&mut conn, at).await?;
    drop(conn);
    for user_id in expired_strangers {
        super::user_gone(app, user_id).await?;
    }

    let mut conn = app.store.acquire().await?;
    let mut dead = store::matchmaking::entries_past_deadline(&mut conn, now).await?;
    dead.extend(store::matchmaking::entries_left_away(&mut conn, at.entry_away_cutoff).await?);
    drop(conn);
    for entry in dead.iter().filter(|entry| !is_live(entry, at)) {
        end_dead_entry(app, entry, at).await?;
    }

    let leave_grace = app.config.presence.leave_grace_s as i64 * MICROS_PER_SECOND;
    let reconnect = matching.reconnect_grace_s * MICROS_PER_SECOND;
    let mut conn = app.store.acquire().await?;
    let away = store::matchmaking::away_unannounced(&mut conn, now - leave_grace).await?;
    let chat_ids: Vec<i64> = away.iter().map(|p| p.chat_id).collect();
    let everyone = store::matchmaking::participants_of(&mut conn, &chat_ids).await?;
    drop(conn);
    for p in &away {
        let Some(since) = p.away_since else { continue };
        let deadline = since + reconnect;
        if deadline <= now {
            continue;
        }
        let mut writer = app.store.writer().await?;
        if !store::matchmaking::announce_grace(&mut writer, p.chat_id, p.user_id, since, deadline).await? {
            continue;
        }
        for peer in everyone
            .iter()
            .filter(|q| q.chat_id == p.chat_id && q.user_id != p.user_id)
        {
            lifecycle::announce_peer_left(app, peer, deadline).await;
        }
    }

    let mut conn = app.store.acquire().await?;
    let due_ids = store::matchmaking::chats_past_deadline(&mut conn, now, at.chat_away_cutoff).await?;
    let chats = store::chats::by_ids(&mut conn, &due_ids).await?;
    let participants = store::matchmaking::participants_of(&mut conn, &due_ids).await?;
    drop(conn);
    for chat in &chats {
        let own: Vec<_> = participants.iter().filter(|p| p.chat_id == chat.id).cloned().collect();
        if let Some(cause) = lifecycle::deadline_end(app, chat, &own, now) {
            lifecycle::end(app, chat.id, cause).await?;
        }
    }

    let mut conn = app.store.acquire().await?;
    let deletions = store::matchmaking::chats_due_for_deletion(&mut conn, now).await?;
    drop(conn);
    for chat_id in deletions {
        // Its room closed at the end, and nothing is announced (§4.7).
        let mut writer = app.store.writer().await?;
        store::chats::delete(&mut writer, chat_id).await?;
    }
    Ok(())
}

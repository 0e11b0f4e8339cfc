//! The task of one machine on its owning node (92-browser-rooms §4): it launches the browser,
//! makes the machine `running`, feeds its frames and page to the screens, watches for stops,
//! idleness and crashes, and stops it with the reason that came first.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::{Instant, MissedTickBehavior};

use super::driver::{self, FrameImage, Launched, TabEvent};
use super::machine::{record_stop, Machine, Phase, StopOrder, WATCH_EVERY};
use super::screen;
use super::{Route, StopReason};
use crate::domain::app::App;
use crate::domain::presence::frame;
use crate::store;

/// Every 10 seconds the owning node checks each viewer against the database (§8.5).
const RECHECK_EVERY: Duration = Duration::from_secs(10);
/// At most this many subresource refusals are reported per second and machine (§3.4).
const SUBRESOURCE_REPORTS_PER_SECOND: u32 = 5;

pub async fn supervise(app: Arc<App>, machine: Arc<Machine>) {
    let config = &app.config.browser;
    let start_timeout = Duration::from_secs(config.start_timeout_s);
    let launched = tokio::select! {
        launched = tokio::time::timeout(start_timeout, driver::launch(&app, &machine)) => match launched {
            Ok(Ok(launched)) => Some(launched),
            Ok(Err(cause)) => {
                tracing::warn!(chat_id = machine.chat_id, machine_id = machine.id, %cause, "browser start failed");
                None
            }
            Err(_) => {
                tracing::warn!(chat_id = machine.chat_id, machine_id = machine.id, "browser start timed out");
                None
            }
        },
        order = machine.stop_ordered() => {
            finish(&app, &machine, order, None).await;
            return;
        }
    };
    let Some(mut launched) = launched else {
        let order = StopOrder {
            reason: StopReason::StartFailed,
            by: None,
            audit: None,
        };
        finish(&app, &machine, order, None).await;
        return;
    };
    let order = match super::lifecycle::record_running(&app, &machine).await {
        Ok(true) => {
            became_running(&app, &machine).await;
            watch_running(&app, &machine, &mut launched).await
        }
        // A stop asked for while starting, or the chat gone with the record (§4.2 step 6).
        Ok(false) => stop_asked_in_record(&app, &machine).await.unwrap_or(StopOrder {
            reason: StopReason::ChatDeleted,
            by: None,
            audit: None,
        }),
        Err(_) => StopOrder {
            reason: StopReason::StartFailed,
            by: None,
            audit: None,
        },
    };
    finish(&app, &machine, order, Some(launched)).await;
}

/// The stop the record asks for, or `chat_deleted` when the record is gone; `None` when neither.
async fn stop_asked_in_record(app: &App, machine: &Machine) -> Option<StopOrder> {
    let mut conn = app.store.acquire().await.ok()?;
    let row = store::browser::by_id(&mut conn, machine.id).await.ok()?;
    match row {
        None => Some(StopOrder {
            reason: StopReason::ChatDeleted,
            by: None,
            audit: None,
        }),
        Some(row) if row.stop_requested != 0 => Some(StopOrder {
            reason: StopReason::Requested,
            by: row.stop_requested_by,
            audit: match row.stop_audit_route.as_deref() {
                Some("admin") => Some(Route::Admin),
                Some("portal") => Some(Route::Portal),
                _ => None,
            },
        }),
        Some(_) => None,
    }
}

async fn became_running(app: &Arc<App>, machine: &Arc<Machine>) {
    machine.set_phase(Phase::Running);
    app.metrics.browser_machine(machine.id, Some(("running", 0)));
    app.rooms.publish(machine.chat_id, &machine.started_event());
    screen::machine_running(app, machine).await;
}

async fn watch_running(app: &Arc<App>, machine: &Arc<Machine>, launched: &mut Launched) -> StopOrder {
    let config = &app.config.browser;
    let idle_after = (config.idle_timeout_s > 0).then(|| Duration::from_secs(config.idle_timeout_s));
    let mut watch = tokio::time::interval(WATCH_EVERY);
    watch.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut recheck = tokio::time::interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut frame_number: u32 = 0;
    let mut reports = (Instant::now(), 0u32);
    let crashed = |reason| StopOrder {
        reason,
        by: None,
        audit: None,
    };
    loop {
        tokio::select! {
            order = machine.stop_ordered() => return order,
            event = launched.events.recv() => match event {
                Some(TabEvent::Frame(image)) => {
                    frame_number += 1;
                    screen::accept_frame(app, machine, frame_number, image);
                }
                Some(TabEvent::Page(page)) => screen::page_changed(machine, page).await,
                Some(TabEvent::TopLevelRefused { url, reason }) => {
                    app.metrics.egress_refused(reason.as_str());
                    screen::refused(machine, &url, reason.as_str(), true).await;
                }
                Some(TabEvent::Ended(_)) | None => return crashed(launched.end_reason().await),
            },
            _ = machine.capture_wanted() => {
                // A viewer arrived before the page sent any image (§7.4).
                if let Some(image) = capture(machine).await {
                    frame_number += 1;
                    screen::accept_frame(app, machine, frame_number, image);
                }
            }
            Some(refusal) = launched.refusals.recv() => {
                let now = Instant::now();
                if now.duration_since(reports.0) >= Duration::from_secs(1) {
                    reports = (now, 0);
                }
                reports.1 += 1;
                if reports.1 <= SUBRESOURCE_REPORTS_PER_SECOND {
                    screen::refused(machine, &refusal.origin, refusal.reason.as_str(), false).await;
                }
            }
            _ = watch.tick() => {
                if let Some(order) = stop_asked_in_record(app, machine).await {
                    return order;
                }
                if let Some(idle_after) = idle_after {
                    if screen::unwatched_for(machine).await.is_some_and(|since| since >= idle_after) {
                        return crashed(StopReason::Idle);
                    }
                }
                screen::tick(app, machine).await;
            }
            _ = recheck.tick() => screen::recheck(app, machine).await,
        }
    }
}

async fn capture(machine: &Machine) -> Option<FrameImage> {
    machine.tab()?.capture_frame().await.ok()
}

/// Ends the machine: `stopping`, the browser closed within `browser.stop_timeout_s`, then the
/// record, the screens and the room told (§4.4).
async fn finish(app: &Arc<App>, machine: &Arc<Machine>, order: StopOrder, launched: Option<Launched>) {
    let was_running = machine.phase() == Phase::Running;
    // A start that never ran stays `starting` to those waiting on it until it is stopped, so
    // that they answer with how it ended rather than as if it had run (§4.2 step 6).
    if was_running {
        machine.set_phase(Phase::Stopping);
    }
    app.metrics.browser_machine(machine.id, Some(("stopping", 0)));
    if let Ok(mut conn) = app.store.acquire().await {
        let _ = store::browser::set_stopping(&mut conn, machine.id).await;
    }
    if let Some(launched) = launched {
        launched
            .stop(Duration::from_secs(app.config.browser.stop_timeout_s))
            .await;
    }
    if let Err(err) = record_stop(app, machine.id, machine.chat_id, machine.owner_id, was_running, order).await {
        tracing::warn!(machine_id = machine.id, cause = ?err, "the stop of a browser machine was not recorded");
    }
    let stopped = frame(
        "screen:stopped",
        json!({"chat_id": machine.chat_id, "machine_id": machine.id, "reason": order.reason.as_str()}),
    );
    screen::close_all(machine, &stopped).await;
    machine.set_phase(Phase::Stopped(order.reason));
    app.metrics.browser_machine(machine.id, None);
    app.browser.remove(machine);
    tracing::info!(
        chat_id = machine.chat_id,
        machine_id = machine.id,
        reason = order.reason.as_str(),
        "browser machine stopped"
    );
}

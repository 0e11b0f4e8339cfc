//! Tidying that correctness never waits for: expired login codes are unusable the moment they
//! expire, old session history is merely kept for a while (10-auth §3.3, §4.5), and ended strangers
//! are kept a week for staff (91-matchmaking §2.4), so an hourly pass is soon enough for each.

use crate::domain::app::{App, AppState};
use crate::domain::strangers;
use crate::error::ApiError;
use crate::store;
use crate::time::MICROS_PER_SECOND;

const INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes expired login codes and session history past `session.history_retention_days`.
/// Returns how many codes and sessions were removed.
pub async fn tidy(app: &App) -> Result<(u64, u64), ApiError> {
    let now = app.now();
    let horizon = now - app.config.session.history_retention_days * 86_400 * MICROS_PER_SECOND;
    let mut conn = app.store.acquire().await?;
    let codes = store::codes::delete_expired(&mut conn, now).await?;
    let sessions = store::sessions::prune_history(&mut conn, horizon).await?;
    Ok((codes, sessions))
}

/// Runs `tidy` and the stranger clean-up every hour for the life of the server.
pub async fn run(app: AppState) {
    let mut ticks = tokio::time::interval(INTERVAL);
    loop {
        ticks.tick().await;
        match tidy(&app).await {
            Ok((0, 0)) => {}
            Ok((codes, sessions)) => tracing::info!(codes, sessions, "expired codes and old session history removed"),
            Err(err) => tracing::warn!(error = %err, "housekeeping failed"),
        }
        match strangers::clean_up(&app).await {
            Ok(0) => {}
            Ok(strangers) => tracing::info!(strangers, "ended strangers removed"),
            Err(err) => tracing::warn!(error = %err, "the clean-up of ended strangers failed"),
        }
    }
}

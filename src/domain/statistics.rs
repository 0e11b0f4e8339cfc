//! The public counters of 70-statistics-health §1, each computed at most once per
//! `statistics.cache_s` seconds and served from memory in between.

use std::future::Future;

use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::error::ApiError;
use crate::store;
use crate::time::MICROS_PER_SECOND;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatisticsUsers {
    pub total_count: i64,
    pub basic_count: i64,
    pub trial_count: i64,
    pub premium_count: i64,
    pub lifetime_count: i64,
    pub active_24h_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatisticsBots {
    pub total_count: i64,
    pub verified_count: i64,
    pub official_count: i64,
    pub community_count: i64,
    pub active_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatisticsChats {
    pub total_count: i64,
    pub public_count: i64,
    pub private_count: i64,
    /// Browser machines `running` on every node (92-browser-rooms §5.4).
    pub running_count: i64,
    /// The sum of their viewers.
    pub viewer_count: i64,
}

/// One cached answer and when it was computed (server clock, microseconds).
struct Slot<T>(Mutex<Option<(i64, T)>>);

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot(Mutex::new(None))
    }
}

impl<T: Clone> Slot<T> {
    /// The cached value while it is younger than `ttl`; otherwise computes it anew. The lock is
    /// held while computing, so concurrent callers wait for one computation instead of repeating it.
    async fn get<F, Fut>(&self, now: i64, ttl: i64, compute: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut slot = self.0.lock().await;
        if let Some((computed_at, value)) = slot.as_ref() {
            if now >= *computed_at && now - *computed_at < ttl {
                return Ok(value.clone());
            }
        }
        let value = compute().await?;
        *slot = Some((now, value.clone()));
        Ok(value)
    }
}

/// The in-memory cache of the three counters, held by `App`.
#[derive(Default)]
pub struct StatisticsCache {
    users: Slot<StatisticsUsers>,
    bots: Slot<StatisticsBots>,
    chats: Slot<StatisticsChats>,
}

fn ttl(app: &App) -> i64 {
    i64::try_from(app.config.statistics.cache_s)
        .unwrap_or(i64::MAX / MICROS_PER_SECOND)
        .saturating_mul(MICROS_PER_SECOND)
}

pub async fn users(app: &App) -> Result<StatisticsUsers, ApiError> {
    let now = app.now();
    app.statistics
        .users
        .get(now, ttl(app), || async {
            let c = store::statistics::user_counts(&mut *app.store.acquire().await?, now).await?;
            Ok(StatisticsUsers {
                total_count: c.total,
                basic_count: c.total - c.trial - c.premium - c.lifetime,
                trial_count: c.trial,
                premium_count: c.premium,
                lifetime_count: c.lifetime,
                active_24h_count: c.active_24h,
            })
        })
        .await
}

pub async fn bots(app: &App) -> Result<StatisticsBots, ApiError> {
    app.statistics
        .bots
        .get(app.now(), ttl(app), || async {
            let c = store::statistics::bot_counts(&mut *app.store.acquire().await?).await?;
            Ok(StatisticsBots {
                total_count: c.total,
                verified_count: c.official + c.verified_only,
                official_count: c.official,
                community_count: c.total - c.official - c.verified_only,
                active_count: c.active,
            })
        })
        .await
}

pub async fn chats(app: &App) -> Result<StatisticsChats, ApiError> {
    app.statistics
        .chats
        .get(app.now(), ttl(app), || async {
            let mut conn = app.store.acquire().await?;
            let c = store::statistics::chat_counts(&mut conn).await?;
            let (running_count, viewer_count) = store::browser::running_totals(&mut conn).await?;
            Ok(StatisticsChats {
                total_count: c.total,
                public_count: c.total - c.private_count,
                private_count: c.private_count,
                running_count,
                viewer_count,
            })
        })
        .await
}

//! Subscriptions (40-subscriptions): grants and revokes by Admins, expiry recorded in the history
//! by a sweeper or by the next grant, and the list of active subscribers. The effective tier is
//! always computed at read time (`views::effective_tier`), so nothing here is needed for
//! correctness of reads.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::staff::{self, Actor};
use crate::domain::views::effective_tier;
use crate::error::ApiError;
use crate::store::history::{History, HistoryEntry, SubscriptionHistoryRow};
use crate::store::users::{SubscriptionChange, UserRow};
use crate::store::{self, Conn};
use crate::tier::Tier;
use crate::time::{Timestamp, MICROS_PER_SECOND};

const DAY: i64 = 86_400 * MICROS_PER_SECOND;
const TRIAL_DAYS: i64 = 7;

pub const TIER_CHOICES: &str = "1, 2, 3, TRIAL, PREMIUM, LIFETIME";

/// The grantable tiers by name, in tier order.
pub const TIER_NAMES: [&str; 3] = ["TRIAL", "PREMIUM", "LIFETIME"];

/// A grantable tier from its name, case-insensitively: `TRIAL` 1, `PREMIUM` 2, `LIFETIME` 3.
pub fn tier_by_name(name: &str) -> Option<Tier> {
    TIER_NAMES
        .iter()
        .position(|known| known.eq_ignore_ascii_case(name))
        .and_then(|i| Tier::from_i64(i as i64 + 1))
}

/// What a grant asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Trial,
    Premium { days: i64 },
    Lifetime,
}

impl Grant {
    fn tier(self) -> Tier {
        match self {
            Grant::Trial => Tier::Trial,
            Grant::Premium { .. } => Tier::Premium,
            Grant::Lifetime => Tier::Lifetime,
        }
    }
}

/// The subscription state object of 40-subscriptions §2.3, with effective values.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionState {
    pub user_id: i64,
    #[schema(value_type = i64, minimum = 0, maximum = 3)]
    pub subscription_tier: Tier,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    pub is_active: bool,
    pub granted_by_id: Option<i64>,
    pub trial_used: bool,
}

fn state_of(user: &UserRow, now: i64) -> SubscriptionState {
    let (tier, expires_at) = effective_tier(user, now);
    SubscriptionState {
        user_id: user.id,
        subscription_tier: tier,
        expires_at: expires_at.map(Timestamp),
        is_active: tier != Tier::Basic,
        granted_by_id: if tier == Tier::Basic {
            None
        } else {
            user.subscription_granted_by
        },
        trial_used: user.is_trial_used != 0,
    }
}

/// Records an expiry (40-subscriptions §4) if the stored tier and expiry are still the ones given;
/// the history row is dated at the expiry instant. `true` when this call recorded it.
async fn record_expiry(conn: &mut Conn, user_id: i64, tier: Tier, expires_at: i64) -> Result<bool, ApiError> {
    if !store::users::clear_expired_subscription(conn, user_id, tier, expires_at).await? {
        return Ok(false);
    }
    let entry = HistoryEntry {
        user_id,
        old: tier.as_i64(),
        new: Tier::Basic.as_i64(),
        reason: Some("expired"),
        by: None,
        now: expires_at,
    };
    store::history::insert_history(conn, History::Subscription, entry).await?;
    Ok(true)
}

/// Records every expiry that is due; returns how many were recorded. Safe to run on several nodes
/// at once: each expiry is recorded by whichever run updates the user first.
pub async fn sweep_expired(app: &App) -> Result<u64, ApiError> {
    let now = app.now();
    let due = store::users::due_expiries(&mut *app.store.acquire().await?, now).await?;
    let mut recorded = 0;
    for (user_id, tier, expires_at) in due {
        let mut tx = app.store.begin().await?;
        if record_expiry(&mut tx, user_id, tier, expires_at).await? {
            recorded += 1;
        }
        tx.commit().await?;
    }
    Ok(recorded)
}

/// Runs the sweeper every `subscriptions.sweep_interval_s` seconds until the task is dropped.
pub async fn run_sweeper(app: crate::domain::app::AppState) {
    let period = std::time::Duration::from_secs(app.config.subscriptions.sweep_interval_s.max(1));
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        match sweep_expired(&app).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(recorded = n, "subscription expiries recorded"),
            Err(err) => tracing::warn!(error = %err, "subscription sweep failed"),
        }
    }
}

/// `POST /v1/admin/subscriptions/grant` (40-subscriptions §5.1).
pub async fn grant(
    app: &App,
    actor: Actor,
    user_id: i64,
    grant: Grant,
    reason: Option<&str>,
) -> Result<SubscriptionState, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let target = staff::registered_target_for(&mut tx, actor, user_id).await?;
    let (old_tier, old_expires_at) = effective_tier(&target, now);
    if let (tier, Some(expires_at)) = (target.subscription_tier, target.subscription_expires_at) {
        if tier.is_timed() && expires_at <= now {
            record_expiry(&mut tx, target.id, target.subscription_tier, expires_at).await?;
        }
    }
    if old_tier == Tier::Lifetime {
        return Err(ApiError::AlreadyLifetime);
    }
    if grant == Grant::Trial {
        if target.is_trial_used != 0 {
            return Err(ApiError::TrialAlreadyUsed);
        }
        if old_tier == Tier::Premium {
            return Err(ApiError::SubscriptionActive);
        }
    }
    let new_expires_at = match grant {
        Grant::Trial => Some(now + TRIAL_DAYS * DAY),
        Grant::Premium { days } => {
            let start = if old_tier == Tier::Premium {
                old_expires_at.unwrap_or(now)
            } else {
                now
            };
            Some(start + days * DAY)
        }
        Grant::Lifetime => None,
    };
    let change = SubscriptionChange {
        tier: grant.tier(),
        expires_at: new_expires_at,
        granted_by: Some(actor.id),
        uses_trial: grant == Grant::Trial,
        now,
    };
    let duration_days = match grant {
        Grant::Premium { days } => Some(days),
        _ => None,
    };
    let metadata = json!({
        "old_tier": old_tier,
        "new_tier": grant.tier(),
        "duration_days": duration_days,
        "old_expires_at": old_expires_at.map(Timestamp),
        "new_expires_at": new_expires_at.map(Timestamp),
        "reason": reason,
    });
    let act = SubscriptionAct {
        actor,
        target: &target,
        old_tier,
        reason,
        event: AuditEvent::SubscriptionGrant,
        metadata,
    };
    let state = record_change(app, &mut tx, act, change).await?;
    tx.commit().await?;
    Ok(state)
}

/// `POST /v1/admin/subscriptions/revoke` (40-subscriptions §5.2).
pub async fn revoke(app: &App, actor: Actor, user_id: i64, reason: &str) -> Result<SubscriptionState, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let target = staff::registered_target_for(&mut tx, actor, user_id).await?;
    let (old_tier, old_expires_at) = effective_tier(&target, now);
    if old_tier == Tier::Basic {
        return Err(ApiError::NoSubscription);
    }
    let change = SubscriptionChange {
        tier: Tier::Basic,
        expires_at: None,
        granted_by: None,
        uses_trial: false,
        now,
    };
    let metadata = json!({
        "old_tier": old_tier,
        "old_expires_at": old_expires_at.map(Timestamp),
        "reason": reason,
    });
    let act = SubscriptionAct {
        actor,
        target: &target,
        old_tier,
        reason: Some(reason),
        event: AuditEvent::SubscriptionRevoke,
        metadata,
    };
    let state = record_change(app, &mut tx, act, change).await?;
    tx.commit().await?;
    Ok(state)
}

/// A grant or a revoke, as its history and audit rows tell it.
struct SubscriptionAct<'a> {
    actor: Actor,
    target: &'a UserRow,
    old_tier: Tier,
    reason: Option<&'a str>,
    event: AuditEvent,
    /// The audit row's metadata, to which the history row's id is added.
    metadata: serde_json::Value,
}

/// Writes a grant's or a revoke's subscription state with its history row and its audit row, and
/// reads back the state.
async fn record_change(
    app: &App,
    conn: &mut Conn,
    act: SubscriptionAct<'_>,
    change: SubscriptionChange,
) -> Result<SubscriptionState, ApiError> {
    let SubscriptionAct {
        actor,
        target,
        old_tier,
        reason,
        event,
        mut metadata,
    } = act;
    let (new_tier, now) = (change.tier, change.now);
    store::users::set_subscription(conn, target.id, change).await?;
    let entry = HistoryEntry {
        user_id: target.id,
        old: old_tier.as_i64(),
        new: new_tier.as_i64(),
        reason,
        by: Some(actor.id),
        now,
    };
    let history_id = store::history::insert_history(conn, History::Subscription, entry).await?;
    metadata["history_id"] = json!(history_id);
    audit::record(app, conn, event, Some(actor.id), Target::User(target.id), metadata, now).await?;
    reload_state(conn, target.id, now).await
}

async fn reload_state(conn: &mut Conn, user_id: i64, now: i64) -> Result<SubscriptionState, ApiError> {
    let user = store::users::by_id(conn, user_id)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    Ok(state_of(&user, now))
}

/// One entry of `GET /v1/admin/subscriptions/active`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveSubscriber {
    pub id: i64,
    pub name: String,
    #[schema(value_type = i64, minimum = 1, maximum = 3)]
    pub tier: Tier,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    pub is_active: bool,
}

/// Users whose effective tier is not Basic, by id, and how many match.
pub async fn active(
    app: &App,
    tier: Option<Tier>,
    now: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ActiveSubscriber>, i64), ApiError> {
    let mut conn = app.store.acquire().await?;
    let conn: &mut Conn = &mut conn;
    let (rows, total) = store::users::active_subscribers(conn, tier, now, offset, limit).await?;
    let users = rows
        .iter()
        .map(|user| {
            let (tier, expires_at) = effective_tier(user, now);
            ActiveSubscriber {
                id: user.id,
                name: user.username.clone(),
                tier,
                expires_at: expires_at.map(Timestamp),
                is_active: true,
            }
        })
        .collect();
    Ok((users, total))
}

/// A user's subscription history, newest first, up to the cap of the detailed views.
pub async fn history_of(app: &App, user_id: i64) -> Result<Vec<SubscriptionHistoryRow>, ApiError> {
    let mut conn = app.store.acquire().await?;
    Ok(store::history::subscription_history_of(&mut conn, user_id, crate::domain::views::DETAIL_LIST_CAP).await?)
}

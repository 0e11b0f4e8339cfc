//! Bots (50-bots): who sees which view, who manages a bot, the staff acts on bots with their
//! audit rows, and what a bot reports about itself and its commands.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::bot_type::BotType;
use crate::crypto;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::staff::{self, NewBotSpec};
use crate::domain::users;
use crate::domain::views::{self, BotPrivate, BotPublic};
use crate::error::ApiError;
use crate::level::{can_act_on, Level};
use crate::store::bots::{BotSearch, CommandBucket, SelfReport, StaffChanges};
use crate::store::keys::BotRow;
use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::tier::Tier;
use crate::time::{Timestamp, MICROS_PER_SECOND};

const HOUR: i64 = 3600 * MICROS_PER_SECOND;

/// The public or the private shape of a bot, chosen by the viewer's level.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BotView {
    Private(Box<BotPrivate>),
    Public(BotPublic),
}

/// Sessions of level 2 and above get the private view (50-bots §3).
pub fn sees_private(viewer: Option<Level>) -> bool {
    viewer.is_some_and(|level| level >= Level::Admin)
}

fn view(bot: BotRow, private: bool) -> BotView {
    if private {
        BotView::Private(Box::new(bot.into()))
    } else {
        BotView::Public(bot.into())
    }
}

/// A page of bots by id, the inactive ones too when `with_inactive`, and how many there are.
pub async fn page(app: &App, with_inactive: bool, offset: i64, limit: i64) -> Result<(Vec<BotRow>, i64), ApiError> {
    let mut conn = app.store.acquire().await?;
    Ok(store::bots::list(&mut conn, with_inactive, offset, limit).await?)
}

/// An inactive bot is hidden from viewers who get the public view.
pub async fn visible(app: &App, id: i64, viewer: Option<Level>) -> Result<BotView, ApiError> {
    let mut conn = app.store.acquire().await?;
    let conn: &mut Conn = &mut conn;
    let private = sees_private(viewer);
    let bot = store::bots::by_id(conn, id)
        .await?
        .filter(|b| private || b.is_active != 0)
        .ok_or(ApiError::BotNotFound)?;
    Ok(view(bot, private))
}

pub struct SearchFilter<'a> {
    pub q: &'a str,
    pub owner_id: Option<i64>,
    pub bot_type: Option<BotType>,
    pub offset: i64,
    pub limit: i64,
}

/// The `owner` filter is for staff only; staff also see inactive bots and the private view.
pub async fn search(app: &App, viewer: Level, filter: SearchFilter<'_>) -> Result<(Vec<BotView>, i64), ApiError> {
    let mut conn = app.store.acquire().await?;
    let conn: &mut Conn = &mut conn;
    let private = sees_private(Some(viewer));
    if filter.owner_id.is_some() && !private {
        return Err(ApiError::InsufficientPermission(Level::Admin.required_message()));
    }
    let (rows, total) = store::bots::search(
        conn,
        BotSearch {
            q: filter.q,
            owner_id: filter.owner_id,
            bot_type: filter.bot_type,
            include_inactive: private,
            offset: filter.offset,
            limit: filter.limit,
        },
    )
    .await?;
    Ok((rows.into_iter().map(|b| view(b, private)).collect(), total))
}

/// The staff member acting through an admin endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub id: i64,
    pub level: Level,
}

/// `manages(actor, bot)` of 50-bots §4, stated against the (current or new) owner: Admin+, and the
/// owner is the actor or ranks below it. Registration uses the same test.
fn require_manages(actor: Actor, owner: &UserRow) -> Result<(), ApiError> {
    let owner_level = owner.permission_level;
    if actor.level >= Level::Admin && (owner.id == actor.id || can_act_on(actor.level, owner_level)) {
        Ok(())
    } else {
        Err(ApiError::Hierarchy)
    }
}

/// A concurrent request that took the name first surfaces as the unique index's violation.
fn name_conflict(err: sqlx::Error) -> ApiError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => ApiError::BotNameTaken,
        _ => err.into(),
    }
}

/// A stranger owns no bot and cannot be named one's owner (50-bots §9.2–9.3).
async fn owner_of(conn: &mut Conn, owner_id: i64) -> Result<UserRow, ApiError> {
    users::registered(conn, owner_id).await
}

/// An Official bot's key is worth an Owner's session, so only an Owner touches one (50-bots §4.1);
/// checked after `manages`.
fn require_owner_for_official(actor: Actor, bot_type: BotType) -> Result<(), ApiError> {
    if bot_type == BotType::Official && actor.level < Level::Owner {
        return Err(ApiError::InsufficientPermission(Level::Owner.required_message()));
    }
    Ok(())
}

/// An Official bot must belong to an unbanned Owner (50-bots §4.1), for the API and the CLI alike.
pub async fn require_official_owner(conn: &mut Conn, owner: &UserRow, now: i64) -> Result<(), ApiError> {
    if store::users::is_unbanned_owner(conn, owner.id, now).await? {
        Ok(())
    } else {
        Err(ApiError::Validation {
            field: Some("owner_id".into()),
            message: "owner_id must be an Owner for an Official bot".into(),
        })
    }
}

/// A bot the actor manages; an Official one only for an Owner.
async fn managed_bot(conn: &mut Conn, actor: Actor, bot_id: i64) -> Result<BotRow, ApiError> {
    let bot = store::bots::by_id(conn, bot_id).await?.ok_or(ApiError::BotNotFound)?;
    require_manages(actor, &owner_of(conn, bot.owner_id).await?)?;
    require_owner_for_official(actor, bot.bot_type)?;
    Ok(bot)
}

pub struct Registration {
    pub name: String,
    pub owner_id: i64,
    /// Lower case.
    pub platform: String,
    pub rate_limit_per_hour: i64,
}

/// `POST /v1/admin/bots`: a Community bot with a fresh key, returned once.
pub async fn register(app: &App, actor: Actor, input: &Registration) -> Result<(BotRow, String), ApiError> {
    let mut tx = app.store.begin().await?;
    let owner = owner_of(&mut tx, input.owner_id).await?;
    require_manages(actor, &owner)?;
    let (bot, key) = staff::register_bot(
        app,
        &mut tx,
        Some(actor.id),
        NewBotSpec {
            name: &input.name,
            platform: &input.platform,
            owner: &owner,
            bot_type: BotType::Community,
            rate_limit_per_hour: input.rate_limit_per_hour,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((bot, key))
}

/// The fields of `POST /v1/admin/bots/{bot_id}/update`; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct StaffUpdate {
    pub name: Option<String>,
    pub owner_id: Option<i64>,
    pub rate_limit_per_hour: Option<i64>,
    pub bot_type: Option<BotType>,
    pub is_active: Option<bool>,
}

fn change<T: PartialEq + Serialize>(
    changes: &mut Map<String, Value>,
    field: &str,
    old: T,
    new: Option<T>,
) -> Option<T> {
    let new = new.filter(|n| *n != old)?;
    changes.insert(field.into(), json!({"old": old, "new": new}));
    Some(new)
}

/// `POST /v1/admin/bots/{bot_id}/update`: only changed fields are written; `BOT_UPDATE` for the
/// plain fields, `BOT_VERIFY` / `BOT_UNVERIFY` for a change of verification. Nothing changed:
/// nothing written.
pub async fn update(app: &App, actor: Actor, bot_id: i64, input: StaffUpdate) -> Result<BotRow, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let bot = store::bots::by_id(&mut tx, bot_id)
        .await?
        .ok_or(ApiError::BotNotFound)?;
    let new_owner = match input.owner_id {
        Some(id) if id != bot.owner_id => Some(owner_of(&mut tx, id).await?),
        _ => None,
    };
    require_manages(actor, &owner_of(&mut tx, bot.owner_id).await?)?;
    if let Some(owner) = &new_owner {
        require_manages(actor, owner)?;
    }
    let official_after = input.bot_type.unwrap_or(bot.bot_type) == BotType::Official;
    require_owner_for_official(actor, bot.bot_type)?;
    if official_after {
        require_owner_for_official(actor, BotType::Official)?;
    }
    // Making a bot Official, or giving an Official bot away, needs an unbanned Owner as its owner.
    let becomes_official = official_after && bot.bot_type != BotType::Official;
    if becomes_official || (official_after && new_owner.is_some()) {
        let owner = match new_owner {
            Some(owner) => owner,
            None => owner_of(&mut tx, bot.owner_id).await?,
        };
        require_official_owner(&mut tx, &owner, now).await?;
    }

    let mut changes = Map::new();
    let name = change(&mut changes, "name", bot.name.clone(), input.name);
    let owner_id = change(&mut changes, "owner_id", bot.owner_id, input.owner_id);
    let rate_limit_per_hour = change(
        &mut changes,
        "rate_limit_per_hour",
        bot.rate_limit_per_hour,
        input.rate_limit_per_hour,
    );
    let is_active = change(&mut changes, "is_active", bot.is_active != 0, input.is_active);
    let bot_type = input.bot_type.filter(|t| *t != bot.bot_type);
    if changes.is_empty() && bot_type.is_none() {
        return Ok(bot);
    }
    if let Some(name) = &name {
        if store::bots::name_taken_by_other(&mut tx, &bot.platform, name, bot.id).await? {
            return Err(ApiError::BotNameTaken);
        }
    }
    let updated = store::bots::apply_staff_changes(
        &mut tx,
        bot.id,
        &StaffChanges {
            name: name.as_deref(),
            owner_id,
            rate_limit_per_hour,
            bot_type,
            is_active,
        },
        now,
    )
    .await
    .map_err(name_conflict)?;
    if !changes.is_empty() {
        audit::record(
            app,
            &mut tx,
            AuditEvent::BotUpdate,
            Some(actor.id),
            Target::Bot(bot.id),
            json!({"changes": changes}),
            now,
        )
        .await?;
    }
    if let Some(new_type) = bot_type {
        // The type did change, so a move to Community comes from a verified type.
        let event = if views::is_verified(new_type) {
            AuditEvent::BotVerify
        } else {
            AuditEvent::BotUnverify
        };
        let metadata = json!({"old_bot_type": bot.bot_type, "new_bot_type": new_type});
        audit::record(app, &mut tx, event, Some(actor.id), Target::Bot(bot.id), metadata, now).await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// Why a user's bots were stopped with them (50-bots §4.1).
#[derive(Debug, Clone, Copy)]
pub enum OwnerLost {
    /// No longer an Owner: their Official bots stop.
    Demoted,
    /// Banned: all their bots stop.
    Banned,
}

/// Deactivates the bots a user may no longer run, in the transaction of the act that caused it,
/// with one `BOT_UPDATE` row each under that act's actor. From the next request their keys are
/// refused (every write clears the key caches on every node).
pub async fn stop_bots_of(
    app: &App,
    conn: &mut Conn,
    actor_id: Option<i64>,
    owner_id: i64,
    cause: OwnerLost,
    now: i64,
) -> Result<(), ApiError> {
    let (only_type, reason) = match cause {
        OwnerLost::Demoted => (Some(BotType::Official), "owner_demoted"),
        OwnerLost::Banned => (None, "owner_banned"),
    };
    for bot_id in store::bots::deactivate_owned(conn, owner_id, only_type, now).await? {
        let metadata = json!({
            "changes": {"is_active": {"old": true, "new": false}},
            "reason": reason,
        });
        audit::record(
            app,
            conn,
            AuditEvent::BotUpdate,
            actor_id,
            Target::Bot(bot_id),
            metadata,
            now,
        )
        .await?;
    }
    Ok(())
}

/// `POST /v1/admin/bots/{bot_id}/regenerate-key`: the old key stops matching at commit.
pub async fn regenerate_key(app: &App, actor: Actor, bot_id: i64) -> Result<(BotRow, String), ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let bot = managed_bot(&mut tx, actor, bot_id).await?;
    let (key, digest) = loop {
        let key = crypto::new_bot_key();
        let digest = crypto::sha256_hex(&key);
        if !store::bots::key_hash_exists(&mut tx, &digest).await? {
            break (key, digest);
        }
    };
    let prefix = &key[..9];
    let updated = store::bots::replace_key(&mut tx, bot.id, &digest, prefix, now).await?;
    let metadata = json!({"name": bot.name, "old_key_prefix": bot.api_key_prefix, "new_key_prefix": prefix});
    audit::record(
        app,
        &mut tx,
        AuditEvent::BotKeyRegenerate,
        Some(actor.id),
        Target::Bot(bot.id),
        metadata,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((updated, key))
}

/// `POST /v1/admin/bots/{bot_id}/delete`: the bot, its key and its command aggregates. Its quota
/// bucket is keyed by the bot's id, which is never reused, so no later request can reach it.
pub async fn delete(app: &App, actor: Actor, bot_id: i64) -> Result<BotRow, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let bot = managed_bot(&mut tx, actor, bot_id).await?;
    store::bots::delete(&mut tx, bot.id).await?;
    let metadata =
        json!({"name": bot.name, "platform": bot.platform, "owner_id": bot.owner_id, "bot_type": bot.bot_type});
    audit::record(
        app,
        &mut tx,
        AuditEvent::BotDelete,
        Some(actor.id),
        Target::Bot(bot.id),
        metadata,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(bot)
}

/// `POST /v1/admin/bots/{bot_id}/reset-stats`: groups, users and latency back to "not reported".
pub async fn reset_stats(app: &App, actor: Actor, bot_id: i64) -> Result<BotRow, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let bot = managed_bot(&mut tx, actor, bot_id).await?;
    let updated = store::bots::reset_stats(&mut tx, bot.id, now).await?;
    let metadata = json!({"old_groups": bot.groups, "old_users": bot.users, "old_latency_ms": bot.latency_ms});
    audit::record(
        app,
        &mut tx,
        AuditEvent::BotStatsReset,
        Some(actor.id),
        Target::Bot(bot.id),
        metadata,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// What a bot reports in `POST /v1/bot/me/update`, already validated.
#[derive(Debug, Default)]
pub struct SelfUpdate {
    pub name: Option<String>,
    /// `Some(None)` clears the avatar.
    pub avatar_url: Option<Option<String>>,
    pub groups: Option<i64>,
    pub users: Option<i64>,
    pub latency_ms: Option<f64>,
}

/// Applies a bot's report about itself; with no fields it is a heartbeat. Not audited.
pub async fn self_update(app: &App, bot: &BotRow, input: &SelfUpdate) -> Result<BotRow, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let name = input.name.as_deref().filter(|n| *n != bot.name);
    if let Some(name) = name {
        if store::bots::name_taken_by_other(&mut tx, &bot.platform, name, bot.id).await? {
            return Err(ApiError::BotNameTaken);
        }
    }
    let report = SelfReport {
        name,
        avatar_url: input.avatar_url.as_ref().map(|a| a.as_deref()),
        groups: input.groups,
        users: input.users,
        latency_ms: input.latency_ms,
    };
    let updated = store::bots::apply_self_report(&mut tx, bot.id, &report, now)
        .await
        .map_err(name_conflict)?;
    tx.commit().await?;
    Ok(updated)
}

/// One reported command execution, validated; `timestamp` in microseconds, UTC.
#[derive(Debug, Clone)]
pub struct CommandRecord {
    pub command: String,
    pub count: i64,
    pub timestamp: i64,
}

fn hour_of(at: i64) -> i64 {
    at - at.rem_euclid(HOUR)
}

/// Adds a batch to the hourly aggregates in one transaction; records of one bucket are summed
/// first, so the store sees each bucket once.
pub async fn record_commands(app: &App, bot_id: i64, records: &[CommandRecord]) -> Result<usize, ApiError> {
    let mut buckets: BTreeMap<(&str, i64), CommandBucket> = BTreeMap::new();
    for record in records {
        let hour = hour_of(record.timestamp);
        buckets
            .entry((record.command.as_str(), hour))
            .and_modify(|b| {
                b.count += record.count;
                b.first_at = b.first_at.min(record.timestamp);
                b.last_at = b.last_at.max(record.timestamp);
            })
            .or_insert_with(|| CommandBucket {
                command: record.command.clone(),
                hour_start_at: hour,
                count: record.count,
                first_at: record.timestamp,
                last_at: record.timestamp,
            });
    }
    let mut tx = app.store.begin().await?;
    for bucket in buckets.values() {
        store::bots::add_command_bucket(&mut tx, bot_id, bucket).await?;
    }
    tx.commit().await?;
    Ok(records.len())
}

/// One line of the command statistics (50-bots §6.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandUsage {
    pub command: String,
    pub count: i64,
    #[schema(value_type = String, format = DateTime)]
    pub first_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_at: Timestamp,
}

/// The buckets from `since` (rounded down to the hour) to before `until`, per command, by count
/// descending then command ascending (sorted here so both backends agree on the collation).
pub async fn command_usage(app: &App, bot_id: i64, since: i64, until: i64) -> Result<Vec<CommandUsage>, ApiError> {
    let mut conn = app.store.acquire().await?;
    let conn: &mut Conn = &mut conn;
    store::bots::by_id(conn, bot_id).await?.ok_or(ApiError::BotNotFound)?;
    let mut totals = store::bots::command_totals(conn, bot_id, hour_of(since), until).await?;
    totals.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.command.cmp(&b.command)));
    Ok(totals
        .into_iter()
        .map(|t| CommandUsage {
            command: t.command,
            count: t.count,
            first_at: Timestamp(t.first_at),
            last_at: Timestamp(t.last_at),
        })
        .collect())
}

/// A user as a bot may look them up (50-bots §8.5).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformUser {
    pub id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
    #[schema(value_type = i64, minimum = 0, maximum = 3)]
    pub subscription_tier: Tier,
    pub state: i64,
    pub permission_level: i64,
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// The user linked to `platform_user_id` on the bot's own platform.
pub async fn lookup_user(app: &App, bot: &BotRow, platform_user_id: &str) -> Result<PlatformUser, ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let user = store::users::by_identity(&mut conn, &bot.platform, platform_user_id)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    let private = views::load_private(&mut conn, &user, now).await?;
    Ok(PlatformUser {
        id: private.id,
        username: private.username,
        avatar_url: private.avatar_url,
        subscription_tier: private.subscription_tier,
        state: private.state,
        permission_level: private.permission_level,
        last_activity_at: private.last_activity_at,
        created_at: private.created_at,
        updated_at: private.updated_at,
    })
}

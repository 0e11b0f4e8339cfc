//! `/v1/bots…`, `/v1/bot/…` and `/v1/admin/bots…` (50-bots).

use std::collections::HashSet;
use std::marker::PhantomData;

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::bot_type::BotType;
use crate::domain::app::{App, AppState};
use crate::domain::bots::{
    self, Actor, BotView, CommandRecord, CommandUsage, PlatformUser, Registration, SelfUpdate, StaffUpdate,
};
use crate::domain::input::{check_range, check_text, nested, required, storable, trimmed_text, Fields};
use crate::domain::users::check_platform_user_id;
use crate::domain::views::{BotPrivate, BotPublic};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::is_http_url;
use crate::http::body::{parse_path_id, Body, CheckedOnly, Query, RequestBody, LARGE_BODY_LIMIT};
use crate::http::caller::{Authenticated, BotCaller, Public, RequireAdmin};
use crate::http::openapi::{BotTypeName, ErrorBody, GroupId};
use crate::http::users::{counted, PathParam};
use crate::time::{Timestamp, MICROS_PER_SECOND};

const DAY: i64 = 24 * 3600 * MICROS_PER_SECOND;
const BOT_TYPE_MESSAGE: &str = "bot_type must be one of: official, verified, community, 1, 2, 3";

pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_bots))
        .routes(routes!(bot_by_id))
}

pub fn auth_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_bots))
}

pub fn bot_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bot_me))
        .routes(routes!(bot_update_me))
        .routes(routes!(bot_batch))
        .routes(routes!(bot_my_commands))
        .routes(routes!(bot_user_lookup))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list_bots, admin_register_bot))
        .routes(routes!(admin_update_bot))
        .routes(routes!(admin_regenerate_key))
        .routes(routes!(admin_delete_bot))
        .routes(routes!(admin_reset_stats))
        .routes(routes!(admin_bot_commands))
}

/// The acting Admin of an admin write; refused while timed out (00-conventions §4 step 6).
async fn writing_admin(app: &App, admin: &RequireAdmin) -> ApiResult<Actor> {
    let actor = Actor {
        id: admin.0.user_id(),
        level: admin.0.level(),
    };
    crate::domain::users::refuse_timed_out(app, actor.id).await?;
    Ok(actor)
}

fn bot_id(raw: &str) -> ApiResult<i64> {
    parse_path_id("bot_id", raw)
}

/// `1`–`3`, or a type's name in any case.
fn parse_bot_type(value: &Value) -> ApiResult<BotType> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().and_then(BotType::from_i64),
        Value::String(s) => BotType::from_name(s),
        _ => None,
    };
    parsed.ok_or_else(|| ApiError::validation("bot_type", BOT_TYPE_MESSAGE))
}

/// A platform group id: a string of 1–64 characters, or a non-negative integer as its decimal text.
fn group_id_text(name: &str, value: &Value) -> ApiResult<String> {
    match value {
        Value::String(s) => {
            check_text(name, storable(name, s)?, 1, 64, |_| true)?;
            Ok(s.clone())
        }
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        Value::Number(n) if n.is_i64() => Err(ApiError::validation(name, format!("{name} must be at least 0"))),
        _ => Err(ApiError::validation(
            name,
            format!("{name} must be a string or an integer"),
        )),
    }
}

/// `since` and `until` of the command statistics (50-bots §8.4), as microseconds.
fn command_window(query: &Query, now: i64) -> ApiResult<(i64, i64)> {
    let since = query.timestamp("since")?;
    let until = query.timestamp("until")?.map_or(now, |t| t.0);
    let since = since.map_or(until - 7 * DAY, |t| t.0);
    if since >= until {
        return Err(ApiError::validation("since", "since must be before until"));
    }
    if until - since > 366 * DAY {
        return Err(ApiError::validation(
            "since",
            "since must be at most 366 days before until",
        ));
    }
    Ok((since, until))
}

// ---------------------------------------------------------------------------------------------
// Public and session endpoints
// ---------------------------------------------------------------------------------------------

/// Active bots, public view, by id (bare array with `X-Total-Count`).
#[utoipa::path(get, path = "/v1/bots", tag = "bots", security((), ("session" = []), ("api_key" = [])),
    params(("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1–100, default 50")),
    responses((status = 200, body = Vec<BotPublic>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn list_bots(State(app): State<AppState>, _caller: Public, query: Query) -> ApiResult<Response> {
    let page = query.page(50, 100, i64::MAX)?;
    let (rows, total) = bots::page(&app, false, page.offset, page.limit).await?;
    Ok(counted(rows.into_iter().map(BotPublic::from).collect(), total))
}

/// One bot: the private view for Admin+ sessions, else the public one (inactive bots hidden).
#[utoipa::path(get, path = "/v1/bots/{bot_id}", tag = "bots", params(("bot_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security((), ("session" = []), ("api_key" = [])),
    responses((status = 200, body = BotView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bot_by_id(
    State(app): State<AppState>,
    Public(caller): Public,
    PathParam(raw): PathParam,
) -> ApiResult<Json<BotView>> {
    let id = bot_id(&raw)?;
    Ok(Json(bots::visible(&app, id, caller.level()).await?))
}

#[derive(Serialize, ToSchema)]
pub struct BotSearchPage {
    bots: Vec<BotView>,
    total: i64,
    limit: i64,
    offset: i64,
}

/// Find bots by name or id; Admin+ also sees inactive bots and may filter by owner.
#[utoipa::path(get, path = "/v1/bots/search", tag = "bots", security(("session" = [])),
    params(("q" = Option<String>, Query, max_length = 50, description = "at most 50 characters"), ("owner" = Option<i64>, Query, minimum = 1, description = "≥ 1; Admin+ only"),
           ("bot_type" = inline(Option<BotTypeName>), Query, description = "1, 2, 3, official, verified or community"),
           ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "0–10000"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1–100, default 25")),
    responses((status = 200, body = BotSearchPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn search_bots(State(app): State<AppState>, auth: Authenticated, query: Query) -> ApiResult<Json<BotSearchPage>> {
    let q = query.str("q").unwrap_or("");
    if q.chars().count() > 50 {
        return Err(ApiError::validation("q", "q must be at most 50 characters"));
    }
    let owner_id = query.id("owner")?;
    let bot_type = match query.str("bot_type") {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .and_then(BotType::from_i64)
                .or_else(|| BotType::from_name(text))
                .ok_or_else(|| ApiError::validation("bot_type", BOT_TYPE_MESSAGE))?,
        ),
    };
    let page = query.page(25, 100, 10_000)?;
    let (found, total) = bots::search(
        &app,
        auth.level(),
        bots::SearchFilter {
            q,
            owner_id,
            bot_type,
            offset: page.offset,
            limit: page.limit,
        },
    )
    .await?;
    Ok(Json(BotSearchPage {
        bots: found,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

// ---------------------------------------------------------------------------------------------
// Bot-key endpoints
// ---------------------------------------------------------------------------------------------

/// The calling bot.
#[utoipa::path(get, path = "/v1/bot/me", tag = "bot", security(("api_key" = [])),
    responses((status = 200, body = BotPrivate), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bot_me(BotCaller(bot): BotCaller) -> Json<BotPrivate> {
    Json(bot.into())
}

#[derive(ToSchema)]
pub struct BotSelfUpdateBody {
    /// 2–32 characters after trimming; unique per platform.
    #[schema(min_length = 2, max_length = 32, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    name: Option<String>,
    /// An http(s) URL of at most 2048 characters; `null` clears it.
    #[schema(value_type = Option<String>, max_length = 2048, pattern = r"^[^\u0000]*$")]
    avatar_url: Option<Option<String>>,
    /// At most 50000 group ids (strings of 1–64 characters or non-negative integers); `groups`
    /// becomes the number of distinct ones.
    #[schema(value_type = Option<Vec<GroupId>>, inline, max_items = 50000)]
    group_ids: Option<HashSet<String>>,
    /// 0–9007199254740991.
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_f64)]
    users: Option<i64>,
    /// 0–10000.
    #[schema(minimum = 0, maximum = 10000)]
    latency_ms: Option<f64>,
}

impl RequestBody for BotSelfUpdateBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let name = match fields.opt_str("name")? {
            Some(name) => Some(trimmed_text("name", name, 2, 32)?),
            None => None,
        };
        let avatar_url = match fields.raw("avatar_url") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(url)) => {
                if url.chars().count() > 2048 {
                    return Err(ApiError::validation(
                        "avatar_url",
                        "avatar_url must be at most 2048 characters",
                    ));
                }
                if !is_http_url(url) {
                    return Err(ApiError::validation("avatar_url", "avatar_url must be a valid URL"));
                }
                Some(Some(url.clone()))
            }
            Some(_) => return Err(ApiError::validation("avatar_url", "avatar_url must be a string")),
        };
        let group_ids = match fields.raw("group_ids") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                if items.len() > 50_000 {
                    return Err(ApiError::validation(
                        "group_ids",
                        "group_ids must have at most 50000 items",
                    ));
                }
                let mut distinct = HashSet::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    distinct.insert(group_id_text(&format!("group_ids[{i}]"), item)?);
                }
                Some(distinct)
            }
            Some(_) => return Err(ApiError::validation("group_ids", "group_ids must be an array")),
        };
        let users = match fields.opt_i64("users")? {
            Some(users) => Some(check_range("users", users, 0, 9_007_199_254_740_991)?),
            None => None,
        };
        let latency_ms = match fields.opt_f64("latency_ms")? {
            Some(ms) if !(0.0..=10_000.0).contains(&ms) => {
                return Err(ApiError::validation(
                    "latency_ms",
                    "latency_ms must be between 0 and 10000",
                ))
            }
            other => other,
        };
        Ok(BotSelfUpdateBody {
            name,
            avatar_url,
            group_ids,
            users,
            latency_ms,
        })
    }
}

impl From<BotSelfUpdateBody> for SelfUpdate {
    fn from(body: BotSelfUpdateBody) -> Self {
        SelfUpdate {
            name: body.name,
            avatar_url: body.avatar_url,
            groups: body.group_ids.map(|distinct| distinct.len() as i64),
            users: body.users,
            latency_ms: body.latency_ms,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BotSelfUpdated {
    message: &'static str,
    bot: BotPrivate,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

/// The bot reports its name, avatar, groups, users and latency; any call is a heartbeat.
#[utoipa::path(post, path = "/v1/bot/me/update", tag = "bot", request_body = BotSelfUpdateBody, security(("api_key" = [])),
    responses((status = 200, body = BotSelfUpdated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bot_update_me(
    State(app): State<AppState>,
    BotCaller(bot): BotCaller,
    Body(body): Body<BotSelfUpdateBody, LARGE_BODY_LIMIT>,
) -> ApiResult<Json<BotSelfUpdated>> {
    let updated = bots::self_update(&app, &bot, &body.into()).await?;
    Ok(Json(BotSelfUpdated {
        message: "Bot updated successfully",
        created_at: Timestamp(updated.created_at),
        updated_at: Timestamp(updated.updated_at),
        bot: updated.into(),
    }))
}

#[derive(ToSchema)]
pub struct CommandRecordBody {
    /// 1–64 characters after trimming.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    command: String,
    /// 1–1000000, default 1.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    count: i64,
    /// ≥ 1; checked, not stored.
    #[schema(value_type = Option<i64>, minimum = 1)]
    user_id: CheckedOnly<i64>,
    /// A string of 1–64 characters or a non-negative integer; checked, not stored.
    #[schema(value_type = Option<GroupId>, inline, nullable = false)]
    group_id: CheckedOnly<GroupId>,
    /// RFC 3339; at most 5 minutes ahead and 30 days back.
    #[schema(value_type = String, format = DateTime)]
    timestamp: i64,
}

#[derive(ToSchema)]
pub struct BatchBody {
    /// 0–1000 records.
    #[schema(max_items = 1000)]
    commands: Vec<CommandRecordBody>,
}

impl CommandRecordBody {
    fn parse(fields: &Fields, now: i64) -> ApiResult<Self> {
        let command = trimmed_text("command", fields.req_str("command")?, 1, 64)?;
        let count = check_range("count", fields.opt_i64("count")?.unwrap_or(1), 1, 1_000_000)?;
        if fields.opt_i64("user_id")?.is_some_and(|id| id < 1) {
            return Err(ApiError::validation("user_id", "user_id must be at least 1"));
        }
        if let Some(group) = fields.raw("group_id").filter(|v| !v.is_null()) {
            group_id_text("group_id", group)?;
        }
        let timestamp = Timestamp::parse(fields.req_str("timestamp")?)
            .ok_or_else(|| ApiError::validation("timestamp", "timestamp must be a valid timestamp"))?
            .0;
        if timestamp > now + 5 * 60 * MICROS_PER_SECOND {
            return Err(ApiError::validation(
                "timestamp",
                "timestamp must be at most 5 minutes in the future",
            ));
        }
        if timestamp < now - 30 * DAY {
            return Err(ApiError::validation(
                "timestamp",
                "timestamp must be at most 30 days in the past",
            ));
        }
        Ok(CommandRecordBody {
            command,
            count,
            user_id: PhantomData,
            group_id: PhantomData,
            timestamp,
        })
    }
}

impl From<CommandRecordBody> for CommandRecord {
    fn from(record: CommandRecordBody) -> Self {
        CommandRecord {
            command: record.command,
            count: record.count,
            timestamp: record.timestamp,
        }
    }
}

/// All or nothing: the first invalid record field fails the whole batch.
impl RequestBody for BatchBody {
    fn parse(fields: &mut Fields, app: &App) -> ApiResult<Self> {
        let now = app.now();
        let items = match fields.0.remove("commands") {
            None | Some(Value::Null) => return Err(required("commands")),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(ApiError::validation("commands", "commands must be an array")),
        };
        if items.len() > 1000 {
            return Err(ApiError::validation(
                "commands",
                "commands must have at most 1000 items",
            ));
        }
        let commands = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let name = format!("commands[{i}]");
                let Value::Object(map) = item else {
                    return Err(ApiError::validation(&name, format!("{name} must be an object")));
                };
                CommandRecordBody::parse(&Fields(map), now).map_err(|err| nested(&name, err))
            })
            .collect::<ApiResult<_>>()?;
        Ok(BatchBody { commands })
    }
}

#[derive(Serialize, ToSchema)]
pub struct BatchAccepted {
    message: &'static str,
    /// Records applied.
    accepted: usize,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

/// Report command executions; stored as hourly aggregates per command.
#[utoipa::path(post, path = "/v1/bot/batch", tag = "bot", request_body = BatchBody, security(("api_key" = [])),
    responses((status = 200, body = BatchAccepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bot_batch(
    State(app): State<AppState>,
    BotCaller(bot): BotCaller,
    Body(body): Body<BatchBody, LARGE_BODY_LIMIT>,
) -> ApiResult<Json<BatchAccepted>> {
    let records: Vec<CommandRecord> = body.commands.into_iter().map(Into::into).collect();
    let accepted = bots::record_commands(&app, bot.id, &records).await?;
    Ok(Json(BatchAccepted {
        message: "Batch update processed successfully",
        accepted,
        created_at: Timestamp(bot.created_at),
        updated_at: Timestamp(bot.updated_at),
    }))
}

/// The calling bot's command statistics (bare array with `X-Total-Count`).
#[utoipa::path(get, path = "/v1/bot/me/commands", tag = "bot", security(("api_key" = [])),
    params(("since" = Option<String>, Query, format = DateTime, description = "RFC 3339; default until minus 7 days"), ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339; default now")),
    responses((status = 200, body = Vec<CommandUsage>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bot_my_commands(State(app): State<AppState>, BotCaller(bot): BotCaller, query: Query) -> ApiResult<Response> {
    let (since, until) = command_window(&query, app.now())?;
    let usage = bots::command_usage(&app, bot.id, since, until).await?;
    let total = usage.len() as i64;
    Ok(counted(usage, total))
}

/// The user linked to a platform identity on the bot's own platform.
#[utoipa::path(get, path = "/v1/bot/users/{platform_user_id}", tag = "bot", params(("platform_user_id" = String, Path, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.:-]+$", description = "1–64 characters of [A-Za-z0-9_.:-]")),
    security(("api_key" = [])),
    responses((status = 200, body = PlatformUser), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn bot_user_lookup(
    State(app): State<AppState>,
    BotCaller(bot): BotCaller,
    PathParam(platform_user_id): PathParam,
) -> ApiResult<Json<PlatformUser>> {
    check_platform_user_id(&platform_user_id)?;
    Ok(Json(bots::lookup_user(&app, &bot, &platform_user_id).await?))
}

// ---------------------------------------------------------------------------------------------
// Admin endpoints
// ---------------------------------------------------------------------------------------------

/// Every bot, active or not, private view (bare array with `X-Total-Count`).
#[utoipa::path(get, path = "/v1/admin/bots", tag = "admin", security(("session" = [])),
    params(("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 25, description = "1–25, default 25")),
    responses((status = 200, body = Vec<BotPrivate>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn admin_list_bots(State(app): State<AppState>, _admin: RequireAdmin, query: Query) -> ApiResult<Response> {
    let page = query.page(25, 25, i64::MAX)?;
    let (rows, total) = bots::page(&app, true, page.offset, page.limit).await?;
    Ok(counted(rows.into_iter().map(BotPrivate::from).collect(), total))
}

#[derive(ToSchema)]
pub struct RegisterBotBody {
    /// 2–32 characters after trimming; unique per platform regardless of case.
    #[schema(min_length = 2, max_length = 32, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    name: String,
    /// The owning user: the actor, or a user the actor outranks.
    #[schema(minimum = 1)]
    owner_id: i64,
    /// One of the configured platforms (any case).
    platform: String,
    /// 1–100000, default 1000.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 100000)]
    rate_limit_per_hour: i64,
}

impl RequestBody for RegisterBotBody {
    fn parse(fields: &mut Fields, app: &App) -> ApiResult<Self> {
        let name = trimmed_text("name", fields.req_str("name")?, 2, 32)?;
        let owner_id = fields.req_positive("owner_id")?;
        let platform = fields.req_str("platform")?.to_lowercase();
        if !app.config.platforms.contains(&platform) {
            return Err(ApiError::validation(
                "platform",
                format!("platform must be one of: {}", app.config.platforms.join(", ")),
            ));
        }
        let rate_limit_per_hour = check_range(
            "rate_limit_per_hour",
            fields.opt_i64("rate_limit_per_hour")?.unwrap_or(1000),
            1,
            100_000,
        )?;
        Ok(RegisterBotBody {
            name,
            owner_id,
            platform,
            rate_limit_per_hour,
        })
    }
}

impl From<RegisterBotBody> for Registration {
    fn from(body: RegisterBotBody) -> Self {
        Registration {
            name: body.name,
            owner_id: body.owner_id,
            platform: body.platform,
            rate_limit_per_hour: body.rate_limit_per_hour,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BotRegistered {
    message: &'static str,
    bot: BotPrivate,
    /// Shown this once; only its digest is stored.
    api_key: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

/// Register a Community bot; the answer holds its key, shown only here.
#[utoipa::path(post, path = "/v1/admin/bots", tag = "admin", request_body = RegisterBotBody, security(("session" = [])),
    responses((status = 200, body = BotRegistered), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn admin_register_bot(
    State(app): State<AppState>,
    admin: RequireAdmin,
    body: Result<Body<RegisterBotBody>, ApiError>,
) -> ApiResult<Json<BotRegistered>> {
    let actor = writing_admin(&app, &admin).await?;
    let Body(body) = body?;
    let (bot, api_key) = bots::register(&app, actor, &body.into()).await?;
    Ok(Json(BotRegistered {
        message: "Bot registered successfully",
        created_at: Timestamp(bot.created_at),
        updated_at: Timestamp(bot.updated_at),
        bot: bot.into(),
        api_key,
    }))
}

#[derive(ToSchema)]
pub struct UpdateBotBody {
    /// 2–32 characters after trimming; unique per platform among other bots.
    #[schema(min_length = 2, max_length = 32, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    name: Option<String>,
    /// A user the actor may give the bot to.
    #[schema(minimum = 1)]
    owner_id: Option<i64>,
    /// 1–100000.
    #[schema(minimum = 1, maximum = 100000)]
    rate_limit_per_hour: Option<i64>,
    /// `official`, `verified`, `community` (any case) or 1, 2, 3.
    #[schema(value_type = Option<BotTypeName>, inline, nullable = false)]
    bot_type: Option<BotType>,
    /// false refuses the key at once and hides the bot from public views.
    is_active: Option<bool>,
}

impl RequestBody for UpdateBotBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let name = match fields.opt_str("name")? {
            Some(name) => Some(trimmed_text("name", name, 2, 32)?),
            None => None,
        };
        let owner_id = fields.opt_i64("owner_id")?;
        if owner_id.is_some_and(|id| id < 1) {
            return Err(ApiError::validation("owner_id", "owner_id must be at least 1"));
        }
        let rate_limit_per_hour = match fields.opt_i64("rate_limit_per_hour")? {
            Some(limit) => Some(check_range("rate_limit_per_hour", limit, 1, 100_000)?),
            None => None,
        };
        let bot_type = match fields.raw("bot_type").filter(|v| !v.is_null()) {
            Some(value) => Some(parse_bot_type(value)?),
            None => None,
        };
        Ok(UpdateBotBody {
            name,
            owner_id,
            rate_limit_per_hour,
            bot_type,
            is_active: fields.opt_bool("is_active")?,
        })
    }
}

impl From<UpdateBotBody> for StaffUpdate {
    fn from(body: UpdateBotBody) -> Self {
        StaffUpdate {
            name: body.name,
            owner_id: body.owner_id,
            rate_limit_per_hour: body.rate_limit_per_hour,
            bot_type: body.bot_type,
            is_active: body.is_active,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BotUpdated {
    message: String,
    bot: BotPrivate,
}

/// Update a bot's name, owner, quota, type or activity.
#[utoipa::path(post, path = "/v1/admin/bots/{bot_id}/update", tag = "admin", request_body = UpdateBotBody,
    params(("bot_id" = i64, Path, minimum = 1, description = "≥ 1")), security(("session" = [])),
    responses((status = 200, body = BotUpdated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn admin_update_bot(
    State(app): State<AppState>,
    admin: RequireAdmin,
    PathParam(raw): PathParam,
    body: Result<Body<UpdateBotBody>, ApiError>,
) -> ApiResult<Json<BotUpdated>> {
    let actor = writing_admin(&app, &admin).await?;
    let Body(body) = body?;
    let bot = bots::update(&app, actor, bot_id(&raw)?, body.into()).await?;
    Ok(Json(BotUpdated {
        message: format!("Bot {} updated", bot.id),
        bot: bot.into(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct KeyRegenerated {
    bot: BotPrivate,
    /// Shown this once; the previous key no longer works.
    api_key: String,
    message: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

/// Replace a bot's key; the old one stops working at once.
#[utoipa::path(post, path = "/v1/admin/bots/{bot_id}/regenerate-key", tag = "admin", params(("bot_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = KeyRegenerated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn admin_regenerate_key(
    State(app): State<AppState>,
    admin: RequireAdmin,
    PathParam(raw): PathParam,
) -> ApiResult<Json<KeyRegenerated>> {
    let actor = writing_admin(&app, &admin).await?;
    let (bot, api_key) = bots::regenerate_key(&app, actor, bot_id(&raw)?).await?;
    Ok(Json(KeyRegenerated {
        message: format!("API key regenerated for bot {}", bot.name),
        created_at: Timestamp(bot.created_at),
        updated_at: Timestamp(bot.updated_at),
        bot: bot.into(),
        api_key,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct BotDeleted {
    message: String,
}

/// Delete a bot with its key and command statistics.
#[utoipa::path(post, path = "/v1/admin/bots/{bot_id}/delete", tag = "admin", params(("bot_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = BotDeleted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn admin_delete_bot(
    State(app): State<AppState>,
    admin: RequireAdmin,
    PathParam(raw): PathParam,
) -> ApiResult<Json<BotDeleted>> {
    let actor = writing_admin(&app, &admin).await?;
    let bot = bots::delete(&app, actor, bot_id(&raw)?).await?;
    Ok(Json(BotDeleted {
        message: format!("Bot '{}' deleted", bot.name),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct StatsReset {
    message: String,
    bot: BotPrivate,
}

/// Zero a bot's reported groups and users and clear its latency.
#[utoipa::path(post, path = "/v1/admin/bots/{bot_id}/reset-stats", tag = "admin", params(("bot_id" = i64, Path, minimum = 1, description = "≥ 1")),
    security(("session" = [])),
    responses((status = 200, body = StatsReset), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn admin_reset_stats(
    State(app): State<AppState>,
    admin: RequireAdmin,
    PathParam(raw): PathParam,
) -> ApiResult<Json<StatsReset>> {
    let actor = writing_admin(&app, &admin).await?;
    let bot = bots::reset_stats(&app, actor, bot_id(&raw)?).await?;
    Ok(Json(StatsReset {
        message: format!("Statistics reset for bot '{}'", bot.name),
        bot: bot.into(),
    }))
}

/// A bot's command statistics (bare array with `X-Total-Count`).
#[utoipa::path(get, path = "/v1/admin/bots/{bot_id}/commands", tag = "admin", security(("session" = [])),
    params(("bot_id" = i64, Path, minimum = 1, description = "≥ 1"), ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339; default until minus 7 days"),
           ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339; default now")),
    responses((status = 200, body = Vec<CommandUsage>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn admin_bot_commands(
    State(app): State<AppState>,
    _admin: RequireAdmin,
    PathParam(raw): PathParam,
    query: Query,
) -> ApiResult<Response> {
    let id = bot_id(&raw)?;
    let (since, until) = command_window(&query, app.now())?;
    let usage = bots::command_usage(&app, id, since, until).await?;
    let total = usage.len() as i64;
    Ok(counted(usage, total))
}

//! `/v1/admin/subscriptions/…` (40-subscriptions).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::app::{App, AppState};
use crate::domain::input::{check_range, required, trimmed_text, Fields};
use crate::domain::subscriptions::{self, tier_by_name, ActiveSubscriber, Grant, SubscriptionState, TIER_CHOICES};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{Body, Query, RequestBody};
use crate::http::caller::{RequireAdmin, RequireLevel, Unrestricted};
use crate::http::openapi::{ErrorBody, TierName};
use crate::tier::Tier;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(grant))
        .routes(routes!(revoke))
        .routes(routes!(active))
}

fn invalid_tier() -> ApiError {
    ApiError::validation("tier", format!("tier must be one of: {TIER_CHOICES}"))
}

/// A grantable tier: the integers 1–3 or their names; nothing else (`"2"`, `2.0`, `true` fail).
fn tier_field(fields: &Fields) -> Result<Tier, ApiError> {
    match fields.raw("tier") {
        None | Some(Value::Null) => Err(required("tier")),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(Tier::from_i64)
            .filter(|t| *t != Tier::Basic)
            .ok_or_else(invalid_tier),
        Some(Value::String(name)) => tier_by_name(name).ok_or_else(invalid_tier),
        Some(_) => Err(invalid_tier()),
    }
}

/// The target named in the body: a positive integer.
fn user_id_field(fields: &Fields) -> Result<i64, ApiError> {
    let id = fields.req_i64("user_id")?;
    if id < 1 {
        return Err(ApiError::validation("user_id", "user_id must be a positive integer"));
    }
    Ok(id)
}

#[derive(ToSchema)]
pub struct GrantBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
    /// 1, 2, 3, or "TRIAL", "PREMIUM", "LIFETIME" (any case).
    #[schema(value_type = TierName, inline)]
    tier: Tier,
    /// Premium only: 1–3650, required. Ignored for Trial and Lifetime.
    #[schema(minimum = 1, maximum = 3650)]
    duration_days: Option<i64>,
    /// At most 500 characters after trimming.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    reason: Option<String>,
}

impl RequestBody for GrantBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        let user_id = user_id_field(fields)?;
        let tier = tier_field(fields)?;
        let duration_days = fields.opt_i64("duration_days")?;
        let duration_days = match tier {
            Tier::Premium => Some(check_range(
                "duration_days",
                duration_days.ok_or_else(|| required("duration_days"))?,
                1,
                3650,
            )?),
            _ => None,
        };
        let reason = match fields.opt_str("reason")? {
            Some(text) => Some(trimmed_text("reason", text, 0, 500)?).filter(|r| !r.is_empty()),
            None => None,
        };
        Ok(GrantBody {
            user_id,
            tier,
            duration_days,
            reason,
        })
    }
}

impl GrantBody {
    /// The grant asked for: `duration_days` is kept for Premium only, where it is required.
    fn grant(&self) -> Grant {
        match (self.tier, self.duration_days) {
            (Tier::Trial, _) => Grant::Trial,
            (Tier::Premium, Some(days)) => Grant::Premium { days },
            _ => Grant::Lifetime,
        }
    }
}

#[derive(ToSchema)]
pub struct RevokeBody {
    /// ≥ 1.
    #[schema(minimum = 1)]
    user_id: i64,
    /// 1–500 characters after trimming.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    reason: String,
}

impl RequestBody for RevokeBody {
    fn parse(fields: &mut Fields, _app: &App) -> ApiResult<Self> {
        Ok(RevokeBody {
            user_id: user_id_field(fields)?,
            reason: trimmed_text("reason", fields.req_str("reason")?, 1, 500)?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionAnswer {
    message: String,
    subscription: SubscriptionState,
}

/// Grant Trial, Premium or Lifetime.
#[utoipa::path(post, path = "/v1/admin/subscriptions/grant", tag = "subscriptions", request_body = GrantBody,
    security(("session" = [])),
    responses((status = 200, body = SubscriptionAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn grant(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireAdmin>,
    Body(body): Body<GrantBody>,
) -> ApiResult<Json<SubscriptionAnswer>> {
    let (user_id, grant) = (body.user_id, body.grant());
    let subscription = subscriptions::grant(&app, auth.actor(), user_id, grant, body.reason.as_deref()).await?;
    let message = match grant {
        Grant::Trial => format!("Subscription granted to user {user_id} (7-day trial)"),
        Grant::Premium { days } => format!("Subscription granted to user {user_id} for {days} days"),
        Grant::Lifetime => format!("Lifetime subscription granted to user {user_id}"),
    };
    Ok(Json(SubscriptionAnswer { message, subscription }))
}

/// Return a user to Basic.
#[utoipa::path(post, path = "/v1/admin/subscriptions/revoke", tag = "subscriptions", request_body = RevokeBody,
    security(("session" = [])),
    responses((status = 200, body = SubscriptionAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn revoke(
    State(app): State<AppState>,
    Unrestricted(RequireLevel(auth)): Unrestricted<RequireAdmin>,
    Body(RevokeBody { user_id, reason }): Body<RevokeBody>,
) -> ApiResult<Json<SubscriptionAnswer>> {
    let subscription = subscriptions::revoke(&app, auth.actor(), user_id, &reason).await?;
    Ok(Json(SubscriptionAnswer {
        message: format!("Subscription revoked for user {user_id}"),
        subscription,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ActiveList {
    users: Vec<ActiveSubscriber>,
    total: i64,
}

/// Users whose effective subscription is Trial, Premium or Lifetime, by id.
#[utoipa::path(get, path = "/v1/admin/subscriptions/active", tag = "subscriptions", security(("session" = [])),
    params(("tier" = inline(Option<TierName>), Query, description = "1, 2, 3, TRIAL, PREMIUM or LIFETIME"),
           ("offset" = Option<i64>, Query, minimum = 0, description = "≥ 0"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1–1000, default 1000")),
    responses((status = 200, body = ActiveList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn active(State(app): State<AppState>, _admin: RequireAdmin, query: Query) -> ApiResult<Json<ActiveList>> {
    let tier = match query.str("tier") {
        None => None,
        Some(text) => Some(
            ["1", "2", "3"]
                .iter()
                .position(|digit| *digit == text)
                .and_then(|i| Tier::from_i64(i as i64 + 1))
                .or_else(|| tier_by_name(text))
                .ok_or_else(invalid_tier)?,
        ),
    };
    let page = query.page(1000, 1000, i64::MAX)?;
    let (users, total) = subscriptions::active(&app, tier, app.now(), page.offset, page.limit).await?;
    Ok(Json(ActiveList { users, total }))
}

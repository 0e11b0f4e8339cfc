//! Strangers (91-matchmaking §2): anonymous accounts with one session, made for matchmaking. A
//! stranger is an ordinary user row of kind `stranger`, so sessions, limits and moderation work on
//! it unchanged; this module makes them, ends what a stranger leaves behind when its session ends,
//! and deletes them once nothing can refer to them any more.

use std::net::IpAddr;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::domain::sessions::{self, Opened};
use crate::domain::views::{self, UserPrivate};
use crate::domain::{matchmaking, staff, users};
use crate::error::ApiError;
use crate::names;
use crate::store;
use crate::store::sessions::LiveSession;
use crate::store::users::{NewUser, UserRow};
use crate::time::{seconds_until, MICROS_PER_SECOND};
use crate::user_kind::UserKind;

/// The window of the creation limit `stranger.max_per_hour` (00-conventions §8.4).
const CREATION_WINDOW: i64 = 3600 * MICROS_PER_SECOND;

/// The answer of `POST /v1/authentication/stranger`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StrangerSession {
    /// True when this request created the stranger.
    pub user_created: bool,
    #[serde(flatten)]
    pub user: UserPrivate,
}

/// `POST /v1/authentication/stranger` (91-matchmaking §8.1), steps 1–5: the caller's own stranger
/// when its session is one, else a new stranger with its session (to be set as the cookie).
pub async fn become_stranger(
    app: &App,
    current: Option<&LiveSession>,
    client_ip: IpAddr,
    user_agent: Option<&str>,
) -> Result<(StrangerSession, Option<Opened>), ApiError> {
    let now = app.now();
    if let Some(session) = current {
        if session.user.kind == UserKind::Registered {
            return Err(ApiError::AlreadySignedIn);
        }
        let mut conn = app.store.acquire().await?;
        let user = views::load_private(&mut conn, &session.user, now).await?;
        return Ok((
            StrangerSession {
                user_created: false,
                user,
            },
            None,
        ));
    }
    let group = app.address_group(client_ip);
    let group = group.as_str();
    {
        let mut conn = app.store.acquire().await?;
        if let Some(expires_at) = store::strangers::block_in_force(&mut conn, None, group, now).await? {
            return Err(ApiError::StrangerBlocked { expires_at });
        }
    }
    let mut tx = app.store.begin().await?;
    store::strangers::lock_group(&mut tx, app.store.backend(), group).await?;
    let window_start = now - CREATION_WINDOW;
    let (created, oldest) = store::strangers::creations_since(&mut tx, group, window_start).await?;
    if created >= app.config.stranger.max_per_hour {
        return Err(ApiError::TooManyStrangerSessions {
            retry_after_s: seconds_until(now, oldest.unwrap_or(now) + CREATION_WINDOW),
        });
    }
    let username = users::unused_username(&mut tx, names::stranger_username).await?;
    let user = store::users::insert(
        &mut tx,
        NewUser {
            username: &username,
            permission_level: 0,
            kind: UserKind::Stranger,
            created_from_group: Some(group),
            now,
        },
    )
    .await?;
    let ttl_s = app.config.stranger.session_ttl_s;
    let opened = sessions::open(app, &mut tx, user.id, ttl_s, client_ip, user_agent).await?;
    store::strangers::record_creation(&mut tx, group, now, window_start).await?;
    let user = views::load_private(&mut tx, &user, now).await?;
    tx.commit().await?;
    Ok((
        StrangerSession {
            user_created: true,
            user,
        },
        Some(opened),
    ))
}

/// Call after the commit that ended a session of `user`: a stranger can never act again, so its
/// queue entry and active direct chats go now (91-matchmaking §2.4). The session end already
/// stands, so a failure here is logged rather than answered; matchmaking's own away rules then
/// end the entry and the chats once the stranger's connections, closed with 4001, stay away.
pub async fn session_ended(app: &App, user: &UserRow) {
    if user.kind != UserKind::Stranger {
        return;
    }
    if let Err(err) = matchmaking::user_gone(app, user.id).await {
        tracing::warn!(user_id = user.id, error = %err, "an ended stranger's matchmaking could not be ended");
    }
}

/// Deletes the strangers that have been over for `stranger.retention_s` (91-matchmaking §2.4), as a
/// user deletion would but without an audit row; returns how many went.
///
/// A deleted chat leaves no trace, so the moment a stranger's last direct chat went is bounded
/// rather than known: each of its chats has ended by the time its session ends, and a chat is
/// deleted `match.archive_ttl_s` after its end. The retention therefore runs from the session's
/// end plus `match.archive_ttl_s` (docs/OPERATIONS.md, "Strangers").
pub async fn clean_up(app: &App) -> Result<u64, ApiError> {
    let now = app.now();
    let kept_s = app.config.stranger.retention_s + app.config.matching.archive_ttl_s;
    let gone = {
        let mut conn = app.store.acquire().await?;
        store::strangers::ended_by(&mut conn, now - kept_s * MICROS_PER_SECOND).await?
    };
    for user_id in &gone {
        let mut tx = app.store.begin().await?;
        staff::remove_user_rows(&mut tx, *user_id).await?;
        tx.commit().await?;
    }
    Ok(gone.len() as u64)
}

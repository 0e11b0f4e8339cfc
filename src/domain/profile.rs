//! Self-service on one's own account, and the rank-graded profile views (20-users §2).

use std::collections::BTreeMap;
use std::future::Future;

use bytes::Bytes;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::domain::views::{self, Timed, UserDetail, UserPrivate, UserPublic};
use crate::ephemeral::Audience;
use crate::error::ApiError;
use crate::level::{can_act_on, Level};
use crate::store::sessions::LiveSession;
use crate::store::users::{UserKey, UserRow, UserWithLinks};
use crate::store::{self, Conn};
use crate::user_kind::UserKind;

/// One of the three views of a user (20-users §2): the public card `UserPublic` for every identified
/// viewer; the staff record `UserDetail` for an Admin who outranks the user (`session_history` is
/// `[]`); and `UserDetail` with `session_history` filled for an Owner viewer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProfileView {
    Public(UserPublic),
    Elevated(Box<UserDetail>),
}

/// The elevated view needs Admin+ and the right to act on the target; Owners also get sessions.
pub async fn view(
    conn: &mut Conn,
    viewer_level: Option<Level>,
    target: &UserWithLinks,
    now: i64,
) -> Result<Timed<ProfileView>, ApiError> {
    let target_level = target.user.permission_level;
    match viewer_level {
        Some(level) if level >= Level::Admin && can_act_on(level, target_level) => {
            let detail = views::load_detail(conn, target, level == Level::Owner, now).await?;
            Ok(Timed {
                view: ProfileView::Elevated(Box::new(detail.view)),
                changes_at: detail.changes_at,
            })
        }
        // Only staff who may review a stranger see one (91-matchmaking §2.3).
        _ if target.user.kind == UserKind::Stranger => Err(ApiError::UserNotFound),
        _ => {
            let public = views::public_timed(target, now);
            Ok(Timed {
                view: ProfileView::Public(public.view),
                changes_at: public.changes_at,
            })
        }
    }
}

/// `GET /v1/users/profile/{username}`: as `view`, by case-insensitive name.
pub async fn view_by_name(app: &App, viewer_level: Option<Level>, name: &str) -> Result<ProfileView, ApiError> {
    // No user has a longer name, and the lookup need not lower-case an arbitrarily long text.
    if name.chars().count() > 32 {
        return Err(ApiError::UserNotFound);
    }
    let mut conn = app.store.acquire().await?;
    let target = store::users::with_links(&mut conn, UserKey::Username(name))
        .await?
        .ok_or(ApiError::UserNotFound)?;
    Ok(view(&mut conn, viewer_level, &target, app.now()).await?.view)
}

/// Who sees the same rendering of another user: the view depends on the viewer's level only
/// through these three.
fn audience_of(viewer_level: Option<Level>) -> Audience {
    match viewer_level {
        Some(Level::Owner) => Audience::Owner,
        Some(Level::Admin) => Audience::Admin,
        _ => Audience::Public,
    }
}

fn render<T: Serialize>(view: &T) -> Result<Bytes, ApiError> {
    serde_json::to_vec(view).map(Bytes::from).map_err(ApiError::internal)
}

/// A view as JSON from the view cache, or rendered by `load` and kept until it may change.
async fn cached<F, Fut>(app: &App, key: (i64, Audience), load: F) -> Result<Bytes, ApiError>
where
    F: FnOnce(i64) -> Fut,
    Fut: Future<Output = Result<(Bytes, Option<i64>), ApiError>>,
{
    let loaded = app
        .ephemeral
        .views(key.1)
        .get_or_load(key, || app.now(), |now| async move { load(now).await.map(Some) })
        .await?;
    loaded.ok_or_else(|| ApiError::internal("a loaded view went missing"))
}

/// `GET /v1/users/{id}` as JSON: the public card, or the staff record for a viewer who outranks.
pub async fn view_by_id(app: &App, viewer_level: Option<Level>, id: i64) -> Result<Bytes, ApiError> {
    let audience = audience_of(viewer_level);
    if audience == Audience::Public {
        return public_card(app, viewer_level, id).await;
    }
    cached(app, (id, audience), |now| async move {
        let mut conn = app.store.acquire().await?;
        let target = store::users::with_links(&mut conn, UserKey::Id(id))
            .await?
            .ok_or(ApiError::UserNotFound)?;
        let timed = view(&mut conn, viewer_level, &target, now).await?;
        Ok((render(&timed.view)?, timed.changes_at))
    })
    .await
}

/// The public card of user `id` as JSON. A card needs one row per link and no further statement,
/// so the cards that miss the cache together are read by one statement: where profiles are read
/// across the whole community, a miss is frequent, and its statement was most of its cost.
async fn public_card(app: &App, viewer_level: Option<Level>, id: i64) -> Result<Bytes, ApiError> {
    let loaded = app
        .ephemeral
        .views(Audience::Public)
        .get_or_load_batched(
            (id, Audience::Public),
            store::users::WITH_LINKS_BATCH,
            || app.now(),
            |keys, now| async move {
                let ids: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
                let mut conn = app.store.acquire().await?;
                let mut cards = Vec::with_capacity(ids.len());
                for target in store::users::with_links_of(&mut conn, &ids).await? {
                    // Every viewer of the audience sees the same card, so one viewer's level
                    // renders it for all; a user this audience may not see is left out.
                    match view(&mut conn, viewer_level, &target, now).await {
                        Ok(timed) => cards.push((
                            (target.user.id, Audience::Public),
                            render(&timed.view)?,
                            timed.changes_at,
                        )),
                        Err(ApiError::UserNotFound) => {}
                        Err(err) => return Err(err),
                    }
                }
                Ok::<_, ApiError>(cards)
            },
        )
        .await?;
    loaded.ok_or(ApiError::UserNotFound)
}

/// `GET /v1/users/me` as JSON: the caller's own private record.
pub async fn own_view(app: &App, me: &UserRow) -> Result<Bytes, ApiError> {
    cached(app, (me.id, Audience::Own), |now| async move {
        let mut conn = app.store.acquire().await?;
        let timed = views::load_private_timed(&mut conn, me, now).await?;
        Ok((render(&timed.view)?, timed.changes_at))
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateOutcome {
    pub user: UserPrivate,
    /// Field name → message; `null` when no field failed.
    pub errors: Option<BTreeMap<String, String>>,
}

const AVATAR_MESSAGE: &str = "avatar_source must be a linked platform, discord_0 to discord_5, or empty";

/// A field of `POST /v1/users/me/update` as sent: `None` when absent, else its value or the
/// message it failed with (each field succeeds or fails on its own).
pub type SentField<T> = Option<Result<T, String>>;

/// `POST /v1/users/me/update`: each field on its own; the valid ones are saved together. A sent
/// `avatar_source` of `None` clears it.
pub async fn update_me(
    app: &App,
    me: &LiveSession,
    username: SentField<String>,
    avatar_source: SentField<Option<String>>,
) -> Result<UpdateOutcome, ApiError> {
    let now = app.now();
    let user = &me.user;
    let mut errors = BTreeMap::new();
    let mut tx = app.store.begin().await?;

    let mut new_username = None;
    match username {
        None => {}
        Some(Err(message)) => {
            errors.insert("username".into(), message);
        }
        Some(Ok(name)) if name == user.username => {}
        Some(Ok(name)) => {
            if store::users::username_taken(&mut tx, &name, Some(user.id)).await? {
                errors.insert("username".into(), "username is already taken".into());
            } else {
                new_username = Some(name);
            }
        }
    }

    let mut new_avatar: Option<Option<String>> = None;
    if let Some(sent) = avatar_source {
        let links = store::users::links_of(&mut tx, &[user.id]).await?;
        match sent {
            Ok(None) => new_avatar = Some(None),
            Ok(Some(s)) => {
                let preset = s
                    .strip_prefix("discord_")
                    .is_some_and(|d| d.len() == 1 && ('0'..='5').contains(&d.chars().next().unwrap_or('x')));
                if preset || links.iter().any(|l| l.platform == s) {
                    new_avatar = Some(Some(s));
                } else {
                    errors.insert("avatar_source".into(), AVATAR_MESSAGE.into());
                }
            }
            Err(message) => {
                errors.insert("avatar_source".into(), message);
            }
        }
        if new_avatar.as_ref() == Some(&user.avatar_source) {
            new_avatar = None;
        }
    }

    if new_username.is_some() || new_avatar.is_some() {
        let saved = store::users::update_profile(
            &mut tx,
            user.id,
            new_username.as_deref(),
            new_avatar.as_ref().map(|a| a.as_deref()),
            now,
        )
        .await;
        match saved {
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                // A concurrent request took the name first; keep the avatar change alone.
                drop(tx);
                errors.insert("username".into(), "username is already taken".into());
                tx = app.store.begin().await?;
                if let Some(avatar) = &new_avatar {
                    store::users::update_profile(&mut tx, user.id, None, Some(avatar.as_deref()), now).await?;
                }
            }
            other => other?,
        }
    }
    let fresh = store::users::by_id(&mut tx, user.id)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    let private = views::load_private(&mut tx, &fresh, now).await?;
    tx.commit().await?;
    Ok(UpdateOutcome {
        user: private,
        errors: (!errors.is_empty()).then_some(errors),
    })
}

/// Search results: private records of users the caller outranks (Admin+), public ones otherwise.
pub async fn search(
    app: &App,
    caller: Level,
    q: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ProfileSearchItem>, i64), ApiError> {
    let now = app.now();
    let mut conn = app.store.acquire().await?;
    let conn: &mut Conn = &mut conn;
    let (rows, total) = store::users::search(conn, q, offset, limit).await?;
    let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
    let links = store::users::links_of(conn, &ids).await?;
    let mut items = Vec::with_capacity(rows.len());
    for user in &rows {
        let own: Vec<_> = links.iter().filter(|l| l.user_id == user.id).collect();
        let target = user.permission_level;
        if caller >= Level::Admin && can_act_on(caller, target) {
            let restrictions = store::users::restrictions(conn, user.id, now).await?;
            items.push(ProfileSearchItem::Private(Box::new(views::private_view(
                user,
                &own,
                &restrictions,
                now,
            ))));
        } else {
            items.push(ProfileSearchItem::Public(views::public_view(user, &own, now)));
        }
    }
    Ok((items, total))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProfileSearchItem {
    Public(UserPublic),
    Private(Box<UserPrivate>),
}

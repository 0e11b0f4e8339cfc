//! Rules about users: usernames, platform identities and avatar choices.

use crate::crypto;
use crate::domain::app::App;
use crate::domain::input::check_text;
use crate::error::ApiError;
use crate::store::users::{NewLink, NewUser, UserRow};
use crate::store::{self, Conn};
use crate::user_kind::UserKind;

pub fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// 3–32 characters of `[A-Za-z0-9._-]`.
pub fn check_username(name: &str) -> Result<(), ApiError> {
    check_text("username", name, 3, 32, is_username_char)
}

/// 1–64 characters of `[A-Za-z0-9_.:-]`.
pub fn check_platform_user_id(id: &str) -> Result<(), ApiError> {
    check_text("platform_user_id", id, 1, 64, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
    })
}

/// The user `user_id` names, where a stranger is no user: every endpoint that names a user for any
/// purpose but moderation (91-matchmaking §2.3).
pub async fn registered(conn: &mut Conn, user_id: i64) -> Result<UserRow, ApiError> {
    store::users::by_id(conn, user_id)
        .await?
        .filter(|user| user.kind == UserKind::Registered)
        .ok_or(ApiError::UserNotFound)
}

/// Staff writes and content-adding endpoints are closed to a timed-out user (00-conventions §3.5).
pub async fn refuse_timed_out(app: &App, user_id: i64) -> Result<(), ApiError> {
    let mut conn = app.store.acquire().await?;
    match store::users::restrictions(&mut conn, user_id, app.now()).await?.timeout {
        Some(expires_at) => Err(ApiError::AccountTimedOut { expires_at }),
        None => Ok(()),
    }
}

/// A name from `draw`, drawn again until no user has it (compared case-insensitively).
pub async fn unused_username(conn: &mut Conn, draw: fn() -> String) -> Result<String, ApiError> {
    loop {
        let name = draw();
        if !store::users::username_taken(conn, &name, None).await? {
            return Ok(name);
        }
    }
}

/// A new account with its first linked identity.
pub struct NewAccount<'a> {
    /// `None`: a fresh `user_…` name.
    pub username: Option<&'a str>,
    pub platform: &'a str,
    pub platform_user_id: &'a str,
    pub platform_username: &'a str,
    pub platform_avatar_url: Option<&'a str>,
}

/// Creates a user at level 0 with one linked identity, in the caller's transaction: the one way
/// an account comes to be (sign-up, the command-line tool).
pub async fn create_account(conn: &mut Conn, account: NewAccount<'_>, now: i64) -> Result<UserRow, ApiError> {
    let username = match account.username {
        Some(name) => name.to_owned(),
        None => unused_username(conn, crypto::new_default_username).await?,
    };
    let user = store::users::insert(
        conn,
        NewUser {
            username: &username,
            permission_level: 0,
            kind: UserKind::Registered,
            created_from_group: None,
            now,
        },
    )
    .await?;
    store::users::insert_link(
        conn,
        NewLink {
            user_id: user.id,
            platform: account.platform,
            platform_user_id: account.platform_user_id,
            platform_username: account.platform_username,
            platform_avatar_url: account.platform_avatar_url,
            last_authenticated_at: None,
            now,
        },
    )
    .await?;
    Ok(user)
}

//! Rules about users: usernames, platform identities and avatar choices.

use crate::app::App;
use crate::crypto;
use crate::domain::input::check_text;
use crate::error::ApiError;
use crate::store::{self, Conn};

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

/// Staff writes and content-adding endpoints are closed to a timed-out user (00-conventions §3.5).
pub async fn refuse_timed_out(app: &App, user_id: i64) -> Result<(), ApiError> {
    let mut conn = app.store.acquire().await?;
    match store::users::restrictions(&mut conn, user_id, app.now()).await?.timeout {
        Some(expires_at) => Err(ApiError::AccountTimedOut { expires_at }),
        None => Ok(()),
    }
}

/// `user_` + 8 random hex digits, drawn again until no user has it.
pub async fn unused_default_username(conn: &mut Conn) -> Result<String, ApiError> {
    loop {
        let name = crypto::new_default_username();
        if !store::users::username_taken(conn, &name, None).await? {
            return Ok(name);
        }
    }
}

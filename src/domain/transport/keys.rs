//! Device public keys (90-chat-transport §3): one X25519 public key per session, registered by
//! the browser that holds the private half. The server stores and hands it out; it never makes a
//! key pair and never sees a private key.

use serde::Serialize;
use utoipa::ToSchema;

use super::canonical_key;
use crate::domain::app::App;
use crate::error::ApiError;
use crate::store;
use crate::store::sessions::LiveSession;

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRegistered {
    /// `registered` (stored, replacing any earlier key) or `unchanged`.
    pub status: &'static str,
    /// The session's public device name, its `token_suffix`.
    pub device_id: String,
}

/// Stores `public_key` for the caller's session unless it is the key already stored. A replaced
/// key takes every blob made for it along, in the same transaction: they were sealed to the old
/// key and no longer open.
pub async fn register(app: &App, session: &LiveSession, public_key: &[u8; 32]) -> Result<KeyRegistered, ApiError> {
    let key = canonical_key(public_key);
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let current = store::transport::public_key(&mut tx, session.session_id, now).await?;
    let status = if current.as_deref() == Some(key.as_str()) {
        "unchanged"
    } else {
        store::transport::replace_public_key(&mut tx, session.session_id, &key, now).await?;
        "registered"
    };
    tx.commit().await?;
    Ok(KeyRegistered {
        status,
        device_id: session.token_suffix.clone(),
    })
}

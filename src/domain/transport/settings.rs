//! A chat's settings (90-chat-transport §7.1, §7.2): the auto-wipe preset, hidden history, the
//! browser flags, and the name and slug its managers may change.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::deletion::wipe_interval;
use super::effects::RoomEffects;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::chats::admin::{apply, changes};
use crate::domain::chats::input::ChatPatch;
use crate::domain::chats::views::{self, ChatSummary};
use crate::domain::chats::{existing_chat, is_public, outranks_owner, visible_chat, PRIVATE};
use crate::error::ApiError;
use crate::level::Level;
use crate::store;
use crate::store::chats::{ChatFields, ChatRow};
use crate::store::transport::Settings;
use crate::store::users::UserRow;

/// The fields of `config/update`; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ConfigUpdate {
    pub wipe_preset: Option<String>,
    pub history_visible: Option<bool>,
    pub allow_control_requests: Option<bool>,
    pub locked_controls: Option<bool>,
    pub implicit_hosting: Option<bool>,
    pub inactive_cursors: Option<bool>,
    pub name: Option<String>,
    /// `Some(None)` clears the slug, which makes the chat private.
    pub slug: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigUpdated {
    pub message: &'static str,
    pub chat: ChatSummary,
}

fn settings_of(chat: &ChatRow) -> Settings {
    Settings {
        wipe_preset: chat.wipe_preset.clone(),
        next_wipe_at: chat.next_wipe_at,
        history_visible: chat.history_visible != 0,
        locked_controls: chat.locked_controls != 0,
        implicit_hosting: chat.implicit_hosting != 0,
        inactive_cursors: chat.inactive_cursors != 0,
    }
}

/// `{field: {old, new}}` over the settings of the transport that differ (the timer excluded).
fn settings_changes(old: &Settings, new: &Settings) -> Map<String, Value> {
    let pairs = [
        ("wipe_preset", json!(old.wipe_preset), json!(new.wipe_preset)),
        (
            "history_visible",
            json!(old.history_visible),
            json!(new.history_visible),
        ),
        (
            "locked_controls",
            json!(old.locked_controls),
            json!(new.locked_controls),
        ),
        (
            "implicit_hosting",
            json!(old.implicit_hosting),
            json!(new.implicit_hosting),
        ),
        (
            "inactive_cursors",
            json!(old.inactive_cursors),
            json!(new.inactive_cursors),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| (field.to_owned(), json!({"old": old, "new": new})))
        .collect()
}

/// `POST /v1/portal/chats/{chat_id}/config/update` (§7.2), by the owner or, in an official or
/// public chat, whoever outranks the owner; changing the slug also needs Admin. The caller is not
/// timed out. A body that changes nothing writes and sends nothing.
pub async fn update(
    app: &Arc<App>,
    actor: &UserRow,
    chat_id: i64,
    update: ConfigUpdate,
) -> Result<ConfigUpdated, ApiError> {
    let mut conn = app.store.acquire().await?;
    let chat = visible_chat(&mut conn, chat_id, actor).await?;
    drop(conn);
    let manages = chat.is_owned_by(actor.id) || (is_public(&chat.visibility) && outranks_owner(&chat, actor));
    if !manages {
        return Err(ApiError::NotChatModerator("You cannot configure this chat"));
    }
    if update.slug.is_some() && actor.permission_level < Level::Admin {
        return Err(ApiError::InsufficientPermission(
            "Admin access required to change the slug",
        ));
    }
    let now = app.now();
    let mut live = app.rooms.lock(chat.id).await;
    let mut tx = app.store.begin().await?;
    let chat = existing_chat(&mut tx, chat.id).await?;
    let current = ChatFields::of(&chat);
    let patch = ChatPatch {
        name: update.name,
        slug: update.slug,
        allow_control_requests: update.allow_control_requests,
        ..ChatPatch::default()
    };
    let next = apply(&current, patch)?;
    let old_settings = settings_of(&chat);
    let mut settings = old_settings.clone();
    if let Some(preset) = &update.wipe_preset {
        settings.wipe_preset = preset.clone();
    }
    settings.history_visible = update.history_visible.unwrap_or(settings.history_visible);
    settings.locked_controls = update.locked_controls.unwrap_or(settings.locked_controls);
    settings.implicit_hosting = update.implicit_hosting.unwrap_or(settings.implicit_hosting);
    settings.inactive_cursors = update.inactive_cursors.unwrap_or(settings.inactive_cursors);
    // Carrying a preset restarts the timer, unless it is `off` while already off.
    let restarts = update
        .wipe_preset
        .as_deref()
        .is_some_and(|preset| preset != "off" || old_settings.wipe_preset != "off");
    if restarts {
        settings.next_wipe_at = wipe_interval(&settings.wipe_preset).map(|interval| now + interval);
    }
    let mut changed = changes(&current, &next);
    changed.extend(settings_changes(&old_settings, &settings));
    if changed.is_empty() && !restarts {
        return Ok(ConfigUpdated {
            message: "Room config updated",
            chat: views::summary(&mut tx, chat).await?,
        });
    }
    if let Some(slug) = next.slug.as_deref().filter(|s| current.slug.as_deref() != Some(*s)) {
        if store::chats::slug_taken(&mut tx, slug).await? {
            return Err(ApiError::SlugTaken);
        }
    }
    match store::chats::update(&mut tx, chat.id, &next, now).await {
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => return Err(ApiError::SlugTaken),
        other => other?,
    }
    store::transport::set_settings(&mut tx, chat.id, &settings).await?;
    let mut effects = RoomEffects::new(chat.id);
    effects.config_changed(actor.id);
    if settings.wipe_preset != old_settings.wipe_preset {
        let text = match settings.wipe_preset.as_str() {
            "off" => format!("{} turned auto-wipe off", actor.username),
            preset => format!("{} set auto-wipe to every {preset}", actor.username),
        };
        effects.post(&mut tx, app, &text).await?;
    }
    let updated = existing_chat(&mut tx, chat.id).await?;
    if updated.visibility == PRIVATE && chat.visibility != PRIVATE {
        effects.became_private(&mut tx, app, &updated).await?;
    }
    if !chat.is_owned_by(actor.id) && !changed.is_empty() {
        let metadata = json!({ "changes": changed });
        audit::record(
            app,
            &mut tx,
            AuditEvent::ChatConfigUpdate,
            Some(actor.id),
            Target::Chat(chat.id),
            metadata,
            now,
        )
        .await?;
    }
    let summary = views::summary(&mut tx, updated).await?;
    tx.commit().await?;
    effects.publish(app, &mut live).await?;
    Ok(ConfigUpdated {
        message: "Room config updated",
        chat: summary,
    })
}

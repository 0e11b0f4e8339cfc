//! The admin chat acts (60-chats §9). Each write commits with its audit row
//! (30-admin-moderation §8.3); the timed-out check comes before the body and is the caller's job.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::input::{ChatPatch, NewChat};
use super::views::{self, ChatAdmin, ChatAdminDetail, ChatStatus};
use super::{
    any_existing_chat, delete_chat, existing_chat, insert_owned, kick_member, outranks_owner, Kick, OFFICIAL, PRIVATE,
    PUBLIC,
};
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::transport::effects::{self, RoomEffects};
use crate::domain::users;
use crate::error::ApiError;
use crate::level::can_act_on;
use crate::store;
use crate::store::chats::{ChatFields, ChatRow};
use crate::store::users::UserRow;

/// A page of every chat, by id, and the total.
pub async fn list(
    app: &App,
    visibility: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ChatAdmin>, i64), ApiError> {
    let mut conn = app.store.acquire().await?;
    let (rows, total) = store::chats::page(&mut conn, visibility, offset, limit).await?;
    Ok((rows.iter().map(ChatAdmin::from).collect(), total))
}

pub async fn get(app: &App, chat_id: i64) -> Result<ChatAdminDetail, ApiError> {
    let mut conn = app.store.acquire().await?;
    let chat = any_existing_chat(app, &mut conn, chat_id).await?;
    let machine = crate::domain::browser::lifecycle::machine_view(app, chat.id).await?;
    Ok(views::detail(&mut conn, &chat, machine).await?)
}

/// An official chat owned by the actor, within the actor's slots.
pub async fn create_official(app: &App, actor: &UserRow, input: NewChat) -> Result<ChatStatus, ApiError> {
    let fields = ChatFields {
        name: input.name,
        visibility: OFFICIAL.to_owned(),
        label: None,
        slug: input.slug,
        description: input.description,
        avatar_source: None,
        browser_config: input.browser_config,
        allow_control_requests: input.allow_control_requests,
    };
    let mut tx = app.store.begin().await?;
    let chat = insert_owned(app, &mut tx, actor, &fields).await?;
    audit::record(
        app,
        &mut tx,
        AuditEvent::ChatCreate,
        Some(actor.id),
        Target::Chat(chat.id),
        json!({"name": chat.name, "slug": chat.slug, "visibility": chat.visibility, "owner_id": chat.owner_id}),
        app.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(ChatStatus::from(&chat))
}

/// The fields after the patch, with slug and visibility resolved as 60-chats §2.1 orders.
pub(crate) fn apply(current: &ChatFields, patch: ChatPatch) -> Result<ChatFields, ApiError> {
    let mut next = current.clone();
    if let Some(name) = patch.name {
        next.name = name;
    }
    if let Some(label) = patch.label {
        next.label = label;
    }
    if let Some(description) = patch.description {
        next.description = description;
    }
    if let Some(config) = patch.browser_config {
        next.browser_config = config;
    }
    if let Some(avatar_source) = patch.avatar_source {
        next.avatar_source = avatar_source;
    }
    if let Some(allow) = patch.allow_control_requests {
        next.allow_control_requests = allow;
    }
    match (patch.visibility, patch.slug) {
        (Some(visibility), Some(Some(_))) if visibility == PRIVATE => {
            return Err(ApiError::validation("slug", "slug must be null for private chats"));
        }
        (Some(visibility), _) if visibility == PRIVATE => {
            next.visibility = visibility;
            next.slug = None;
        }
        (Some(visibility), sent) => {
            let slug = sent.unwrap_or_else(|| current.slug.clone());
            if slug.is_none() {
                return Err(ApiError::validation(
                    "slug",
                    "slug is required for official and public chats",
                ));
            }
            next.visibility = visibility;
            next.slug = slug;
        }
        (None, Some(None)) => {
            next.visibility = PRIVATE.to_owned();
            next.slug = None;
        }
        (None, Some(Some(slug))) => {
            if current.visibility == PRIVATE {
                next.visibility = PUBLIC.to_owned();
            }
            next.slug = Some(slug);
        }
        (None, None) => {}
    }
    Ok(next)
}

/// `{field: {old, new}}` over the fields that differ; `browser_config` is compared as JSON.
pub(crate) fn changes(old: &ChatFields, new: &ChatFields) -> Map<String, Value> {
    let config = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let pairs = [
        ("name", json!(old.name), json!(new.name)),
        ("visibility", json!(old.visibility), json!(new.visibility)),
        ("label", json!(old.label), json!(new.label)),
        ("slug", json!(old.slug), json!(new.slug)),
        ("description", json!(old.description), json!(new.description)),
        ("avatar_source", json!(old.avatar_source), json!(new.avatar_source)),
        (
            "allow_control_requests",
            json!(old.allow_control_requests),
            json!(new.allow_control_requests),
        ),
        (
            "browser_config",
            config(&old.browser_config),
            config(&new.browser_config),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| (field.to_owned(), json!({"old": old, "new": new})))
        .collect()
}

/// A partial update; a body that changes nothing writes nothing.
pub async fn update(app: &Arc<App>, actor: &UserRow, chat_id: i64, patch: ChatPatch) -> Result<ChatAdmin, ApiError> {
    let mut live = app.rooms.lock(chat_id).await;
    let mut effects = RoomEffects::new(chat_id);
    let mut tx = app.store.begin().await?;
    let chat = existing_chat(&mut tx, chat_id).await?;
    require_over_owner(actor, &chat)?;
    let current = ChatFields::of(&chat);
    let next = apply(&current, patch)?;
    let changed = changes(&current, &next);
    if changed.is_empty() {
        return Ok(ChatAdmin::from(&chat));
    }
    if let Some(slug) = next.slug.as_deref().filter(|s| current.slug.as_deref() != Some(*s)) {
        if store::chats::slug_taken(&mut tx, slug).await? {
            return Err(ApiError::SlugTaken);
        }
    }
    match store::chats::update(&mut tx, chat.id, &next, app.now()).await {
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => return Err(ApiError::SlugTaken),
        other => other?,
    }
    audit::record(
        app,
        &mut tx,
        AuditEvent::ChatUpdate,
        Some(actor.id),
        Target::Chat(chat.id),
        json!({"changes": changed}),
        app.now(),
    )
    .await?;
    let updated = existing_chat(&mut tx, chat.id).await?;
    effects.config_changed(actor.id);
    if updated.visibility == PRIVATE && chat.visibility != PRIVATE {
        effects.became_private(&mut tx, app, &updated).await?;
    }
    tx.commit().await?;
    effects.publish(app, &mut live).await?;
    Ok(ChatAdmin::from(&updated))
}

/// The ladder holds against a chat's owner: staff change or delete only their own chats and those
/// of people they outrank (60-chats §9.4–9.5).
fn require_over_owner(actor: &UserRow, chat: &ChatRow) -> Result<(), ApiError> {
    if chat.is_owned_by(actor.id) || outranks_owner(chat, actor) {
        Ok(())
    } else {
        Err(ApiError::Hierarchy)
    }
}

/// Deletes a chat of the actor's or of someone they outrank; returns its name.
pub async fn delete(app: &App, actor: &UserRow, chat_id: i64) -> Result<String, ApiError> {
    let mut live = app.rooms.lock(chat_id).await;
    let mut tx = app.store.begin().await?;
    let chat = existing_chat(&mut tx, chat_id).await?;
    require_over_owner(actor, &chat)?;
    delete_chat(app, &mut tx, &chat, actor, "admin").await?;
    tx.commit().await?;
    effects::destroyed(app, &mut live, chat.id).await;
    Ok(chat.name)
}

/// Gives the chat to another user; the previous owner stays on as a member. Returns its name.
pub async fn transfer(app: &Arc<App>, actor: &UserRow, chat_id: i64, new_owner_id: i64) -> Result<String, ApiError> {
    let now = app.now();
    let mut live = app.rooms.lock(chat_id).await;
    let mut effects = RoomEffects::new(chat_id);
    let mut tx = app.store.begin().await?;
    let chat = existing_chat(&mut tx, chat_id).await?;
    users::registered(&mut tx, new_owner_id).await?;
    if chat.is_owned_by(new_owner_id) {
        return Err(ApiError::ChatOwnerTarget("new_owner_id already owns this chat"));
    }
    store::chats::remove_member(&mut tx, chat.id, new_owner_id).await?;
    store::chats::set_owner(&mut tx, chat.id, new_owner_id, now).await?;
    // A group chat always has an owner, who stays on as a member.
    if let Some(old_owner) = chat.owner_id {
        store::chats::add_member(&mut tx, chat.id, old_owner, now).await?;
    }
    audit::record(
        app,
        &mut tx,
        AuditEvent::ChatTransfer,
        Some(actor.id),
        Target::Chat(chat.id),
        json!({"name": chat.name, "old_owner_id": chat.owner_id, "new_owner_id": new_owner_id}),
        app.now(),
    )
    .await?;
    tx.commit().await?;
    effects.members_changed();
    effects.publish(app, &mut live).await?;
    Ok(chat.name)
}

/// Removes a member and records a `CHAT_KICK`; returns the target's username and the chat's name.
pub async fn kick(
    app: &Arc<App>,
    actor: &UserRow,
    chat_id: i64,
    user_id: i64,
    reason: Option<&str>,
) -> Result<(String, String), ApiError> {
    let mut live = app.rooms.lock(chat_id).await;
    let mut effects = RoomEffects::new(chat_id);
    let mut tx = app.store.begin().await?;
    let chat = existing_chat(&mut tx, chat_id).await?;
    let target = users::registered(&mut tx, user_id).await?;
    if target.id == actor.id {
        return Err(ApiError::SelfTarget);
    }
    if chat.is_owned_by(target.id) {
        return Err(ApiError::ChatOwnerTarget(
            "The chat owner cannot be targeted in their own chat",
        ));
    }
    require_over_owner(actor, &chat)?;
    if !can_act_on(actor.permission_level, target.permission_level) {
        return Err(ApiError::Hierarchy);
    }
    let kick = Kick {
        actor,
        chat: &chat,
        target: &target,
        reason,
        route: "admin",
    };
    kick_member(app, &mut tx, kick, &mut effects).await?;
    tx.commit().await?;
    effects.publish(app, &mut live).await?;
    Ok((target.username, chat.name))
}

//! Moderation inside one chat (80-notifications-portal §5): chat mutes, bans and kicks, and the
//! portal-wide warning and timeout issued from a chat. What they do to the chat's room (removal,
//! rotation, system messages, events) is `transport::effects`, applied in the same transaction.

use std::sync::Arc;

use serde_json::json;

use super::{kick_member, moderates, visible_chat, Kick};
use crate::action_type::ActionType;
use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::moderation::{self, Issuer};
use crate::domain::staff::Actor;
use crate::domain::transport::effects::RoomEffects;
use crate::domain::users;
use crate::error::ApiError;
use crate::level::can_act_on;
use crate::store::chats::ChatRow;
use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::time::{Timestamp, MICROS_PER_SECOND};

/// The two restrictions that accumulate inside a chat, each recorded as its moderation action and
/// audited under the event of the same name.
#[derive(Debug, Clone, Copy)]
enum Restriction {
    Mute,
    Ban,
}

impl Restriction {
    fn action(self) -> ActionType {
        match self {
            Restriction::Mute => ActionType::ChatMute,
            Restriction::Ban => ActionType::ChatBan,
        }
    }

    fn event(self) -> AuditEvent {
        match self {
            Restriction::Mute => AuditEvent::ChatMute,
            Restriction::Ban => AuditEvent::ChatBan,
        }
    }
}

/// One of the seven actions with its body fields (§5.4). Durations are seconds; 0 on a mute or a
/// ban means without end.
#[derive(Debug, Clone)]
pub enum Sanction {
    Mute { duration_s: i64, reason: Option<String> },
    Unmute,
    Ban { duration_s: i64, reason: Option<String> },
    Unban { reason: Option<String> },
    Kick { reason: Option<String> },
    Timeout { duration_s: i64, reason: String },
    Warn { reason: String },
}

impl Sanction {
    /// Timeouts and warnings apply to the whole portal; the others to this chat only.
    fn is_portal_wide(&self) -> bool {
        matches!(self, Sanction::Timeout { .. } | Sanction::Warn { .. })
    }
}

/// §5.3: inside their own chat an owner may act on anyone not above them; everyone else, and
/// every portal-wide sanction, needs the staff hierarchy.
fn may_target(chat: &ChatRow, caller: &UserRow, target: &UserRow, portal_wide: bool) -> bool {
    if chat.is_owned_by(caller.id) && !portal_wide {
        target.permission_level <= caller.permission_level
    } else {
        can_act_on(caller.permission_level, target.permission_level)
    }
}

/// Applies a sanction to `user_id` in chat `chat_id`, with the checks of §5.1 from step 4 on.
/// The level floor and the timed-out check come before the body and are the caller's job.
pub async fn moderate(
    app: &Arc<App>,
    caller: &UserRow,
    chat_id: i64,
    user_id: i64,
    sanction: Sanction,
) -> Result<(), ApiError> {
    let mut live = app.rooms.lock(chat_id).await;
    let mut effects = RoomEffects::new(chat_id);
    let mut tx = app.store.begin().await?;
    let chat = visible_chat(&mut tx, chat_id, caller).await?;
    let target = users::registered(&mut tx, user_id).await?;
    if target.id == caller.id {
        return Err(ApiError::SelfTarget);
    }
    let portal_wide = sanction.is_portal_wide();
    if !portal_wide && chat.is_owned_by(target.id) {
        return Err(ApiError::ChatOwnerTarget(
            "The chat owner cannot be targeted in their own chat",
        ));
    }
    if !moderates(&chat, caller) {
        return Err(ApiError::NotChatModerator("You cannot moderate this chat"));
    }
    if !may_target(&chat, caller, &target, portal_wide) {
        return Err(ApiError::Hierarchy);
    }
    let act = Act {
        app,
        caller,
        chat: &chat,
        target: &target,
    };
    let name = &target.username;
    let about = |end: Option<Option<i64>>| json!({"chat_id": chat.id, "user_id": target.id, "expires_at": end.flatten().map(Timestamp)});
    match sanction {
        Sanction::Mute { duration_s, reason } => {
            act.restrict(&mut tx, Restriction::Mute, duration_s, reason.as_deref())
                .await?;
            let end = act.restriction_end(&mut tx, Restriction::Mute).await?;
            effects.notice("user:muted", about(end));
        }
        Sanction::Ban { duration_s, reason } => {
            store::chats::remove_member(&mut tx, chat.id, target.id).await?;
            act.restrict(&mut tx, Restriction::Ban, duration_s, reason.as_deref())
                .await?;
            let end = act.restriction_end(&mut tx, Restriction::Ban).await?;
            effects.rotate(&mut tx, "ban").await?;
            effects
                .post(&mut tx, app, &format!("{name} was banned from the chat"))
                .await?;
            effects.remove(target.id, "ban");
            effects.notice("user:banned", about(end));
        }
        Sanction::Unmute => {
            let lifted = act.lift(&mut tx, Restriction::Mute, None).await?;
            if !lifted.is_empty() {
                let metadata = json!({"user_id": target.id, "action_ids": lifted});
                act.audit(&mut tx, AuditEvent::ChatUnmute, metadata).await?;
                effects.notice("user:unmuted", json!({"chat_id": chat.id, "user_id": target.id}));
            }
        }
        Sanction::Unban { reason } => {
            let lifted = act.lift(&mut tx, Restriction::Ban, reason.as_deref()).await?;
            if !lifted.is_empty() {
                let metadata = json!({"user_id": target.id, "action_ids": lifted, "reason": reason});
                act.audit(&mut tx, AuditEvent::ChatUnban, metadata).await?;
                effects.notice("user:unbanned", json!({"chat_id": chat.id, "user_id": target.id}));
            }
        }
        Sanction::Kick { reason } => {
            let kick = Kick {
                actor: caller,
                chat: &chat,
                target: &target,
                reason: reason.as_deref(),
                route: "portal",
            };
            kick_member(app, &mut tx, kick, &mut effects).await?
        }
        Sanction::Timeout { duration_s, reason } => {
            moderation::record_timeout(app, &mut tx, act.issuer(), &target, duration_s, &reason).await?;
            effects.post(&mut tx, app, &format!("{name} was timed out")).await?;
        }
        Sanction::Warn { reason } => {
            moderation::record_warning(app, &mut tx, act.issuer(), &target, &reason).await?;
            effects
                .post(&mut tx, app, &format!("{name} was warned: {reason}"))
                .await?;
        }
    }
    tx.commit().await?;
    effects.publish(app, &mut live).await
}

/// One act that has passed the checks: who takes it, in which chat, on whom.
struct Act<'a> {
    app: &'a App,
    caller: &'a UserRow,
    chat: &'a ChatRow,
    target: &'a UserRow,
}

impl Act<'_> {
    fn issuer(&self) -> Issuer {
        Issuer {
            actor: Actor {
                id: self.caller.id,
                level: self.caller.permission_level,
            },
            chat_id: Some(self.chat.id),
        }
    }

    /// A new `CHAT_MUTE` or `CHAT_BAN` next to any in force (they accumulate; the latest end
    /// wins), audited under the same event type.
    async fn restrict(
        &self,
        conn: &mut Conn,
        restriction: Restriction,
        duration_s: i64,
        reason: Option<&str>,
    ) -> Result<(), ApiError> {
        let now = self.app.now();
        let expires_at = (duration_s > 0).then(|| now + duration_s * MICROS_PER_SECOND);
        let action_id = moderation::issue(
            conn,
            self.issuer(),
            self.target.id,
            restriction.action(),
            reason,
            expires_at,
            now,
        )
        .await?;
        let metadata = json!({
            "user_id": self.target.id,
            "action_id": action_id,
            "reason": reason,
            "duration": duration_s,
            "expires_at": expires_at.map(Timestamp),
        });
        self.audit(conn, restriction.event(), metadata).await
    }

    /// The combined end of the target's restrictions of the type in this chat after the act.
    async fn restriction_end(
        &self,
        conn: &mut Conn,
        restriction: Restriction,
    ) -> Result<Option<Option<i64>>, ApiError> {
        let end =
            store::chats::chat_restriction(conn, self.chat.id, self.target.id, restriction.action(), self.app.now())
                .await?;
        Ok(end)
    }

    /// Lifts every action of the type in force against the target in this chat, storing `reason`
    /// as the lift reason; returns the ids lifted.
    async fn lift(
        &self,
        conn: &mut Conn,
        restriction: Restriction,
        reason: Option<&str>,
    ) -> Result<Vec<i64>, ApiError> {
        Ok(store::history::lift_in_force(
            conn,
            self.target.id,
            restriction.action(),
            Some(self.chat.id),
            Some(self.caller.id),
            reason,
            self.app.now(),
        )
        .await?)
    }

    async fn audit(&self, conn: &mut Conn, event: AuditEvent, metadata: serde_json::Value) -> Result<(), ApiError> {
        audit::record(
            self.app,
            conn,
            event,
            Some(self.caller.id),
            Target::Chat(self.chat.id),
            metadata,
            self.app.now(),
        )
        .await
    }
}

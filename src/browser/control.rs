//! Control of one browser machine (92-browser-rooms §8) as a pure, deterministic state machine:
//! the viewers, the host, the host's grace and the queue, and every move between them.
//!
//! Nothing here reads the database or a clock. For each event the caller passes the facts it read
//! about the users involved (`Facts`) and, where it matters, whether the machine is `running` and
//! the time. Every operation works on a copy and returns the state after the event inside an
//! `Outcome`, so that the caller can commit a `BROWSER_CONTROL_OVERRIDE` audit row first and make
//! the change only once the row is written (§13).
//!
//! Times (`host_away_until`, `now`, `grace`) are microseconds since the Unix epoch, as
//! `crate::time::Clock` gives them and `crate::time::Timestamp` renders them.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::level::{can_act_on, Level};
use crate::time::Timestamp;

/// The chat's control settings, as they are now (90-chat-transport §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatSettings {
    pub allow_control_requests: bool,
    pub locked_controls: bool,
    pub implicit_hosting: bool,
    pub inactive_cursors: bool,
}

/// Why a user may not control although they watch (§8.1 conditions 2–4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlDenial {
    /// A private chat, and the user is neither its owner, a member nor a manager.
    PrivateChatNonMember,
    /// `ttl`: whole seconds of the chat mute left, rounded up; 0 = indefinite.
    ChatMuted { ttl: i64 },
    /// `expires_at`: the end of the hard mute in microseconds; `None` = indefinite.
    HardMuted { expires_at: Option<i64> },
}

/// What the caller read from the database about one user for this event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub level: Level,
    /// Chat authority over the chat (§1 "manager"), evaluated afresh for this event.
    pub manager: bool,
    pub is_owner: bool,
    /// §8.1 conditions 2–4; condition 1 (viewing) is part of the state.
    pub may_control: Result<(), ControlDenial>,
}

/// The facts of one event: the chat's owner and the users involved in it — the actor, a grant's
/// target, the host, the queue and, where implicit hosting may act, the viewers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub owner_id: i64,
    pub users: HashMap<i64, UserFacts>,
}

/// The stand-in for an actor whose facts were not read: a plain user who may not control, so a
/// gap in the caller's reads never grants anything.
const UNKNOWN_USER: UserFacts = UserFacts {
    level: Level::User,
    manager: false,
    is_owner: false,
    may_control: Err(ControlDenial::PrivateChatNonMember),
};

impl Facts {
    pub fn new(owner_id: i64) -> Self {
        Facts {
            owner_id,
            users: HashMap::new(),
        }
    }

    pub fn with(mut self, user_id: i64, facts: UserFacts) -> Self {
        self.users.insert(user_id, facts);
        self
    }

    pub fn get(&self, user_id: i64) -> Option<&UserFacts> {
        self.users.get(&user_id)
    }

    fn actor(&self, user_id: i64) -> &UserFacts {
        self.users.get(&user_id).unwrap_or(&UNKNOWN_USER)
    }

    /// §8.1 conditions 2–4; a user without facts may not.
    fn may_control(&self, user_id: i64) -> bool {
        self.get(user_id).is_some_and(|facts| facts.may_control.is_ok())
    }
}

pub const MESSAGE_PRIVATE_CHAT_NON_MEMBER: &str = "Only members can control the browser in a private chat";
pub const MESSAGE_TARGET_MAY_NOT_CONTROL: &str = "This user may not control the browser";
pub const MESSAGE_TAKE_NEEDS_MANAGER: &str = "Only chat managers can take control";
pub const MESSAGE_REVOKE_NEEDS_MANAGER: &str = "Only chat managers can revoke control";

/// A refusal of a control event, answered as `screen:error` (§7.9, §14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    NotHost,
    ControlsLocked,
    ControlRequestsDisabled,
    NotViewing,
    /// `MESSAGE_PRIVATE_CHAT_NON_MEMBER` about oneself, `MESSAGE_TARGET_MAY_NOT_CONTROL` about a
    /// grant's target.
    Forbidden(&'static str),
    ChatMuted {
        ttl: i64,
    },
    HardMuted {
        expires_at: Option<i64>,
    },
    /// `MESSAGE_TAKE_NEEDS_MANAGER` or `MESSAGE_REVOKE_NEEDS_MANAGER`.
    NotChatModerator(&'static str),
    Hierarchy,
    ChatOwnerTarget,
    BrowserNotRunning,
}

impl ControlError {
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::NotHost => "ERR_NOT_HOST",
            ControlError::ControlsLocked => "ERR_CONTROLS_LOCKED",
            ControlError::ControlRequestsDisabled => "ERR_CONTROL_REQUESTS_DISABLED",
            ControlError::NotViewing => "ERR_NOT_VIEWING",
            ControlError::Forbidden(_) => "ERR_FORBIDDEN",
            ControlError::ChatMuted { .. } => "ERR_CHAT_MUTED",
            ControlError::HardMuted { .. } => "ERR_HARD_MUTED",
            ControlError::NotChatModerator(_) => "ERR_NOT_CHAT_MODERATOR",
            ControlError::Hierarchy => "ERR_HIERARCHY",
            ControlError::ChatOwnerTarget => "ERR_CHAT_OWNER_TARGET",
            ControlError::BrowserNotRunning => "ERR_BROWSER_NOT_RUNNING",
        }
    }

    /// The default messages of 00-conventions §5.3 and §14, or the wording §8 gives.
    pub fn message(&self) -> &'static str {
        match self {
            ControlError::NotHost => "You do not control the browser",
            ControlError::ControlsLocked => "Only chat managers can hand over control",
            ControlError::ControlRequestsDisabled => "Control requests are turned off in this chat",
            ControlError::NotViewing => "User is not watching this browser",
            ControlError::Forbidden(message) | ControlError::NotChatModerator(message) => message,
            ControlError::ChatMuted { .. } => "You are muted in this chat",
            ControlError::HardMuted { .. } => "You are muted in every chat",
            ControlError::Hierarchy => "You cannot act on this user",
            ControlError::ChatOwnerTarget => "The chat owner cannot be targeted in their own chat",
            ControlError::BrowserNotRunning => "The browser is not running",
        }
    }

    /// The extra fields the code carries in an HTTP error body (00-conventions §5.1): `ttl` with
    /// `ERR_CHAT_MUTED`, `expires_at` (RFC 3339 or null) with `ERR_HARD_MUTED`.
    pub fn extra_fields(&self) -> Map<String, Value> {
        let mut extra = Map::new();
        match self {
            ControlError::ChatMuted { ttl } => {
                extra.insert("ttl".into(), json!(ttl));
            }
            ControlError::HardMuted { expires_at } => {
                extra.insert("expires_at".into(), json!(expires_at.map(Timestamp)));
            }
            _ => {}
        }
        extra
    }
}

impl From<&ControlDenial> for ControlError {
    /// The answer to a user about themself (§8.1).
    fn from(denial: &ControlDenial) -> Self {
        match denial {
            ControlDenial::PrivateChatNonMember => ControlError::Forbidden(MESSAGE_PRIVATE_CHAT_NON_MEMBER),
            ControlDenial::ChatMuted { ttl } => ControlError::ChatMuted { ttl: *ttl },
            ControlDenial::HardMuted { expires_at } => ControlError::HardMuted {
                expires_at: *expires_at,
            },
        }
    }
}

/// `control:changed.reason` (§8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeReason {
    Request,
    Cancel,
    Release,
    Grant,
    Take,
    Revoke,
    Implicit,
    Away,
    Returned,
    Disconnected,
    Removed,
    Settings,
    Unchanged,
}

impl ChangeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeReason::Request => "request",
            ChangeReason::Cancel => "cancel",
            ChangeReason::Release => "release",
            ChangeReason::Grant => "grant",
            ChangeReason::Take => "take",
            ChangeReason::Revoke => "revoke",
            ChangeReason::Implicit => "implicit",
            ChangeReason::Away => "away",
            ChangeReason::Returned => "returned",
            ChangeReason::Disconnected => "disconnected",
            ChangeReason::Removed => "removed",
            ChangeReason::Settings => "settings",
            ChangeReason::Unchanged => "unchanged",
        }
    }
}

/// `BROWSER_CONTROL_OVERRIDE.metadata.action` (§13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideAction {
    Take,
    Revoke,
    Grant,
}

impl OverrideAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideAction::Take => "take",
            OverrideAction::Revoke => "revoke",
            OverrideAction::Grant => "grant",
        }
    }
}

/// A `BROWSER_CONTROL_OVERRIDE` row that must be committed before the change is applied (§13);
/// the caller adds `machine_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverrideAudit {
    pub action: OverrideAction,
    pub from_user_id: Option<i64>,
    pub to_user_id: Option<i64>,
}

/// The control state of one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlState {
    settings: ChatSettings,
    /// By the start of their viewing, earliest first (§7.5, §8.3 step 3).
    viewers: Vec<i64>,
    host: Option<i64>,
    /// Set while the host has no screen connection: the end of their grace (§8.5).
    host_away_until: Option<i64>,
    /// First in line first.
    queue: Vec<i64>,
}

/// What an event did. `state` is the state after it: the caller applies it (after writing
/// `override_audit`, when there is one) by replacing its state with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: ControlState,
    /// Whether the host, `host_away_until` or the queue changed. When false a client event is
    /// answered by `control:changed` with reason `unchanged` to the asking connection only, and a
    /// server move announces nothing.
    pub changed: bool,
    /// `ChangeReason::Unchanged` exactly when `changed` is false.
    pub reason: ChangeReason,
    /// The user whose act caused it; `None` for the server's own moves.
    pub by: Option<i64>,
    /// Users who gained or lost control: their shown cursors go (`cursor:gone`, §7.8).
    pub cursors_gone: Vec<i64>,
    /// `inactive_cursors` was switched off: every shown cursor but the host's goes (§7.8, §8.4).
    pub viewer_cursors_hidden: bool,
    pub override_audit: Option<OverrideAudit>,
}

impl Outcome {
    pub fn host(&self) -> Option<i64> {
        self.state.host
    }

    pub fn host_away_until(&self) -> Option<i64> {
        self.state.host_away_until
    }

    pub fn queue(&self) -> &[i64] {
        &self.state.queue
    }
}

impl ControlState {
    /// A machine's control before anyone watches: free, nobody waiting.
    pub fn new(settings: ChatSettings) -> Self {
        ControlState {
            settings,
            viewers: Vec::new(),
            host: None,
            host_away_until: None,
            queue: Vec::new(),
        }
    }

    pub fn settings(&self) -> ChatSettings {
        self.settings
    }

    pub fn viewers(&self) -> &[i64] {
        &self.viewers
    }

    pub fn host(&self) -> Option<i64> {
        self.host
    }

    pub fn host_away_until(&self) -> Option<i64> {
        self.host_away_until
    }

    pub fn queue(&self) -> &[i64] {
        &self.queue
    }

    pub fn is_viewer(&self, user_id: i64) -> bool {
        self.viewers.contains(&user_id)
    }

    /// Whether the user's input and navigation are applied (§7.6, §7.7).
    pub fn is_host(&self, user_id: i64) -> bool {
        self.host == Some(user_id)
    }

    pub fn is_queued(&self, user_id: i64) -> bool {
        self.queue.contains(&user_id)
    }

    // ---- client events (§8.2), each with its checks in the table's order ----

    pub fn request(&self, actor: i64, facts: &Facts, running: bool) -> Result<Outcome, ControlError> {
        let actor_facts = facts.actor(actor);
        self.check_actor_may_control(actor, actor_facts)?;
        if !self.settings.allow_control_requests && !actor_facts.manager {
            return Err(ControlError::ControlRequestsDisabled);
        }
        check_running(running)?;
        let mut next = self.clone();
        if self.host == Some(actor) || self.is_queued(actor) {
            // Already host or waiting: unchanged.
        } else if self.host.is_none() && self.queue.is_empty() && !self.settings.locked_controls {
            next.host = Some(actor);
        } else {
            next.queue.push(actor);
        }
        Ok(self.outcome(next, ChangeReason::Request, Some(actor), None))
    }

    pub fn cancel(&self, actor: i64, running: bool) -> Result<Outcome, ControlError> {
        check_running(running)?;
        let mut next = self.clone();
        next.queue.retain(|&queued| queued != actor);
        Ok(self.outcome(next, ChangeReason::Cancel, Some(actor), None))
    }

    pub fn release(&self, actor: i64, facts: &Facts, running: bool) -> Result<Outcome, ControlError> {
        if self.host != Some(actor) {
            return Err(ControlError::NotHost);
        }
        check_running(running)?;
        let mut next = self.clone();
        next.fall_free(facts, Some(actor));
        Ok(self.outcome(next, ChangeReason::Release, Some(actor), None))
    }

    /// `target` was validated by the parser (`user_id`, an integer ≥ 1: the first check).
    pub fn grant(&self, actor: i64, target: i64, facts: &Facts, running: bool) -> Result<Outcome, ControlError> {
        let actor_facts = facts.actor(actor);
        let actor_is_host = self.host == Some(actor);
        if !actor_is_host && !actor_facts.manager {
            return Err(ControlError::NotHost);
        }
        if self.settings.locked_controls && !actor_facts.manager {
            return Err(ControlError::ControlsLocked);
        }
        if !self.is_viewer(target) {
            return Err(ControlError::NotViewing);
        }
        if !facts.may_control(target) {
            return Err(ControlError::Forbidden(MESSAGE_TARGET_MAY_NOT_CONTROL));
        }
        if let Some(host) = self.host.filter(|&host| host != actor && host != target) {
            check_may_displace(actor_facts, host, facts)?;
        }
        check_running(running)?;
        let mut next = self.clone();
        if self.host != Some(target) {
            next.make_host(target);
        }
        // §13: a host handing control on is not audited; a manager granting is.
        let audit = (!actor_is_host).then_some(OverrideAction::Grant);
        let audit = self.override_audit(actor_facts, &next, audit);
        Ok(self.outcome(next, ChangeReason::Grant, Some(actor), audit))
    }

    pub fn take(&self, actor: i64, facts: &Facts, running: bool) -> Result<Outcome, ControlError> {
        let actor_facts = facts.actor(actor);
        if !actor_facts.manager {
            return Err(ControlError::NotChatModerator(MESSAGE_TAKE_NEEDS_MANAGER));
        }
        self.check_actor_may_control(actor, actor_facts)?;
        if let Some(host) = self.host.filter(|&host| host != actor) {
            check_may_displace(actor_facts, host, facts)?;
        }
        check_running(running)?;
        let mut next = self.clone();
        if self.host != Some(actor) {
            next.make_host(actor);
        }
        let audit = self.override_audit(actor_facts, &next, Some(OverrideAction::Take));
        Ok(self.outcome(next, ChangeReason::Take, Some(actor), audit))
    }

    pub fn revoke(&self, actor: i64, facts: &Facts, running: bool) -> Result<Outcome, ControlError> {
        let actor_facts = facts.actor(actor);
        if !actor_facts.manager {
            return Err(ControlError::NotChatModerator(MESSAGE_REVOKE_NEEDS_MANAGER));
        }
        if let Some(host) = self.host.filter(|&host| host != actor) {
            check_may_displace(actor_facts, host, facts)?;
        }
        check_running(running)?;
        let mut next = self.clone();
        let mut audit = None;
        if let Some(host) = self.host {
            // The caller as host: as `control:release`; either way the one who lost control is
            // passed over once (§8.3 step 3). Only revoking another user is audited (§13).
            next.fall_free(facts, Some(host));
            if host != actor {
                audit = self.override_audit(actor_facts, &next, Some(OverrideAction::Revoke));
            }
        }
        Ok(self.outcome(next, ChangeReason::Revoke, Some(actor), audit))
    }

    // ---- the server's own moves (§8.3–§8.5) ----

    /// A user's first screen connection opened (§7.1). The away host is back (`returned`) when
    /// their grace has not run out; if it has, their control falls free now (`disconnected`) and
    /// they are passed over. Otherwise implicit hosting may make the newcomer host (§8.3) — only
    /// while `running`: control is free when the machine becomes running, and
    /// `machine_became_running` fills it then.
    pub fn viewer_joined(&self, user_id: i64, now: i64, facts: &Facts, running: bool) -> Outcome {
        let mut next = self.clone();
        if !next.is_viewer(user_id) {
            next.viewers.push(user_id);
        }
        if self.host == Some(user_id) {
            if let Some(until) = self.host_away_until {
                if now < until {
                    next.host_away_until = None;
                    return self.outcome(next, ChangeReason::Returned, None, None);
                }
                next.fall_free(facts, Some(user_id));
                return self.outcome(next, ChangeReason::Disconnected, None, None);
            }
        }
        if running && next.implicit_hosting_may_act() && facts.may_control(user_id) {
            next.host = Some(user_id);
        }
        self.outcome(next, ChangeReason::Implicit, None, None)
    }

    /// A user's last screen connection closed for a cause of the first rows of §8.5: a queued
    /// user leaves the queue (`disconnected`); the host keeps control for `grace` microseconds
    /// (`away`). For a kick, a ban, a timeout or a session end call `remove` first.
    pub fn viewer_left(&self, user_id: i64, now: i64, grace: i64) -> Outcome {
        let mut next = self.clone();
        next.viewers.retain(|&viewer| viewer != user_id);
        if self.host == Some(user_id) {
            if self.host_away_until.is_none() {
                next.host_away_until = Some(now + grace);
            }
            return self.outcome(next, ChangeReason::Away, None, None);
        }
        next.queue.retain(|&queued| queued != user_id);
        self.outcome(next, ChangeReason::Disconnected, None, None)
    }

    /// The host's grace is over by `now` (§8.5): control falls free (`disconnected`), the host
    /// who lost it passed over once (§8.3 step 3). Unchanged while the grace runs.
    pub fn expire_grace(&self, now: i64, facts: &Facts) -> Outcome {
        let mut next = self.clone();
        if let (Some(host), Some(until)) = (self.host, self.host_away_until) {
            if now >= until {
                next.fall_free(facts, Some(host));
            }
        }
        self.outcome(next, ChangeReason::Disconnected, None, None)
    }

    /// Moderation, a session end or a lost right takes the user out of control (§8.5,
    /// `removed`): out of the queue, or out of the host's seat with control falling free. Their
    /// screens, if closed, are `viewer_left` afterwards. The removed user is passed over like a
    /// released host: facts read before the removal must not hand control straight back.
    pub fn remove(&self, user_id: i64, facts: &Facts) -> Outcome {
        let mut next = self.clone();
        next.queue.retain(|&queued| queued != user_id);
        if self.host == Some(user_id) {
            next.fall_free(facts, Some(user_id));
        }
        self.outcome(next, ChangeReason::Removed, None, None)
    }

    /// The machine became `running`: control is free and is filled as §8.3 says (`implicit`).
    pub fn machine_became_running(&self, facts: &Facts) -> Outcome {
        let mut next = self.clone();
        next.fall_free(facts, None);
        self.outcome(next, ChangeReason::Implicit, None, None)
    }

    /// The chat's settings changed (§8.4), by `by`; the rows apply in the table's order.
    pub fn change_settings(&self, settings: ChatSettings, by: Option<i64>, facts: &Facts, running: bool) -> Outcome {
        let before = self.settings;
        let mut next = self.clone();
        next.settings = settings;
        if before.allow_control_requests && !settings.allow_control_requests {
            next.queue
                .retain(|&queued| facts.get(queued).is_some_and(|queued_facts| queued_facts.manager));
        }
        if running && before.locked_controls && !settings.locked_controls && next.host.is_none() {
            next.fill_free_control(facts, None);
        }
        if running && !before.implicit_hosting && settings.implicit_hosting && next.implicit_hosting_may_act() {
            next.host = next.earliest_viewer_who_may_control(facts, None);
        }
        let mut outcome = self.outcome(next, ChangeReason::Settings, by, None);
        outcome.viewer_cursors_hidden = before.inactive_cursors && !settings.inactive_cursors;
        outcome
    }

    /// The periodic check and the one before each control event (§8.5 last rows): the host and
    /// queued users who may no longer control are taken out (`removed`).
    pub fn recheck(&self, facts: &Facts) -> Outcome {
        let mut next = self.clone();
        next.queue.retain(|&queued| facts.may_control(queued));
        if let Some(host) = self.host.filter(|&host| !facts.may_control(host)) {
            next.fall_free(facts, Some(host));
        }
        self.outcome(next, ChangeReason::Removed, None, None)
    }

    // ---- the pieces ----

    /// §8.1 about oneself: condition 1 from the state, 2–4 from the facts. A sender always
    /// views, so the code for condition 1 is that of a target (§8.1 gives none for oneself).
    fn check_actor_may_control(&self, actor: i64, actor_facts: &UserFacts) -> Result<(), ControlError> {
        if !self.is_viewer(actor) {
            return Err(ControlError::NotViewing);
        }
        actor_facts.may_control.as_ref().map_err(ControlError::from).copied()
    }

    /// `user_id` becomes host at once and leaves the queue; the previous host becomes a plain
    /// viewer (§8.2 grant and take).
    fn make_host(&mut self, user_id: i64) {
        self.host = Some(user_id);
        self.host_away_until = None;
        self.queue.retain(|&queued| queued != user_id);
    }

    /// §8.3 as one step: the host is gone; with `locked_controls` nothing more, otherwise steps
    /// 2–4 with `passed_over` skipped by implicit hosting this once.
    fn fall_free(&mut self, facts: &Facts, passed_over: Option<i64>) {
        self.host = None;
        self.host_away_until = None;
        if !self.settings.locked_controls {
            self.fill_free_control(facts, passed_over);
        }
    }

    /// §8.3 steps 2–4.
    fn fill_free_control(&mut self, facts: &Facts, passed_over: Option<i64>) {
        while !self.queue.is_empty() {
            let first = self.queue.remove(0);
            if self.is_viewer(first) && facts.may_control(first) {
                self.host = Some(first);
                return;
            }
        }
        if self.settings.implicit_hosting {
            self.host = self.earliest_viewer_who_may_control(facts, passed_over);
        }
    }

    /// §8.3 last paragraph: implicit hosting fills control only when it is free, nobody waits and
    /// controls are not locked.
    fn implicit_hosting_may_act(&self) -> bool {
        self.settings.implicit_hosting && self.host.is_none() && self.queue.is_empty() && !self.settings.locked_controls
    }

    fn earliest_viewer_who_may_control(&self, facts: &Facts, passed_over: Option<i64>) -> Option<i64> {
        self.viewers
            .iter()
            .copied()
            .find(|&viewer| Some(viewer) != passed_over && facts.may_control(viewer))
    }

    /// §13: due for a manager who is not the chat's owner, for the acts the caller names, and
    /// only when the host changed.
    fn override_audit(
        &self,
        actor_facts: &UserFacts,
        next: &ControlState,
        action: Option<OverrideAction>,
    ) -> Option<OverrideAudit> {
        let action = action?;
        (actor_facts.manager && !actor_facts.is_owner && self.host != next.host).then_some(OverrideAudit {
            action,
            from_user_id: self.host,
            to_user_id: next.host,
        })
    }

    fn outcome(
        &self,
        next: ControlState,
        reason: ChangeReason,
        by: Option<i64>,
        override_audit: Option<OverrideAudit>,
    ) -> Outcome {
        let changed =
            self.host != next.host || self.host_away_until != next.host_away_until || self.queue != next.queue;
        let cursors_gone = if self.host != next.host {
            self.host.into_iter().chain(next.host).collect()
        } else {
            Vec::new()
        };
        Outcome {
            state: next,
            changed,
            reason: if changed { reason } else { ChangeReason::Unchanged },
            by,
            cursors_gone,
            viewer_cursors_hidden: false,
            override_audit,
        }
    }
}

fn check_running(running: bool) -> Result<(), ControlError> {
    if running {
        Ok(())
    } else {
        Err(ControlError::BrowserNotRunning)
    }
}

/// §8.1: the chat's owner as host cannot be displaced; a manager acting as the chat's owner may
/// act on a host whose level is not above their own (the per-chat target rule of
/// 80-notifications-portal §5.3); any other manager needs `can_act_on`. A host whose facts were
/// not read is not displaced.
fn check_may_displace(actor_facts: &UserFacts, host: i64, facts: &Facts) -> Result<(), ControlError> {
    if host == facts.owner_id {
        return Err(ControlError::ChatOwnerTarget);
    }
    let allowed = facts.get(host).is_some_and(|host_facts| {
        if actor_facts.is_owner {
            host_facts.level <= actor_facts.level
        } else {
            can_act_on(actor_facts.level, host_facts.level)
        }
    });
    if allowed {
        Ok(())
    } else {
        Err(ControlError::Hierarchy)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: i64 = 1;
    const STAFF: i64 = 2;
    const MOD: i64 = 3;
    const ALICE: i64 = 7;
    const BOB: i64 = 9;
    const CAROL: i64 = 11;
    const DAVE: i64 = 13;
    const NOW: i64 = 1_000_000_000;
    const GRACE: i64 = 10_000_000;

    fn open() -> ChatSettings {
        ChatSettings {
            allow_control_requests: true,
            locked_controls: false,
            implicit_hosting: false,
            inactive_cursors: false,
        }
    }

    fn member(level: Level) -> UserFacts {
        UserFacts {
            level,
            manager: false,
            is_owner: false,
            may_control: Ok(()),
        }
    }

    fn staff(level: Level) -> UserFacts {
        UserFacts {
            manager: true,
            ..member(level)
        }
    }

    fn denied(facts: UserFacts, denial: ControlDenial) -> UserFacts {
        UserFacts {
            may_control: Err(denial),
            ..facts
        }
    }

    /// A public chat owned by a User (OWNER); STAFF is an Admin and MOD a Moderator who manage it
    /// by outranking the owner; the others are plain users.
    fn facts() -> Facts {
        Facts::new(OWNER)
            .with(
                OWNER,
                UserFacts {
                    manager: true,
                    is_owner: true,
                    ..member(Level::User)
                },
            )
            .with(STAFF, staff(Level::Admin))
            .with(MOD, staff(Level::Moderator))
            .with(ALICE, member(Level::User))
            .with(BOB, member(Level::User))
            .with(CAROL, member(Level::User))
            .with(DAVE, member(Level::User))
    }

    fn facts_with(user_id: i64, user_facts: UserFacts) -> Facts {
        facts().with(user_id, user_facts)
    }

    fn muted() -> ControlDenial {
        ControlDenial::ChatMuted { ttl: 30 }
    }

    fn state(settings: ChatSettings, viewers: &[i64], host: Option<i64>, queue: &[i64]) -> ControlState {
        ControlState {
            settings,
            viewers: viewers.to_vec(),
            host,
            host_away_until: None,
            queue: queue.to_vec(),
        }
    }

    fn everyone() -> Vec<i64> {
        vec![OWNER, STAFF, MOD, ALICE, BOB, CAROL, DAVE]
    }

    fn allowed(result: Result<Outcome, ControlError>) -> Outcome {
        result.expect("the event is allowed")
    }

    fn assert_control(outcome: &Outcome, reason: ChangeReason, host: Option<i64>, queue: &[i64]) {
        assert_eq!(outcome.reason, reason);
        assert_eq!(outcome.changed, reason != ChangeReason::Unchanged);
        assert_eq!(outcome.host(), host);
        assert_eq!(outcome.queue(), queue);
    }

    // ---- control:request ----

    #[test]
    fn request_makes_the_asker_host_when_control_is_free_and_nobody_waits() {
        let before = state(open(), &everyone(), None, &[]);
        let outcome = allowed(before.request(BOB, &facts(), true));
        assert_control(&outcome, ChangeReason::Request, Some(BOB), &[]);
        assert_eq!(outcome.by, Some(BOB));
        assert_eq!(outcome.cursors_gone, vec![BOB]);
        assert_eq!(outcome.override_audit, None);
    }

    #[test]
    fn request_joins_the_end_of_the_queue_when_someone_is_host() {
        let before = state(open(), &everyone(), Some(ALICE), &[CAROL]);
        let outcome = allowed(before.request(BOB, &facts(), true));
        assert_control(&outcome, ChangeReason::Request, Some(ALICE), &[CAROL, BOB]);
        assert!(outcome.cursors_gone.is_empty());
    }

    #[test]
    fn request_waits_while_controls_are_locked_even_when_control_is_free() {
        let locked = ChatSettings {
            locked_controls: true,
            ..open()
        };
        let outcome = allowed(state(locked, &everyone(), None, &[]).request(BOB, &facts(), true));
        assert_control(&outcome, ChangeReason::Request, None, &[BOB]);
    }

    #[test]
    fn request_by_the_host_or_a_queued_user_changes_nothing() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB]);
        for asker in [ALICE, BOB] {
            let outcome = allowed(before.request(asker, &facts(), true));
            assert_control(&outcome, ChangeReason::Unchanged, Some(ALICE), &[BOB]);
            assert_eq!(outcome.by, Some(asker));
            assert_eq!(outcome.state, before);
        }
    }

    #[test]
    fn request_checks_run_in_the_table_order() {
        let disabled = ChatSettings {
            allow_control_requests: false,
            ..open()
        };
        let before = state(disabled, &[OWNER, ALICE, BOB], None, &[]);
        // Not a viewer comes first of all.
        assert_eq!(before.request(CAROL, &facts(), false), Err(ControlError::NotViewing));
        // The mute answers before the disabled requests and the stopped machine.
        let bob_muted = facts_with(BOB, denied(member(Level::User), muted()));
        assert_eq!(
            before.request(BOB, &bob_muted, false),
            Err(ControlError::ChatMuted { ttl: 30 })
        );
        let hard = ControlDenial::HardMuted { expires_at: Some(NOW) };
        let bob_hard_muted = facts_with(BOB, denied(member(Level::User), hard));
        assert_eq!(
            before.request(BOB, &bob_hard_muted, false),
            Err(ControlError::HardMuted { expires_at: Some(NOW) })
        );
        let bob_outsider = facts_with(BOB, denied(member(Level::User), ControlDenial::PrivateChatNonMember));
        assert_eq!(
            before.request(BOB, &bob_outsider, false),
            Err(ControlError::Forbidden(MESSAGE_PRIVATE_CHAT_NON_MEMBER))
        );
        // Then the setting, then the machine.
        assert_eq!(
            before.request(BOB, &facts(), false),
            Err(ControlError::ControlRequestsDisabled)
        );
        let enabled = state(open(), &[OWNER, ALICE, BOB], None, &[]);
        assert_eq!(
            enabled.request(BOB, &facts(), false),
            Err(ControlError::BrowserNotRunning)
        );
    }

    #[test]
    fn managers_may_ask_while_requests_are_turned_off() {
        let disabled = ChatSettings {
            allow_control_requests: false,
            ..open()
        };
        let before = state(disabled, &everyone(), Some(ALICE), &[]);
        let outcome = allowed(before.request(OWNER, &facts(), true));
        assert_control(&outcome, ChangeReason::Request, Some(ALICE), &[OWNER]);
        assert_eq!(
            before.request(OWNER, &facts(), false),
            Err(ControlError::BrowserNotRunning)
        );
    }

    #[test]
    fn an_actor_without_facts_may_not_control() {
        let before = state(open(), &[99], None, &[]);
        assert_eq!(
            before.request(99, &facts(), true),
            Err(ControlError::Forbidden(MESSAGE_PRIVATE_CHAT_NON_MEMBER))
        );
    }

    // ---- control:cancel ----

    #[test]
    fn cancel_leaves_the_queue_and_otherwise_changes_nothing() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB, CAROL]);
        let outcome = allowed(before.cancel(BOB, true));
        assert_control(&outcome, ChangeReason::Cancel, Some(ALICE), &[CAROL]);
        assert_eq!(outcome.by, Some(BOB));
        let outcome = allowed(before.cancel(DAVE, true));
        assert_control(&outcome, ChangeReason::Unchanged, Some(ALICE), &[BOB, CAROL]);
        assert_eq!(before.cancel(BOB, false), Err(ControlError::BrowserNotRunning));
    }

    // ---- control:release and §8.3 ----

    #[test]
    fn release_checks_the_host_before_the_machine() {
        let before = state(open(), &everyone(), Some(ALICE), &[]);
        assert_eq!(before.release(BOB, &facts(), false), Err(ControlError::NotHost));
        assert_eq!(
            before.release(ALICE, &facts(), false),
            Err(ControlError::BrowserNotRunning)
        );
    }

    #[test]
    fn release_hands_control_to_the_first_in_line_who_still_may_control() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB, CAROL, DAVE]);
        let bob_muted = facts_with(BOB, denied(member(Level::User), muted()));
        let outcome = allowed(before.release(ALICE, &bob_muted, true));
        // Bob no longer may control: he leaves the queue and Carol, next, becomes host.
        assert_control(&outcome, ChangeReason::Release, Some(CAROL), &[DAVE]);
        assert_eq!(outcome.cursors_gone, vec![ALICE, CAROL]);
        assert_eq!(outcome.override_audit, None);
    }

    #[test]
    fn release_skips_queued_users_who_no_longer_view() {
        let before = state(open(), &[ALICE, CAROL], Some(ALICE), &[BOB, CAROL]);
        let outcome = allowed(before.release(ALICE, &facts(), true));
        assert_control(&outcome, ChangeReason::Release, Some(CAROL), &[]);
    }

    #[test]
    fn with_locked_controls_control_stays_free_and_the_queue_waits() {
        let locked = ChatSettings {
            locked_controls: true,
            implicit_hosting: true,
            ..open()
        };
        let before = state(locked, &everyone(), Some(ALICE), &[BOB]);
        let outcome = allowed(before.release(ALICE, &facts(), true));
        assert_control(&outcome, ChangeReason::Release, None, &[BOB]);
    }

    #[test]
    fn without_queue_or_implicit_hosting_control_stays_free() {
        let before = state(open(), &everyone(), Some(ALICE), &[]);
        let outcome = allowed(before.release(ALICE, &facts(), true));
        assert_control(&outcome, ChangeReason::Release, None, &[]);
        assert_eq!(outcome.cursors_gone, vec![ALICE]);
    }

    #[test]
    fn implicit_hosting_passes_over_the_releaser_once() {
        let implicit = ChatSettings {
            implicit_hosting: true,
            ..open()
        };
        // Alice started viewing first and releases: Bob, the next earliest who may control, gets it.
        let before = state(implicit, &[ALICE, BOB, CAROL], Some(ALICE), &[]);
        let carol_first = facts_with(BOB, denied(member(Level::User), muted()));
        let outcome = allowed(before.release(ALICE, &facts(), true));
        assert_control(&outcome, ChangeReason::Release, Some(BOB), &[]);
        // Earliest who may control: a muted Bob is skipped too.
        let outcome_skipping_bob = allowed(before.release(ALICE, &carol_first, true));
        assert_eq!(outcome_skipping_bob.host(), Some(CAROL));
        // Only once: when Bob releases in turn, Alice is the earliest again.
        let outcome = allowed(outcome.state.release(BOB, &facts(), true));
        assert_eq!(outcome.host(), Some(ALICE));
        // Alone, the releaser is passed over and control stays free.
        let alone = state(implicit, &[ALICE], Some(ALICE), &[]);
        assert_eq!(allowed(alone.release(ALICE, &facts(), true)).host(), None);
    }

    #[test]
    fn the_queue_comes_before_implicit_hosting() {
        let implicit = ChatSettings {
            implicit_hosting: true,
            ..open()
        };
        let before = state(implicit, &[ALICE, BOB, CAROL], Some(ALICE), &[CAROL]);
        let outcome = allowed(before.release(ALICE, &facts(), true));
        assert_control(&outcome, ChangeReason::Release, Some(CAROL), &[]);
    }

    // ---- control:grant ----

    #[test]
    fn grant_checks_run_in_the_table_order() {
        let locked = ChatSettings {
            locked_controls: true,
            ..open()
        };
        let viewers = [OWNER, STAFF, MOD, ALICE, BOB, CAROL];
        // Neither host nor manager: NOT_HOST, before the lock and everything after it.
        let before = state(locked, &viewers, Some(ALICE), &[]);
        assert_eq!(before.grant(BOB, DAVE, &facts(), false), Err(ControlError::NotHost));
        // A host who is no manager, while controls are locked.
        assert_eq!(
            before.grant(ALICE, DAVE, &facts(), false),
            Err(ControlError::ControlsLocked)
        );
        // A manager passes the lock; the target must view (Dave does not) ...
        assert_eq!(
            before.grant(STAFF, DAVE, &facts(), false),
            Err(ControlError::NotViewing)
        );
        // ... and may control, answered about the target.
        let bob_muted = facts_with(BOB, denied(member(Level::User), muted()));
        assert_eq!(
            before.grant(STAFF, BOB, &bob_muted, false),
            Err(ControlError::Forbidden(MESSAGE_TARGET_MAY_NOT_CONTROL))
        );
        // The owner as host before the hierarchy, and both before the machine.
        let owner_hosts = state(locked, &viewers, Some(OWNER), &[]);
        assert_eq!(
            owner_hosts.grant(STAFF, BOB, &facts(), false),
            Err(ControlError::ChatOwnerTarget)
        );
        let admin_hosts = state(locked, &viewers, Some(STAFF), &[]);
        assert_eq!(
            admin_hosts.grant(MOD, BOB, &facts(), false),
            Err(ControlError::Hierarchy)
        );
        assert_eq!(
            before.grant(STAFF, BOB, &facts(), false),
            Err(ControlError::BrowserNotRunning)
        );
    }

    #[test]
    fn a_target_may_not_control_for_any_of_the_three_reasons() {
        let before = state(open(), &everyone(), Some(ALICE), &[]);
        let denials = [
            ControlDenial::PrivateChatNonMember,
            muted(),
            ControlDenial::HardMuted { expires_at: None },
        ];
        for denial in denials {
            let bob_denied = facts_with(BOB, denied(member(Level::User), denial));
            assert_eq!(
                before.grant(ALICE, BOB, &bob_denied, true),
                Err(ControlError::Forbidden(MESSAGE_TARGET_MAY_NOT_CONTROL))
            );
        }
    }

    #[test]
    fn the_host_grants_control_and_becomes_a_plain_viewer() {
        let before = state(open(), &everyone(), Some(ALICE), &[CAROL, BOB]);
        let outcome = allowed(before.grant(ALICE, BOB, &facts(), true));
        assert_control(&outcome, ChangeReason::Grant, Some(BOB), &[CAROL]);
        assert!(!outcome.state.is_queued(ALICE));
        assert_eq!(outcome.cursors_gone, vec![ALICE, BOB]);
        // A host handing control on is not audited (§13).
        assert_eq!(outcome.override_audit, None);
    }

    #[test]
    fn granting_to_the_host_changes_nothing() {
        let before = state(open(), &everyone(), Some(ALICE), &[]);
        let outcome = allowed(before.grant(ALICE, ALICE, &facts(), true));
        assert_control(&outcome, ChangeReason::Unchanged, Some(ALICE), &[]);
        let outcome = allowed(before.grant(STAFF, ALICE, &facts(), true));
        assert_control(&outcome, ChangeReason::Unchanged, Some(ALICE), &[]);
        assert_eq!(outcome.override_audit, None);
    }

    #[test]
    fn a_manager_grants_while_controls_are_locked_and_is_audited() {
        let locked = ChatSettings {
            locked_controls: true,
            ..open()
        };
        let before = state(locked, &everyone(), Some(ALICE), &[BOB]);
        let outcome = allowed(before.grant(STAFF, BOB, &facts(), true));
        assert_control(&outcome, ChangeReason::Grant, Some(BOB), &[]);
        assert_eq!(
            outcome.override_audit,
            Some(OverrideAudit {
                action: OverrideAction::Grant,
                from_user_id: Some(ALICE),
                to_user_id: Some(BOB),
            })
        );
        // Free control granted by staff: from nobody.
        let free = state(locked, &everyone(), None, &[BOB]);
        let outcome = allowed(free.grant(STAFF, BOB, &facts(), true));
        assert_eq!(
            outcome.override_audit,
            Some(OverrideAudit {
                action: OverrideAction::Grant,
                from_user_id: None,
                to_user_id: Some(BOB),
            })
        );
    }

    #[test]
    fn the_owner_and_a_managing_host_are_not_audited_when_granting() {
        let before = state(open(), &everyone(), Some(ALICE), &[]);
        assert_eq!(allowed(before.grant(OWNER, BOB, &facts(), true)).override_audit, None);
        let staff_hosts = state(open(), &everyone(), Some(STAFF), &[]);
        let outcome = allowed(staff_hosts.grant(STAFF, BOB, &facts(), true));
        assert_eq!(outcome.host(), Some(BOB));
        assert_eq!(outcome.override_audit, None);
    }

    #[test]
    fn a_grant_over_an_away_host_ends_the_grace() {
        let away = allowed(state(open(), &everyone(), Some(ALICE), &[]).request(BOB, &facts(), true)).state;
        let away = away.viewer_left(ALICE, NOW, GRACE).state;
        assert_eq!(away.host_away_until(), Some(NOW + GRACE));
        let outcome = allowed(away.grant(STAFF, BOB, &facts(), true));
        assert_control(&outcome, ChangeReason::Grant, Some(BOB), &[]);
        assert_eq!(outcome.host_away_until(), None);
    }

    // ---- control:take ----

    #[test]
    fn take_checks_run_in_the_table_order() {
        let before = state(open(), &everyone(), Some(OWNER), &[]);
        assert_eq!(
            before.take(ALICE, &facts(), false),
            Err(ControlError::NotChatModerator(MESSAGE_TAKE_NEEDS_MANAGER))
        );
        let staff_muted = facts_with(STAFF, denied(staff(Level::Admin), muted()));
        assert_eq!(
            before.take(STAFF, &staff_muted, false),
            Err(ControlError::ChatMuted { ttl: 30 })
        );
        let not_viewing = state(open(), &[OWNER], Some(OWNER), &[]);
        assert_eq!(not_viewing.take(STAFF, &facts(), false), Err(ControlError::NotViewing));
        assert_eq!(before.take(STAFF, &facts(), false), Err(ControlError::ChatOwnerTarget));
        let admin_hosts = state(open(), &everyone(), Some(STAFF), &[]);
        assert_eq!(admin_hosts.take(MOD, &facts(), false), Err(ControlError::Hierarchy));
        let alice_hosts = state(open(), &everyone(), Some(ALICE), &[]);
        assert_eq!(
            alice_hosts.take(MOD, &facts(), false),
            Err(ControlError::BrowserNotRunning)
        );
    }

    #[test]
    fn take_makes_the_manager_host_at_once_and_is_audited_for_staff() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB, MOD]);
        let outcome = allowed(before.take(MOD, &facts(), true));
        assert_control(&outcome, ChangeReason::Take, Some(MOD), &[BOB]);
        assert!(!outcome.state.is_queued(ALICE));
        assert_eq!(outcome.cursors_gone, vec![ALICE, MOD]);
        assert_eq!(
            outcome.override_audit,
            Some(OverrideAudit {
                action: OverrideAction::Take,
                from_user_id: Some(ALICE),
                to_user_id: Some(MOD),
            })
        );
        // Taking free control is audited too (§13 decision).
        let free = state(open(), &everyone(), None, &[]);
        let outcome = allowed(free.take(STAFF, &facts(), true));
        assert_eq!(
            outcome.override_audit,
            Some(OverrideAudit {
                action: OverrideAction::Take,
                from_user_id: None,
                to_user_id: Some(STAFF),
            })
        );
    }

    #[test]
    fn take_by_the_host_changes_nothing_and_is_not_audited() {
        let before = state(open(), &everyone(), Some(STAFF), &[]);
        let outcome = allowed(before.take(STAFF, &facts(), true));
        assert_control(&outcome, ChangeReason::Unchanged, Some(STAFF), &[]);
        assert_eq!(outcome.override_audit, None);
    }

    #[test]
    fn the_owner_takes_from_peers_and_lower_users_and_is_not_audited() {
        let before = state(open(), &everyone(), Some(ALICE), &[]);
        let outcome = allowed(before.take(OWNER, &facts(), true));
        assert_eq!(outcome.host(), Some(OWNER));
        assert_eq!(outcome.override_audit, None);
        // A host above the owner's own level is out of reach.
        let above = facts_with(ALICE, member(Level::Moderator));
        assert_eq!(before.take(OWNER, &above, true), Err(ControlError::Hierarchy));
    }

    #[test]
    fn other_managers_need_the_rank_ladder_against_the_host() {
        let before = state(open(), &everyone(), Some(ALICE), &[]);
        // A Moderator on a Moderator host: can_act_on fails, as the owner's rule would not.
        let alice_moderator = facts_with(ALICE, member(Level::Moderator));
        assert_eq!(before.take(MOD, &alice_moderator, true), Err(ControlError::Hierarchy));
        assert!(before.take(STAFF, &alice_moderator, true).is_ok());
        // Owners act on Owners.
        let owners = facts_with(STAFF, staff(Level::Owner)).with(ALICE, member(Level::Owner));
        assert!(before.take(STAFF, &owners, true).is_ok());
        // A host whose facts were not read is not displaced.
        let mut unknown_host = facts();
        unknown_host.users.remove(&ALICE);
        assert_eq!(before.take(STAFF, &unknown_host, true), Err(ControlError::Hierarchy));
    }

    #[test]
    fn the_owner_as_host_cannot_be_displaced_by_anyone() {
        let before = state(open(), &everyone(), Some(OWNER), &[]);
        let top = facts_with(STAFF, staff(Level::Owner));
        assert_eq!(before.take(STAFF, &top, true), Err(ControlError::ChatOwnerTarget));
        assert_eq!(before.revoke(STAFF, &top, true), Err(ControlError::ChatOwnerTarget));
        assert_eq!(before.grant(STAFF, BOB, &top, true), Err(ControlError::ChatOwnerTarget));
        // The owner may hand control on themself.
        assert_eq!(allowed(before.grant(OWNER, BOB, &top, true)).host(), Some(BOB));
    }

    // ---- control:revoke ----

    #[test]
    fn revoke_checks_run_in_the_table_order() {
        let owner_hosts = state(open(), &everyone(), Some(OWNER), &[]);
        assert_eq!(
            owner_hosts.revoke(ALICE, &facts(), false),
            Err(ControlError::NotChatModerator(MESSAGE_REVOKE_NEEDS_MANAGER))
        );
        assert_eq!(
            owner_hosts.revoke(STAFF, &facts(), false),
            Err(ControlError::ChatOwnerTarget)
        );
        let admin_hosts = state(open(), &everyone(), Some(STAFF), &[]);
        assert_eq!(admin_hosts.revoke(MOD, &facts(), false), Err(ControlError::Hierarchy));
        assert_eq!(
            admin_hosts.revoke(STAFF, &facts(), false),
            Err(ControlError::BrowserNotRunning)
        );
        // A muted manager may still revoke: revoking is not controlling.
        let staff_muted = facts_with(STAFF, denied(staff(Level::Admin), muted()));
        let alice_hosts = state(open(), &everyone(), Some(ALICE), &[]);
        assert!(alice_hosts.revoke(STAFF, &staff_muted, true).is_ok());
    }

    #[test]
    fn revoke_without_a_host_changes_nothing() {
        let before = state(open(), &everyone(), None, &[]);
        let outcome = allowed(before.revoke(STAFF, &facts(), true));
        assert_control(&outcome, ChangeReason::Unchanged, None, &[]);
        assert_eq!(outcome.override_audit, None);
    }

    #[test]
    fn revoke_frees_control_passing_over_the_removed_host_and_is_audited() {
        let implicit = ChatSettings {
            implicit_hosting: true,
            ..open()
        };
        let before = state(implicit, &[ALICE, STAFF, BOB], Some(ALICE), &[]);
        let outcome = allowed(before.revoke(STAFF, &facts(), true));
        // Alice viewed first but is passed over; Staff, next, gets control by implicit hosting.
        assert_control(&outcome, ChangeReason::Revoke, Some(STAFF), &[]);
        assert_eq!(
            outcome.override_audit,
            Some(OverrideAudit {
                action: OverrideAction::Revoke,
                from_user_id: Some(ALICE),
                to_user_id: Some(STAFF),
            })
        );
        // With a queue, the first in line gets it.
        let queued = state(open(), &everyone(), Some(ALICE), &[BOB]);
        let outcome = allowed(queued.revoke(MOD, &facts(), true));
        assert_control(&outcome, ChangeReason::Revoke, Some(BOB), &[]);
        assert_eq!(outcome.override_audit.map(|audit| audit.to_user_id), Some(Some(BOB)));
    }

    #[test]
    fn revoking_oneself_is_a_release_and_is_not_audited() {
        let before = state(open(), &everyone(), Some(STAFF), &[BOB]);
        let outcome = allowed(before.revoke(STAFF, &facts(), true));
        assert_control(&outcome, ChangeReason::Revoke, Some(BOB), &[]);
        assert_eq!(outcome.override_audit, None);
    }

    #[test]
    fn the_owner_revoking_is_not_audited() {
        let before = state(open(), &everyone(), Some(ALICE), &[]);
        let outcome = allowed(before.revoke(OWNER, &facts(), true));
        assert_control(&outcome, ChangeReason::Revoke, None, &[]);
        assert_eq!(outcome.override_audit, None);
    }

    // ---- arrivals, running, implicit hosting (§8.3) ----

    #[test]
    fn implicit_hosting_makes_an_arriving_viewer_host_while_control_is_free() {
        let implicit = ChatSettings {
            implicit_hosting: true,
            ..open()
        };
        let before = state(implicit, &[], None, &[]);
        let outcome = before.viewer_joined(ALICE, NOW, &facts(), true);
        assert_control(&outcome, ChangeReason::Implicit, Some(ALICE), &[]);
        assert_eq!(outcome.by, None);
        assert_eq!(outcome.state.viewers(), &[ALICE]);
        // The next arrival finds control taken.
        let outcome = outcome.state.viewer_joined(BOB, NOW, &facts(), true);
        assert_control(&outcome, ChangeReason::Unchanged, Some(ALICE), &[]);
        assert_eq!(outcome.state.viewers(), &[ALICE, BOB]);
    }

    #[test]
    fn an_arrival_takes_no_control_when_implicit_hosting_may_not_act() {
        let implicit = ChatSettings {
            implicit_hosting: true,
            ..open()
        };
        let locked = ChatSettings {
            locked_controls: true,
            ..implicit
        };
        let alice_muted = facts_with(ALICE, denied(member(Level::User), muted()));
        let cases = [
            (state(open(), &[], None, &[]), facts(), true),
            (state(locked, &[], None, &[]), facts(), true),
            (state(implicit, &[], None, &[]), facts(), false),
            (state(implicit, &[], None, &[]), alice_muted, true),
        ];
        for (before, facts, running) in cases {
            let outcome = before.viewer_joined(ALICE, NOW, &facts, running);
            assert_control(&outcome, ChangeReason::Unchanged, None, &[]);
            assert!(outcome.state.is_viewer(ALICE));
        }
    }

    #[test]
    fn viewers_stay_in_the_order_their_viewing_started() {
        let before = state(open(), &[BOB], None, &[]);
        let state = before.viewer_joined(ALICE, NOW, &facts(), true).state;
        let state = state.viewer_joined(BOB, NOW, &facts(), true).state;
        assert_eq!(state.viewers(), &[BOB, ALICE]);
        let state = state.viewer_left(BOB, NOW, GRACE).state;
        let state = state.viewer_joined(BOB, NOW, &facts(), true).state;
        assert_eq!(state.viewers(), &[ALICE, BOB]);
    }

    #[test]
    fn a_machine_that_becomes_running_fills_free_control_implicitly() {
        let implicit = ChatSettings {
            implicit_hosting: true,
            ..open()
        };
        let alice_muted = facts_with(ALICE, denied(member(Level::User), muted()));
        let before = state(implicit, &[ALICE, BOB, CAROL], None, &[]);
        let outcome = before.machine_became_running(&alice_muted);
        assert_control(&outcome, ChangeReason::Implicit, Some(BOB), &[]);
        assert_eq!(outcome.by, None);
        let without = state(open(), &[ALICE, BOB], None, &[]);
        assert_control(
            &without.machine_became_running(&facts()),
            ChangeReason::Unchanged,
            None,
            &[],
        );
    }

    // ---- settings (§8.4) ----

    #[test]
    fn turning_requests_off_sends_queued_non_managers_away() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB, MOD, CAROL]);
        let off = ChatSettings {
            allow_control_requests: false,
            ..open()
        };
        let outcome = before.change_settings(off, Some(OWNER), &facts(), true);
        assert_control(&outcome, ChangeReason::Settings, Some(ALICE), &[MOD]);
        assert_eq!(outcome.by, Some(OWNER));
        assert_eq!(outcome.state.settings(), off);
    }

    #[test]
    fn locking_moves_nothing_and_unlocking_fills_free_control() {
        let before = state(open(), &everyone(), None, &[]);
        let locked = ChatSettings {
            locked_controls: true,
            ..open()
        };
        let outcome = before.change_settings(locked, Some(OWNER), &facts(), true);
        assert_control(&outcome, ChangeReason::Unchanged, None, &[]);
        assert_eq!(outcome.state.settings(), locked);
        // While locked a request waits; unlocking hands control to the first in line.
        let waiting = allowed(outcome.state.request(BOB, &facts(), true)).state;
        let waiting = allowed(waiting.request(CAROL, &facts(), true)).state;
        assert_eq!(waiting.queue(), &[BOB, CAROL]);
        let outcome = waiting.change_settings(open(), Some(OWNER), &facts(), true);
        assert_control(&outcome, ChangeReason::Settings, Some(BOB), &[CAROL]);
        // Unlocking with a host changes nothing.
        let hosted = state(locked, &everyone(), Some(ALICE), &[BOB]);
        let outcome = hosted.change_settings(open(), Some(OWNER), &facts(), true);
        assert_control(&outcome, ChangeReason::Unchanged, Some(ALICE), &[BOB]);
    }

    #[test]
    fn unlocking_with_implicit_hosting_and_nobody_waiting_picks_the_earliest_viewer() {
        let locked_implicit = ChatSettings {
            locked_controls: true,
            implicit_hosting: true,
            ..open()
        };
        let before = state(locked_implicit, &[CAROL, ALICE], None, &[]);
        let unlocked = ChatSettings {
            locked_controls: false,
            ..locked_implicit
        };
        let outcome = before.change_settings(unlocked, Some(OWNER), &facts(), true);
        assert_control(&outcome, ChangeReason::Settings, Some(CAROL), &[]);
    }

    #[test]
    fn switching_implicit_hosting_on_fills_free_control_only() {
        let on = ChatSettings {
            implicit_hosting: true,
            ..open()
        };
        let free = state(open(), &[ALICE, BOB], None, &[]);
        let outcome = free.change_settings(on, Some(STAFF), &facts(), true);
        assert_control(&outcome, ChangeReason::Settings, Some(ALICE), &[]);
        assert_eq!(outcome.by, Some(STAFF));
        let hosted = state(open(), &[ALICE, BOB], Some(BOB), &[]);
        let outcome = hosted.change_settings(on, Some(STAFF), &facts(), true);
        assert_control(&outcome, ChangeReason::Unchanged, Some(BOB), &[]);
        let stopped = free.change_settings(on, Some(STAFF), &facts(), false);
        assert_control(&stopped, ChangeReason::Unchanged, None, &[]);
    }

    #[test]
    fn switching_inactive_cursors_off_hides_the_viewers_cursors() {
        let shown = ChatSettings {
            inactive_cursors: true,
            ..open()
        };
        let before = state(shown, &everyone(), Some(ALICE), &[]);
        let outcome = before.change_settings(open(), Some(OWNER), &facts(), true);
        assert!(outcome.viewer_cursors_hidden);
        assert!(!outcome.changed);
        let outcome = state(open(), &everyone(), Some(ALICE), &[]).change_settings(shown, None, &facts(), true);
        assert!(!outcome.viewer_cursors_hidden);
    }

    // ---- leaving, grace, removal (§8.5) ----

    #[test]
    fn a_queued_viewer_who_leaves_leaves_the_queue() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB, CAROL]);
        let outcome = before.viewer_left(BOB, NOW, GRACE);
        assert_control(&outcome, ChangeReason::Disconnected, Some(ALICE), &[CAROL]);
        assert!(!outcome.state.is_viewer(BOB));
        let outcome = before.viewer_left(DAVE, NOW, GRACE);
        assert_control(&outcome, ChangeReason::Unchanged, Some(ALICE), &[BOB, CAROL]);
    }

    #[test]
    fn a_host_who_leaves_keeps_control_for_the_grace_and_may_return() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB]);
        let away = before.viewer_left(ALICE, NOW, GRACE);
        assert_control(&away, ChangeReason::Away, Some(ALICE), &[BOB]);
        assert_eq!(away.host_away_until(), Some(NOW + GRACE));
        assert!(away.cursors_gone.is_empty());
        // The grace runs: nothing yet.
        let early = away.state.expire_grace(NOW + GRACE - 1, &facts());
        assert_control(&early, ChangeReason::Unchanged, Some(ALICE), &[BOB]);
        // Back within it.
        let back = away.state.viewer_joined(ALICE, NOW + GRACE - 1, &facts(), true);
        assert_control(&back, ChangeReason::Returned, Some(ALICE), &[BOB]);
        assert_eq!(back.host_away_until(), None);
        assert_eq!(back.by, None);
    }

    #[test]
    fn a_grace_that_runs_out_frees_control_and_passes_the_host_over() {
        let implicit = ChatSettings {
            implicit_hosting: true,
            ..open()
        };
        let away = state(implicit, &[ALICE, BOB], Some(ALICE), &[])
            .viewer_left(ALICE, NOW, GRACE)
            .state;
        let outcome = away.expire_grace(NOW + GRACE, &facts());
        assert_control(&outcome, ChangeReason::Disconnected, Some(BOB), &[]);
        assert_eq!(outcome.host_away_until(), None);
        assert_eq!(outcome.cursors_gone, vec![ALICE, BOB]);
        // Coming back too late counts as the end of the grace, and the late host is passed over.
        let late = away.viewer_joined(ALICE, NOW + GRACE, &facts(), true);
        assert_control(&late, ChangeReason::Disconnected, Some(BOB), &[]);
        let alone = state(implicit, &[ALICE], Some(ALICE), &[])
            .viewer_left(ALICE, NOW, GRACE)
            .state;
        let late = alone.viewer_joined(ALICE, NOW + GRACE + 1, &facts(), true);
        assert_control(&late, ChangeReason::Disconnected, None, &[]);
        assert!(late.state.is_viewer(ALICE));
    }

    #[test]
    fn removal_takes_the_user_out_of_the_queue_or_the_host_seat() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB, CAROL]);
        let outcome = before.remove(BOB, &facts());
        assert_control(&outcome, ChangeReason::Removed, Some(ALICE), &[CAROL]);
        assert_eq!(outcome.by, None);
        let outcome = before.remove(ALICE, &facts());
        assert_control(&outcome, ChangeReason::Removed, Some(BOB), &[CAROL]);
        // A viewer who is neither: nothing to announce.
        assert_control(
            &before.remove(DAVE, &facts()),
            ChangeReason::Unchanged,
            Some(ALICE),
            &[BOB, CAROL],
        );
        // Removal is not audited, even when staff caused it.
        assert_eq!(before.remove(ALICE, &facts()).override_audit, None);
    }

    #[test]
    fn a_removed_host_is_not_handed_control_back_by_implicit_hosting() {
        let implicit = ChatSettings {
            implicit_hosting: true,
            ..open()
        };
        let before = state(implicit, &[ALICE, BOB], Some(ALICE), &[]);
        assert_eq!(before.remove(ALICE, &facts()).host(), Some(BOB));
    }

    #[test]
    fn the_recheck_removes_hosts_and_queued_users_who_may_no_longer_control() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB, CAROL, DAVE]);
        let changed = facts()
            .with(
                ALICE,
                denied(member(Level::User), ControlDenial::HardMuted { expires_at: None }),
            )
            .with(BOB, denied(member(Level::User), ControlDenial::PrivateChatNonMember));
        let outcome = before.recheck(&changed);
        assert_control(&outcome, ChangeReason::Removed, Some(CAROL), &[DAVE]);
        assert_control(
            &before.recheck(&facts()),
            ChangeReason::Unchanged,
            Some(ALICE),
            &[BOB, CAROL, DAVE],
        );
        // An away host is checked on their facts, not on viewing.
        let away = before.viewer_left(ALICE, NOW, GRACE).state;
        assert_control(
            &away.recheck(&facts()),
            ChangeReason::Unchanged,
            Some(ALICE),
            &[BOB, CAROL, DAVE],
        );
    }

    // ---- errors ----

    #[test]
    fn errors_carry_the_codes_messages_and_extra_fields_of_the_contract() {
        let cases = [
            (ControlError::NotHost, "ERR_NOT_HOST", "You do not control the browser"),
            (
                ControlError::ControlsLocked,
                "ERR_CONTROLS_LOCKED",
                "Only chat managers can hand over control",
            ),
            (
                ControlError::ControlRequestsDisabled,
                "ERR_CONTROL_REQUESTS_DISABLED",
                "Control requests are turned off in this chat",
            ),
            (
                ControlError::NotViewing,
                "ERR_NOT_VIEWING",
                "User is not watching this browser",
            ),
            (
                ControlError::Forbidden(MESSAGE_PRIVATE_CHAT_NON_MEMBER),
                "ERR_FORBIDDEN",
                "Only members can control the browser in a private chat",
            ),
            (
                ControlError::Forbidden(MESSAGE_TARGET_MAY_NOT_CONTROL),
                "ERR_FORBIDDEN",
                "This user may not control the browser",
            ),
            (
                ControlError::ChatMuted { ttl: 0 },
                "ERR_CHAT_MUTED",
                "You are muted in this chat",
            ),
            (
                ControlError::HardMuted { expires_at: None },
                "ERR_HARD_MUTED",
                "You are muted in every chat",
            ),
            (
                ControlError::NotChatModerator(MESSAGE_TAKE_NEEDS_MANAGER),
                "ERR_NOT_CHAT_MODERATOR",
                "Only chat managers can take control",
            ),
            (
                ControlError::NotChatModerator(MESSAGE_REVOKE_NEEDS_MANAGER),
                "ERR_NOT_CHAT_MODERATOR",
                "Only chat managers can revoke control",
            ),
            (ControlError::Hierarchy, "ERR_HIERARCHY", "You cannot act on this user"),
            (
                ControlError::ChatOwnerTarget,
                "ERR_CHAT_OWNER_TARGET",
                "The chat owner cannot be targeted in their own chat",
            ),
            (
                ControlError::BrowserNotRunning,
                "ERR_BROWSER_NOT_RUNNING",
                "The browser is not running",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!((error.code(), error.message()), (code, message));
        }
        assert_eq!(
            Value::Object(ControlError::ChatMuted { ttl: 42 }.extra_fields()),
            json!({"ttl": 42})
        );
        let expires_at = Timestamp::parse("2026-04-04T12:00:00Z").expect("a timestamp").0;
        assert_eq!(
            Value::Object(
                ControlError::HardMuted {
                    expires_at: Some(expires_at)
                }
                .extra_fields()
            ),
            json!({"expires_at": "2026-04-04T12:00:00Z"})
        );
        assert_eq!(
            Value::Object(ControlError::HardMuted { expires_at: None }.extra_fields()),
            json!({"expires_at": null})
        );
        assert!(ControlError::Hierarchy.extra_fields().is_empty());
    }

    #[test]
    fn reasons_and_override_actions_have_their_wire_names() {
        let reasons = [
            (ChangeReason::Request, "request"),
            (ChangeReason::Cancel, "cancel"),
            (ChangeReason::Release, "release"),
            (ChangeReason::Grant, "grant"),
            (ChangeReason::Take, "take"),
            (ChangeReason::Revoke, "revoke"),
            (ChangeReason::Implicit, "implicit"),
            (ChangeReason::Away, "away"),
            (ChangeReason::Returned, "returned"),
            (ChangeReason::Disconnected, "disconnected"),
            (ChangeReason::Removed, "removed"),
            (ChangeReason::Settings, "settings"),
            (ChangeReason::Unchanged, "unchanged"),
        ];
        for (reason, name) in reasons {
            assert_eq!(reason.as_str(), name);
        }
        assert_eq!(OverrideAction::Take.as_str(), "take");
        assert_eq!(OverrideAction::Revoke.as_str(), "revoke");
        assert_eq!(OverrideAction::Grant.as_str(), "grant");
    }

    #[test]
    fn operations_leave_the_state_they_were_asked_on_untouched() {
        let before = state(open(), &everyone(), Some(ALICE), &[BOB]);
        let copy = before.clone();
        let outcome = allowed(before.take(STAFF, &facts(), true));
        assert_eq!(before, copy);
        assert_ne!(outcome.state, before);
        assert_eq!(ControlState::new(open()), state(open(), &[], None, &[]));
        assert!(outcome.state.is_host(STAFF));
    }
}

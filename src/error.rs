//! The one error type of the API: every refusal, with its status and code. Every non-2xx answer is
//! one of these, so the JSON body `{"error","code","correlation_id"}` that `http::error` renders
//! from it cannot drift between handlers.

use axum::http::StatusCode;

/// Why a request failed, as the client is told. Internal causes are logged once, where they are
/// turned into `Internal`/`Unavailable`, and never reach the body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Validation { field: Option<String>, message: String },
    #[error("Malformed JSON body")]
    InvalidJson,
    #[error("{0}")]
    AuthRequired(&'static str),
    #[error("Invalid API key")]
    InvalidApiKey,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    InsufficientPermission(&'static str),
    #[error("Not found")]
    NotFound,
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("Request body too large")]
    PayloadTooLarge,
    /// A body that did not arrive within `server.body_read_timeout_s`: the connection is closed
    /// and nothing is written (00-conventions §10.1); the status is for the log line alone.
    #[error("Request body not received in time")]
    BodyTimedOut,
    #[error("Request headers too large")]
    HeadersTooLarge,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("Too many requests")]
    RateLimited { retry_after_s: u64 },
    #[error("Internal server error")]
    Internal,
    #[error("Service unavailable")]
    Unavailable,
    #[error("Invalid or expired code")]
    InvalidCode,
    #[error("Too many failed attempts, try again later")]
    TooManyAttempts { retry_after_s: u64 },
    #[error("Too many pending login codes")]
    TooManyPendingCodes { retry_after_s: u64 },
    #[error("This account is banned")]
    AccountBanned { expires_at: Option<i64> },
    #[error("Your account is timed out")]
    AccountTimedOut { expires_at: Option<i64> },
    #[error("Log in through the website to continue using bot logins")]
    WebLoginRequired,
    #[error("Bot platform does not match")]
    PlatformMismatch,
    #[error("Only official bots may handle login codes")]
    OfficialBotRequired,
    #[error("Use logout to end the current session")]
    CurrentSession,
    #[error("Session not found")]
    SessionNotFound,
    #[error("You cannot target yourself")]
    SelfTarget,
    #[error("You cannot act on this user")]
    Hierarchy,
    #[error("You cannot assign this permission level")]
    PermissionCeiling,
    #[error("User not found")]
    UserNotFound,
    /// The target of a stranger block is not a stranger (91-matchmaking §8.11).
    #[error("Stranger not found")]
    StrangerNotFound,
    #[error("User is banned")]
    AlreadyBanned,
    #[error("User is not timed out")]
    NotTimedOut,
    #[error("User is not banned")]
    NotBanned,
    #[error("User already has this permission level")]
    PermissionUnchanged,
    #[error("The last owner cannot be demoted, banned or deleted")]
    LastOwner,
    #[error("Trial already used")]
    TrialAlreadyUsed,
    #[error("A higher subscription is already active")]
    SubscriptionActive,
    #[error("User already has a lifetime subscription")]
    AlreadyLifetime,
    #[error("User has no subscription")]
    NoSubscription,
    #[error("Bot is inactive")]
    BotInactive,
    #[error("Bot not found")]
    BotNotFound,
    #[error("A bot with this name already exists on this platform")]
    BotNameTaken,
    #[error("Hourly request quota exceeded for this bot")]
    BotQuotaExceeded { retry_after_s: u64 },
    #[error("An active subscription is required")]
    PremiumRequired,
    #[error("No free chat slot")]
    ChatSlotLimit { limit: i64 },
    /// `You cannot moderate this chat`, or the invite wording of 60-chats §4.2.
    #[error("{0}")]
    NotChatModerator(&'static str),
    #[error("You are banned from this chat")]
    ChatBanned,
    #[error("Chat not found")]
    ChatNotFound,
    #[error("User is not a member of this chat")]
    NotChatMember,
    #[error("Invite not found")]
    InviteNotFound,
    /// `The chat owner cannot be targeted in their own chat`, or the wording of the endpoint.
    #[error("{0}")]
    ChatOwnerTarget(&'static str),
    #[error("Slug already in use")]
    SlugTaken,
    #[error("This chat already has 20 active invites")]
    InviteLimit,
    #[error("Notification not found")]
    NotificationNotFound,
    #[error("Notification already read")]
    NotificationAlreadyRead,
    #[error("WebSocket upgrade required")]
    UpgradeRequired,
    #[error("Too many realtime connections")]
    TooManyConnections,
    #[error("Join the chat's room first")]
    RoomNotJoined,
    #[error("Too many rooms joined on this connection")]
    RoomLimit,
    #[error("You are muted in every chat")]
    HardMuted { expires_at: Option<i64> },
    /// `ttl`: whole seconds left, rounded up; 0 = indefinite.
    #[error("You are muted in this chat")]
    ChatMuted { ttl: i64 },
    /// The message names the first bundle rule that failed (90-chat-transport §1.4).
    #[error("{0}")]
    InvalidBundle(&'static str),
    /// `epoch`: the chat's current one.
    #[error("The chat key has changed")]
    EpochMismatch { epoch: i64 },
    #[error("You have no key for the current epoch")]
    NoRoomKey,
    #[error("You may not upload keys for this epoch")]
    NotKeyDistributor,
    #[error("Too many messages")]
    MessageRateLimited { retry_after_s: u64 },
    #[error("Sign in to use this feature")]
    SignInRequired,
    #[error("Already signed in")]
    AlreadySignedIn,
    #[error("Too many stranger sessions from this network, try again later")]
    TooManyStrangerSessions { retry_after_s: u64 },
    /// `expires_at`: the end of the latest block in force; `None` = permanent.
    #[error("Blocked from matchmaking")]
    StrangerBlocked { expires_at: Option<i64> },
    /// `field`: the failing tag, `interests[i]`.
    #[error("{message}")]
    UnsupportedInterest { field: String, message: String },
    #[error("Already searching for a match")]
    AlreadySearching,
    #[error("All your direct chat slots are in use")]
    MatchSlotLimit { limit: i64 },
    #[error("You are not in an active direct chat")]
    NoActiveDirectChat,
    #[error("This direct chat has ended")]
    DirectChatEnded,
    #[error("You already reported this chat")]
    AlreadyReported,
    #[error("Report not found")]
    ReportNotFound,
    #[error("Stranger block not found")]
    StrangerBlockNotFound,
    #[error("Browser machines are turned off on this server")]
    BrowserDisabled,
    #[error("The browser could not be started")]
    BrowserStartFailed,
    #[error("No browser machine is free, try again later")]
    BrowserCapacity,
    #[error("You already run as many browsers as allowed")]
    BrowserUserLimit { limit: i64 },
    #[error("This chat's browser cannot run on this server")]
    BrowserUnsupported,
    #[error("The browser is already running")]
    BrowserAlreadyRunning,
    /// `The browser is not running`, or `The browser was stopped while starting`.
    #[error("{0}")]
    BrowserNotRunning(&'static str),
    /// `The browser runs on another node`, or `The browser's node cannot be reached`.
    #[error("{0}")]
    BrowserNodeUnreachable(&'static str),
    #[error("This browser has as many viewers as it can take")]
    ScreenFull,
    #[error("Too many screenshots")]
    ScreenshotRateLimited { retry_after_s: u64 },
    #[error("You do not control the browser")]
    NotHost,
    #[error("Only chat managers can hand over control")]
    ControlsLocked,
    #[error("Control requests are turned off in this chat")]
    ControlRequestsDisabled,
    #[error("User is not watching this browser")]
    NotViewing,
    #[error("Navigation is turned off on this browser")]
    BrowserKiosk,
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// Logs the cause once and answers the bare 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        ApiError::Internal
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Validation { .. }
            | InvalidJson
            | InvalidCode
            | CurrentSession
            | SelfTarget
            | ChatOwnerTarget(_)
            | UnsupportedInterest { .. } => StatusCode::BAD_REQUEST,
            AuthRequired(_) | InvalidApiKey => StatusCode::UNAUTHORIZED,
            Forbidden(_)
            | InsufficientPermission(_)
            | AccountBanned { .. }
            | AccountTimedOut { .. }
            | WebLoginRequired
            | PlatformMismatch
            | OfficialBotRequired
            | Hierarchy
            | PermissionCeiling
            | BotInactive
            | PremiumRequired
            | ChatSlotLimit { .. }
            | NotChatModerator(_)
            | ChatBanned
            | RoomNotJoined
            | HardMuted { .. }
            | ChatMuted { .. }
            | EpochMismatch { .. }
            | NoRoomKey
            | NotKeyDistributor
            | SignInRequired
            | StrangerBlocked { .. }
            | DirectChatEnded
            | NotHost
            | ControlsLocked
            | ControlRequestsDisabled
            | BrowserKiosk => StatusCode::FORBIDDEN,
            InvalidBundle(_) => StatusCode::UNPROCESSABLE_ENTITY,
            NotFound
            | SessionNotFound
            | UserNotFound
            | StrangerNotFound
            | BotNotFound
            | ChatNotFound
            | NotChatMember
            | InviteNotFound
            | NotificationNotFound
            | NoActiveDirectChat
            | ReportNotFound
            | StrangerBlockNotFound
            | NotViewing => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyTimedOut => StatusCode::REQUEST_TIMEOUT,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RateLimited { .. }
            | TooManyAttempts { .. }
            | TooManyPendingCodes { .. }
            | BotQuotaExceeded { .. }
            | TooManyConnections
            | MessageRateLimited { .. }
            | TooManyStrangerSessions { .. }
            | ScreenshotRateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable
            | BrowserDisabled
            | BrowserStartFailed
            | BrowserCapacity
            | BrowserNodeUnreachable(_)
            | ScreenFull => StatusCode::SERVICE_UNAVAILABLE,
            AlreadyBanned
            | NotTimedOut
            | NotBanned
            | PermissionUnchanged
            | LastOwner
            | TrialAlreadyUsed
            | SubscriptionActive
            | AlreadyLifetime
            | NoSubscription
            | BotNameTaken
            | SlugTaken
            | InviteLimit
            | NotificationAlreadyRead
            | RoomLimit
            | AlreadySignedIn
            | AlreadySearching
            | MatchSlotLimit { .. }
            | AlreadyReported
            | BrowserUserLimit { .. }
            | BrowserUnsupported
            | BrowserAlreadyRunning
            | BrowserNotRunning(_) => StatusCode::CONFLICT,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Validation { .. } => "ERR_VALIDATION",
            InvalidJson => "ERR_INVALID_JSON",
            AuthRequired(_) => "ERR_AUTH_REQUIRED",
            InvalidApiKey => "ERR_INVALID_API_KEY",
            Forbidden(_) => "ERR_FORBIDDEN",
            InsufficientPermission(_) => "ERR_INSUFFICIENT_PERMISSION",
            NotFound => "ERR_NOT_FOUND",
            MethodNotAllowed => "ERR_METHOD_NOT_ALLOWED",
            PayloadTooLarge => "ERR_PAYLOAD_TOO_LARGE",
            BodyTimedOut => "ERR_REQUEST_TIMEOUT",
            HeadersTooLarge => "ERR_HEADERS_TOO_LARGE",
            UnsupportedMediaType => "ERR_UNSUPPORTED_MEDIA_TYPE",
            RateLimited { .. } => "ERR_RATE_LIMITED",
            Internal => "ERR_INTERNAL",
            Unavailable => "ERR_SERVICE_UNAVAILABLE",
            InvalidCode => "ERR_INVALID_CODE",
            TooManyAttempts { .. } => "ERR_TOO_MANY_ATTEMPTS",
            TooManyPendingCodes { .. } => "ERR_TOO_MANY_PENDING_CODES",
            AccountBanned { .. } => "ERR_ACCOUNT_BANNED",
            AccountTimedOut { .. } => "ERR_ACCOUNT_TIMED_OUT",
            WebLoginRequired => "ERR_WEB_LOGIN_REQUIRED",
            PlatformMismatch => "ERR_PLATFORM_MISMATCH",
            OfficialBotRequired => "ERR_OFFICIAL_BOT_REQUIRED",
            CurrentSession => "ERR_CURRENT_SESSION",
            SessionNotFound => "ERR_SESSION_NOT_FOUND",
            SelfTarget => "ERR_SELF_TARGET",
            Hierarchy => "ERR_HIERARCHY",
            PermissionCeiling => "ERR_PERMISSION_CEILING",
            UserNotFound | StrangerNotFound => "ERR_USER_NOT_FOUND",
            AlreadyBanned => "ERR_ALREADY_BANNED",
            NotTimedOut => "ERR_NOT_TIMED_OUT",
            NotBanned => "ERR_NOT_BANNED",
            PermissionUnchanged => "ERR_PERMISSION_UNCHANGED",
            LastOwner => "ERR_LAST_OWNER",
            TrialAlreadyUsed => "ERR_TRIAL_ALREADY_USED",
            SubscriptionActive => "ERR_SUBSCRIPTION_ACTIVE",
            AlreadyLifetime => "ERR_ALREADY_LIFETIME",
            NoSubscription => "ERR_NO_SUBSCRIPTION",
            BotInactive => "ERR_BOT_INACTIVE",
            BotNotFound => "ERR_BOT_NOT_FOUND",
            BotNameTaken => "ERR_BOT_NAME_TAKEN",
            BotQuotaExceeded { .. } => "ERR_BOT_QUOTA_EXCEEDED",
            PremiumRequired => "ERR_PREMIUM_REQUIRED",
            ChatSlotLimit { .. } => "ERR_CHAT_SLOT_LIMIT",
            NotChatModerator(_) => "ERR_NOT_CHAT_MODERATOR",
            ChatBanned => "ERR_CHAT_BANNED",
            ChatNotFound => "ERR_CHAT_NOT_FOUND",
            NotChatMember => "ERR_NOT_CHAT_MEMBER",
            InviteNotFound => "ERR_INVITE_NOT_FOUND",
            ChatOwnerTarget(_) => "ERR_CHAT_OWNER_TARGET",
            SlugTaken => "ERR_SLUG_TAKEN",
            InviteLimit => "ERR_INVITE_LIMIT",
            NotificationNotFound => "ERR_NOTIFICATION_NOT_FOUND",
            NotificationAlreadyRead => "ERR_NOTIFICATION_ALREADY_READ",
            UpgradeRequired => "ERR_UPGRADE_REQUIRED",
            TooManyConnections => "ERR_TOO_MANY_CONNECTIONS",
            RoomNotJoined => "ERR_ROOM_NOT_JOINED",
            RoomLimit => "ERR_ROOM_LIMIT",
            HardMuted { .. } => "ERR_HARD_MUTED",
            ChatMuted { .. } => "ERR_CHAT_MUTED",
            InvalidBundle(_) => "ERR_INVALID_BUNDLE",
            EpochMismatch { .. } => "ERR_EPOCH_MISMATCH",
            NoRoomKey => "ERR_NO_ROOM_KEY",
            NotKeyDistributor => "ERR_NOT_KEY_DISTRIBUTOR",
            MessageRateLimited { .. } => "ERR_MESSAGE_RATE_LIMITED",
            SignInRequired => "ERR_SIGN_IN_REQUIRED",
            AlreadySignedIn => "ERR_ALREADY_SIGNED_IN",
            TooManyStrangerSessions { .. } => "ERR_TOO_MANY_STRANGER_SESSIONS",
            StrangerBlocked { .. } => "ERR_STRANGER_BLOCKED",
            UnsupportedInterest { .. } => "ERR_MATCH_UNSUPPORTED_INTEREST",
            AlreadySearching => "ERR_MATCH_ALREADY_SEARCHING",
            MatchSlotLimit { .. } => "ERR_MATCH_SLOT_LIMIT",
            NoActiveDirectChat => "ERR_MATCH_NO_ACTIVE_DIRECT",
            DirectChatEnded => "ERR_DIRECT_CHAT_ENDED",
            AlreadyReported => "ERR_MATCH_ALREADY_REPORTED",
            ReportNotFound => "ERR_MATCH_REPORT_NOT_FOUND",
            StrangerBlockNotFound => "ERR_STRANGER_BLOCK_NOT_FOUND",
            BrowserDisabled => "ERR_BROWSER_DISABLED",
            BrowserStartFailed => "ERR_BROWSER_START_FAILED",
            BrowserCapacity => "ERR_BROWSER_CAPACITY",
            BrowserUserLimit { .. } => "ERR_BROWSER_USER_LIMIT",
            BrowserUnsupported => "ERR_BROWSER_UNSUPPORTED",
            BrowserAlreadyRunning => "ERR_BROWSER_ALREADY_RUNNING",
            BrowserNotRunning(_) => "ERR_BROWSER_NOT_RUNNING",
            BrowserNodeUnreachable(_) => "ERR_BROWSER_NODE_UNREACHABLE",
            ScreenFull => "ERR_SCREEN_FULL",
            ScreenshotRateLimited { .. } => "ERR_SCREENSHOT_RATE_LIMITED",
            NotHost => "ERR_NOT_HOST",
            ControlsLocked => "ERR_CONTROLS_LOCKED",
            ControlRequestsDisabled => "ERR_CONTROL_REQUESTS_DISABLED",
            NotViewing => "ERR_NOT_VIEWING",
            BrowserKiosk => "ERR_BROWSER_KIOSK",
        }
    }

    /// Seconds for `Retry-After`, for the refusals that carry one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_s }
            | ApiError::TooManyAttempts { retry_after_s }
            | ApiError::TooManyPendingCodes { retry_after_s }
            | ApiError::BotQuotaExceeded { retry_after_s }
            | ApiError::MessageRateLimited { retry_after_s }
            | ApiError::TooManyStrangerSessions { retry_after_s }
            | ApiError::ScreenshotRateLimited { retry_after_s } => Some((*retry_after_s).max(1)),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if database_unavailable(&err) {
            tracing::warn!(cause = %err, "database unavailable");
            ApiError::Unavailable
        } else {
            ApiError::internal(err)
        }
    }
}

/// Failures that say nothing about the request, only that the database cannot serve it now: the
/// pool gave no connection in time, the connection broke (PostgreSQL restarted, a backend was
/// terminated, the network dropped), or SQLite stayed busy or locked past `busy_timeout`. The
/// client may retry them, so they are 503, never 500. A protocol error stays a 500: the faults
/// tested in tests/api/reliability.rs never produce one, and it may be a bug.
fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs (five characters) and SQLite extended result codes (numbers).
fn unavailable_code(code: &str) -> bool {
    match code.parse::<i64>() {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6) with their extended forms.
        Ok(sqlite) if code.len() < 5 => matches!(sqlite & 0xff, 5 | 6),
        // Class 08 connection exception, 57P01-57P03 shutdown / cannot connect now, 53300 too
        // many connections, and 40001 / 40P01: PostgreSQL ended the transaction to resolve a
        // conflict with another, so the same request may well pass when tried again.
        _ => code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"),
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::unavailable_code;

    #[test]
    fn busy_locked_conflicting_and_lost_connections_are_unavailable() {
        for code in [
            "5", "6", "261", "517", "773", "262", "08006", "08003", "57P01", "57P03", "53300", "40001", "40P01",
        ] {
            assert!(unavailable_code(code), "{code}");
        }
        // A constraint (SQLite 2067, PostgreSQL 23505), a syntax error and a read-only file are bugs.
        for code in ["2067", "23505", "42601", "8", "1"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }
}

-- portal: initial schema (SQLite).
--
-- Conventions (shared with migrations/postgres/0001_init.sql, which must define the same tables
-- with the same columns in the same order):
--   * ids: INTEGER PRIMARY KEY AUTOINCREMENT, so ids are never reused.
--   * timestamps: BIGINT, microseconds since the Unix epoch, UTC. Column names end in _at.
--   * booleans: BIGINT NOT NULL holding 0 or 1. Column names start with is_ or allow_.
--   * JSON values (sessions.geo, audit_log.metadata, chats.browser_config): TEXT holding JSON.
--   * real numbers: REAL here, DOUBLE PRECISION in PostgreSQL.
--   * ids of acting users (issued_by_id, lifted_by_id, granted_by_id, changed_by_id, actor_id,
--     created_by, subscription_granted_by) are plain numbers, not foreign keys: they keep their
--     value when that user is deleted.
--   * case-insensitive uniqueness uses a *_lower column kept in sync by the code.

-- ---------------------------------------------------------------------------------------------
-- Users and identities
-- ---------------------------------------------------------------------------------------------

CREATE TABLE users (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    username                TEXT    NOT NULL,
    username_lower          TEXT    NOT NULL UNIQUE,
    avatar_source           TEXT,
    permission_level        BIGINT  NOT NULL DEFAULT 0 CHECK (permission_level BETWEEN 0 AND 3),
    permission_since        BIGINT,
    subscription_tier       BIGINT  NOT NULL DEFAULT 0 CHECK (subscription_tier BETWEEN 0 AND 3),
    subscription_expires_at BIGINT,
    subscription_granted_by BIGINT,
    is_trial_used           BIGINT  NOT NULL DEFAULT 0 CHECK (is_trial_used IN (0, 1)),
    trial_used_at           BIGINT,
    bot_login_count         BIGINT  NOT NULL DEFAULT 0,
    last_activity_at        BIGINT  NOT NULL,
    created_at              BIGINT  NOT NULL,
    updated_at              BIGINT  NOT NULL
);

CREATE INDEX users_permission_level_idx ON users (permission_level);
CREATE INDEX users_subscription_idx ON users (subscription_tier, subscription_expires_at);
CREATE INDEX users_last_activity_at_idx ON users (last_activity_at);
CREATE INDEX users_created_at_idx ON users (created_at);

CREATE TABLE linked_platforms (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id               BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform              TEXT    NOT NULL,
    platform_user_id      TEXT    NOT NULL,
    platform_username     TEXT    NOT NULL,
    platform_avatar_url   TEXT,
    linked_at             BIGINT  NOT NULL,
    last_authenticated_at BIGINT
);

CREATE UNIQUE INDEX linked_platforms_identity_uq ON linked_platforms (platform, platform_user_id);
CREATE INDEX linked_platforms_user_idx ON linked_platforms (user_id, linked_at);

-- ---------------------------------------------------------------------------------------------
-- Login codes and sessions
-- ---------------------------------------------------------------------------------------------

CREATE TABLE login_codes (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    code                TEXT    NOT NULL UNIQUE,
    origin              TEXT    NOT NULL CHECK (origin IN ('web', 'bot')),
    platform            TEXT    NOT NULL,
    platform_user_id    TEXT    NOT NULL,
    platform_username   TEXT,
    platform_avatar_url TEXT,
    client_ip           TEXT,
    bot_id              BIGINT,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL
);

CREATE UNIQUE INDEX login_codes_identity_origin_uq ON login_codes (platform, platform_user_id, origin);
CREATE INDEX login_codes_client_ip_idx ON login_codes (client_ip);
CREATE INDEX login_codes_expires_at_idx ON login_codes (expires_at);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    token_suffix TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    ended_at     BIGINT,
    end_reason   TEXT    CHECK (end_reason IN ('logout', 'revoked', 'expired', 'banned', 'deleted', 'permission_change')),
    client_ip    TEXT    NOT NULL,
    user_agent   TEXT,
    geo          TEXT
);

CREATE INDEX sessions_user_ended_idx ON sessions (user_id, ended_at);
CREATE INDEX sessions_ended_expires_idx ON sessions (ended_at, expires_at);

-- ---------------------------------------------------------------------------------------------
-- Moderation, history, audit
-- ---------------------------------------------------------------------------------------------

CREATE TABLE moderation_actions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action_type  TEXT    NOT NULL CHECK (action_type IN ('PLATFORM_WARNING', 'PLATFORM_TIMEOUT', 'PLATFORM_BAN', 'PLATFORM_MUTE', 'CHAT_MUTE', 'CHAT_BAN', 'CHAT_KICK')),
    reason       TEXT,
    chat_id      BIGINT,
    issued_by_id BIGINT,
    is_lifted    BIGINT  NOT NULL DEFAULT 0 CHECK (is_lifted IN (0, 1)),
    expires_at   BIGINT,
    lifted_at    BIGINT,
    lifted_by_id BIGINT,
    lift_reason  TEXT,
    created_at   BIGINT  NOT NULL
);

CREATE INDEX moderation_actions_user_idx ON moderation_actions (user_id, created_at DESC, id DESC);
CREATE INDEX moderation_actions_user_type_idx ON moderation_actions (user_id, action_type, is_lifted);
CREATE INDEX moderation_actions_issued_by_idx ON moderation_actions (issued_by_id, created_at DESC, id DESC);
CREATE INDEX moderation_actions_type_idx ON moderation_actions (action_type, created_at DESC, id DESC);
CREATE INDEX moderation_actions_chat_idx ON moderation_actions (chat_id, user_id, action_type);
CREATE INDEX moderation_actions_created_idx ON moderation_actions (created_at DESC, id DESC);

CREATE TABLE subscription_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    old_tier      BIGINT  NOT NULL CHECK (old_tier BETWEEN 0 AND 3),
    new_tier      BIGINT  NOT NULL CHECK (new_tier BETWEEN 0 AND 3),
    reason        TEXT,
    granted_by_id BIGINT,
    created_at    BIGINT  NOT NULL
);

CREATE INDEX subscription_history_user_idx ON subscription_history (user_id, created_at DESC, id DESC);

CREATE TABLE permission_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    old_level     BIGINT  NOT NULL CHECK (old_level BETWEEN 0 AND 3),
    new_level     BIGINT  NOT NULL CHECK (new_level BETWEEN 0 AND 3),
    reason        TEXT,
    changed_by_id BIGINT,
    created_at    BIGINT  NOT NULL
);

CREATE INDEX permission_history_user_idx ON permission_history (user_id, created_at DESC, id DESC);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type  TEXT    NOT NULL,
    actor_id    BIGINT,
    target_type TEXT    NOT NULL CHECK (target_type IN ('user', 'bot', 'chat', 'system')),
    target_id   BIGINT,
    metadata    TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_event_type_idx ON audit_log (event_type, created_at DESC, id DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, created_at DESC, id DESC);
CREATE INDEX audit_log_target_id_idx ON audit_log (target_id, created_at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, created_at DESC, id DESC);

-- ---------------------------------------------------------------------------------------------
-- Public API keys (managed by the command-line tool, stored as SHA-256 hex only)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public_api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    label      TEXT,
    key_hash   TEXT    NOT NULL UNIQUE,
    key_prefix TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT
);

-- ---------------------------------------------------------------------------------------------
-- Bots
-- ---------------------------------------------------------------------------------------------

CREATE TABLE bots (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT    NOT NULL,
    name_lower          TEXT    NOT NULL,
    platform            TEXT    NOT NULL,
    owner_id            BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bot_type            BIGINT  NOT NULL DEFAULT 3 CHECK (bot_type BETWEEN 1 AND 3),
    is_active           BIGINT  NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    rate_limit_per_hour BIGINT  NOT NULL DEFAULT 1000,
    groups              BIGINT  NOT NULL DEFAULT 0,
    users               BIGINT  NOT NULL DEFAULT 0,
    avatar_url          TEXT,
    latency_ms          REAL,
    last_activity_at    BIGINT,
    api_key_hash        TEXT    NOT NULL UNIQUE,
    api_key_prefix      TEXT    NOT NULL,
    api_key_created_at  BIGINT  NOT NULL,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);

CREATE UNIQUE INDEX bots_platform_name_uq ON bots (platform, name_lower);
CREATE INDEX bots_owner_idx ON bots (owner_id);

-- Spec 50-bots section 1 says reported group ids are NOT stored (only their distinct count goes
-- to bots.groups). This table exists for schema completeness and is expected to stay empty.
CREATE TABLE bot_groups (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_id            BIGINT  NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    group_id          TEXT    NOT NULL,
    first_reported_at BIGINT  NOT NULL,
    last_reported_at  BIGINT  NOT NULL
);

CREATE UNIQUE INDEX bot_groups_bot_group_uq ON bot_groups (bot_id, group_id);

-- Hourly aggregates of reported commands. Upsert with
-- ON CONFLICT (bot_id, command, hour_start_at) DO UPDATE.
CREATE TABLE bot_command_stats (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_id        BIGINT  NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    command       TEXT    NOT NULL,
    hour_start_at BIGINT  NOT NULL,
    count         BIGINT  NOT NULL DEFAULT 0,
    first_at      BIGINT  NOT NULL,
    last_at       BIGINT  NOT NULL
);

CREATE UNIQUE INDEX bot_command_stats_bucket_uq ON bot_command_stats (bot_id, command, hour_start_at);
CREATE INDEX bot_command_stats_bot_hour_idx ON bot_command_stats (bot_id, hour_start_at);

-- ---------------------------------------------------------------------------------------------
-- Chats
-- ---------------------------------------------------------------------------------------------

CREATE TABLE chats (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_type              TEXT    NOT NULL DEFAULT 'group',
    name                   TEXT    NOT NULL,
    owner_id               BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    visibility             TEXT    NOT NULL DEFAULT 'private' CHECK (visibility IN ('official', 'public', 'private')),
    label                  TEXT,
    slug                   TEXT    UNIQUE,
    description            TEXT,
    avatar_source          TEXT,
    browser_config         TEXT    NOT NULL DEFAULT '{"browser": "firefox", "start_url": null, "kiosk": false}',
    allow_control_requests BIGINT  NOT NULL DEFAULT 0 CHECK (allow_control_requests IN (0, 1)),
    is_archived            BIGINT  NOT NULL DEFAULT 0 CHECK (is_archived IN (0, 1)),
    last_activity_at       BIGINT  NOT NULL,
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL
);

CREATE INDEX chats_owner_idx ON chats (owner_id);
CREATE INDEX chats_visibility_idx ON chats (visibility, id);

CREATE TABLE chat_members (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id   BIGINT  NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id   BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at BIGINT  NOT NULL
);

CREATE UNIQUE INDEX chat_members_chat_user_uq ON chat_members (chat_id, user_id);
CREATE INDEX chat_members_user_idx ON chat_members (user_id);

CREATE TABLE chat_invites (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    code          TEXT    NOT NULL UNIQUE,
    chat_id       BIGINT  NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    created_by_id BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT,
    uses          BIGINT  NOT NULL DEFAULT 0,
    max_uses      BIGINT
);

CREATE INDEX chat_invites_chat_idx ON chat_invites (chat_id, created_at DESC, id DESC);
CREATE INDEX chat_invites_created_by_idx ON chat_invites (created_by_id);

-- ---------------------------------------------------------------------------------------------
-- Notifications
-- ---------------------------------------------------------------------------------------------

-- A targeted notification has user_id set and is_broadcast 0. A broadcast has user_id NULL and
-- is_broadcast 1, and is visible to users whose created_at <= the notification's created_at.
CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT  REFERENCES users (id) ON DELETE CASCADE,
    title        TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    type         TEXT    NOT NULL DEFAULT 'info' CHECK (type IN ('info', 'success', 'warning', 'error')),
    is_broadcast BIGINT  NOT NULL DEFAULT 0 CHECK (is_broadcast IN (0, 1)),
    created_by   BIGINT,
    created_at   BIGINT  NOT NULL,
    CHECK ((is_broadcast = 1 AND user_id IS NULL) OR (is_broadcast = 0 AND user_id IS NOT NULL))
);

CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_broadcast_idx ON notifications (is_broadcast, created_at DESC, id DESC);

-- Per-user read marks, for targeted notifications and broadcasts alike.
CREATE TABLE notification_reads (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT  NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_at         BIGINT  NOT NULL
);

CREATE UNIQUE INDEX notification_reads_user_notification_uq ON notification_reads (user_id, notification_id);
CREATE INDEX notification_reads_notification_idx ON notification_reads (notification_id);

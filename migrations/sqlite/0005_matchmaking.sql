-- Matchmaking (91-matchmaking): strangers, the queue, direct chats, blocks and reports.
--
-- A direct chat has no owner and its own visibility, so the chats table loosens two constraints:
-- owner_id may be NULL, and visibility may be 'direct'. SQLite cannot change a constraint with
-- ALTER TABLE, and rebuilding the table would need foreign keys off (or dropping it would cascade
-- to every member, message and key), which cannot be switched inside the transaction a migration
-- runs in. Loosening constraints leaves the stored rows as they are, so the table's definition is
-- edited in place, the procedure SQLite documents for removing CHECK and NOT NULL constraints
-- ("Making Other Kinds Of Table Schema Changes", lang_altertable.html); RESET reloads the schema
-- and the statements after it move the schema version on, so every connection re-reads it.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(replace(sql,
    'owner_id               BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE',
    'owner_id               BIGINT  REFERENCES users (id) ON DELETE CASCADE'),
    'CHECK (visibility IN (''official'', ''public'', ''private''))',
    'CHECK (visibility IN (''official'', ''public'', ''private'', ''direct''))')
WHERE type = 'table' AND name = 'chats';
PRAGMA writable_schema = RESET;

-- Direct chats only (91-matchmaking §4.1); NULL for group chats.
ALTER TABLE chats ADD COLUMN matched_on TEXT;
ALTER TABLE chats ADD COLUMN expires_at BIGINT;
ALTER TABLE chats ADD COLUMN ended_at BIGINT;
ALTER TABLE chats ADD COLUMN end_reason TEXT CHECK (end_reason IN ('left', 'disconnected', 'expired'));
ALTER TABLE chats ADD COLUMN deletes_at BIGINT;
CREATE INDEX chats_expires_idx ON chats (expires_at);
CREATE INDEX chats_deletes_idx ON chats (deletes_at);

-- A stranger (91-matchmaking §2.1) is a user row of kind 'stranger'; the address group it was
-- created from is kept for stranger blocks (§5.3) and never shown.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'registered' CHECK (kind IN ('registered', 'stranger'));
ALTER TABLE users ADD COLUMN created_from_group TEXT;
CREATE INDEX users_kind_idx ON users (kind);

-- Each stranger creation, per address group, for the hourly creation limit (§8.1). Kept apart
-- from the user rows so that deleting a stranger does not give its creation back.
CREATE TABLE stranger_creations (
    address_group TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX stranger_creations_group_idx ON stranger_creations (address_group, created_at);

-- One queue entry per user (§3.2). `away_since` is when the caller was last seen leaving (or the
-- enqueue, when no connection was open); NULL while connected.
CREATE TABLE match_entries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    session_id   BIGINT NOT NULL,
    interests    TEXT   NOT NULL,
    country_code TEXT,
    enqueued_at  BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    away_since   BIGINT
);
-- Candidates are read earliest first (§3.5).
CREATE INDEX match_entries_order_idx ON match_entries (enqueued_at, id);

-- The queue of each tag: an entry waits in one row per tag, in order of its number.
CREATE TABLE match_entry_tags (
    tag      TEXT   NOT NULL,
    entry_id BIGINT NOT NULL REFERENCES match_entries (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, entry_id)
);
CREATE INDEX match_entry_tags_entry_idx ON match_entry_tags (entry_id);

-- The two participants of a direct chat (§4.2): their tokens and snapshots. `user_id` is a plain
-- number, since the record outlives a deleted participant (§4.7).
CREATE TABLE direct_participants (
    chat_id        BIGINT  NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id        BIGINT  NOT NULL,
    -- 0: the one who waited longer; 1: the one whose enqueue made the pair.
    position       BIGINT  NOT NULL CHECK (position IN (0, 1)),
    token          TEXT    NOT NULL UNIQUE,
    username       TEXT    NOT NULL,
    avatar_url     TEXT,
    is_stranger    BIGINT  NOT NULL CHECK (is_stranger IN (0, 1)),
    country_code   TEXT,
    away_since     BIGINT,
    -- The reconnect deadline announced by room:peer_left, while the participant has not returned.
    grace_announced_until BIGINT,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX direct_participants_user_idx ON direct_participants (user_id);
CREATE INDEX direct_participants_away_idx ON direct_participants (away_since);

-- A pair of users who are never paired again (§5.1), stored once with the lower id first.
CREATE TABLE pair_blocks (
    low_user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    high_user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    PRIMARY KEY (low_user_id, high_user_id)
);
CREATE INDEX pair_blocks_high_idx ON pair_blocks (high_user_id);

-- Reports of a peer (§5.2); ids and names are plain values, kept whatever is deleted.
CREATE TABLE match_reports (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id               BIGINT NOT NULL,
    reporter_id           BIGINT NOT NULL,
    reporter_username     TEXT   NOT NULL,
    reporter_is_stranger  BIGINT NOT NULL CHECK (reporter_is_stranger IN (0, 1)),
    reporter_country_code TEXT,
    reported_id           BIGINT NOT NULL,
    reported_username     TEXT   NOT NULL,
    reported_is_stranger  BIGINT NOT NULL CHECK (reported_is_stranger IN (0, 1)),
    reported_country_code TEXT,
    reason                TEXT   NOT NULL,
    matched_on            TEXT   NOT NULL,
    chat_created_at       BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    handled_at            BIGINT,
    handled_by_id         BIGINT,
    note                  TEXT
);
CREATE INDEX match_reports_created_idx ON match_reports (created_at, id);
CREATE INDEX match_reports_reporter_chat_idx ON match_reports (reporter_id, chat_id);
CREATE INDEX match_reports_reported_idx ON match_reports (reported_id);

-- Stranger blocks (§5.3): the stranger and the address group it was created from.
CREATE TABLE stranger_blocks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT NOT NULL,
    username      TEXT   NOT NULL,
    address_group TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    issued_by_id  BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    lifted_at     BIGINT,
    lifted_by_id  BIGINT,
    lift_reason   TEXT
);
CREATE INDEX stranger_blocks_user_idx ON stranger_blocks (user_id);
CREATE INDEX stranger_blocks_group_idx ON stranger_blocks (address_group);
CREATE INDEX stranger_blocks_created_idx ON stranger_blocks (created_at, id);

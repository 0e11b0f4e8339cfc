-- The chat transport (90-chat-transport §1.2): the chat's key epoch and settings, its messages,
-- the devices' public keys and the key blobs they hand each other, and each user's entry time.
-- Everything here is ciphertext or public: the server never holds a chat key or a private key.

ALTER TABLE chats ADD COLUMN epoch BIGINT NOT NULL DEFAULT 1;
-- Whether a blob was ever stored for the current epoch (then it has its one chat key).
ALTER TABLE chats ADD COLUMN epoch_keyed BIGINT NOT NULL DEFAULT 0 CHECK (epoch_keyed IN (0, 1));
-- The session asked to make the current epoch's key while it is not keyed (§4.3).
ALTER TABLE chats ADD COLUMN generator_session_id BIGINT;
ALTER TABLE chats ADD COLUMN wipe_preset TEXT NOT NULL DEFAULT 'off' CHECK (wipe_preset IN ('off', '1m', '15m', '1h', '4h', '24h'));
ALTER TABLE chats ADD COLUMN next_wipe_at BIGINT;
ALTER TABLE chats ADD COLUMN history_visible BIGINT NOT NULL DEFAULT 1 CHECK (history_visible IN (0, 1));
ALTER TABLE chats ADD COLUMN locked_controls BIGINT NOT NULL DEFAULT 0 CHECK (locked_controls IN (0, 1));
ALTER TABLE chats ADD COLUMN implicit_hosting BIGINT NOT NULL DEFAULT 0 CHECK (implicit_hosting IN (0, 1));
ALTER TABLE chats ADD COLUMN inactive_cursors BIGINT NOT NULL DEFAULT 0 CHECK (inactive_cursors IN (0, 1));
-- The last message id issued, "{ms}-{seq}" (§5.1): kept so ids are never reused.
ALTER TABLE chats ADD COLUMN last_message_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN last_message_seq BIGINT NOT NULL DEFAULT -1;

CREATE INDEX chats_next_wipe_idx ON chats (next_wipe_at);

CREATE TABLE chat_messages (
    chat_id      BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    id_ms        BIGINT NOT NULL,
    id_seq       BIGINT NOT NULL,
    -- NULL for system messages; a deleted user's messages go with them (30-admin-moderation §5.7).
    sender_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    sender_level BIGINT,
    kind         TEXT   NOT NULL CHECK (kind IN ('user', 'system')),
    -- The bundle string exactly as sent (user), or the plain text the server wrote (system).
    content      TEXT   NOT NULL,
    epoch        BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (chat_id, id_ms, id_seq)
);

CREATE INDEX chat_messages_sender_idx ON chat_messages (sender_id, chat_id);

CREATE TABLE device_keys (
    session_id    BIGINT NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    -- Standard base64 with padding, 44 characters.
    public_key    TEXT   NOT NULL,
    registered_at BIGINT NOT NULL
);

CREATE TABLE key_blobs (
    chat_id         BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    epoch           BIGINT NOT NULL,
    session_id      BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    blob            TEXT   NOT NULL,
    from_user_id    BIGINT NOT NULL,
    from_device_id  TEXT   NOT NULL,
    from_public_key TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (chat_id, epoch, session_id)
);

CREATE INDEX key_blobs_session_idx ON key_blobs (session_id);

CREATE TABLE room_records (
    chat_id         BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The latest keyless entry (§5.4); NULL before the first.
    entry_at        BIGINT,
    join_message_at BIGINT,
    PRIMARY KEY (chat_id, user_id)
);

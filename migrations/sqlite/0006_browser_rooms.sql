-- Browser rooms (92-browser-rooms §4.1, §10.1): one record per run of a chat's browser machine,
-- and the heartbeat of every node that can run machines. Live state (host, queue, page) is kept
-- by the owning node only; viewer_count is what it last published for the views of every node.

CREATE TABLE browser_machines (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id           BIGINT  NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    state             TEXT    NOT NULL CHECK (state IN ('starting', 'running', 'stopping', 'stopped')),
    engine            TEXT    NOT NULL CHECK (engine IN ('process', 'docker')),
    -- The owning node's identity and the address other nodes relay to (NULL: none configured).
    node              TEXT    NOT NULL,
    node_address      TEXT,
    -- Kept when that user is deleted (00-conventions §1.6): no foreign key.
    started_by        BIGINT  NOT NULL,
    route             TEXT    NOT NULL CHECK (route IN ('portal', 'admin')),
    browser           TEXT    NOT NULL,
    start_url         TEXT,
    kiosk             BIGINT  NOT NULL CHECK (kiosk IN (0, 1)),
    started_at        BIGINT  NOT NULL,
    running_since     BIGINT,
    stopped_at        BIGINT,
    stop_reason       TEXT    CHECK (stop_reason IN ('requested', 'idle', 'crashed', 'capacity', 'start_failed', 'chat_deleted', 'shutdown', 'node_lost')),
    stopped_by        BIGINT,
    -- A stop asked for on any node; the owning node acts on it (§4.4).
    stop_requested    BIGINT  NOT NULL DEFAULT 0 CHECK (stop_requested IN (0, 1)),
    stop_requested_by BIGINT,
    -- The route whose BROWSER_STOP row the stop owes (§13), NULL when none is owed.
    stop_audit_route  TEXT    CHECK (stop_audit_route IN ('portal', 'admin')),
    viewer_count      BIGINT  NOT NULL DEFAULT 0
);
-- At most one machine per chat that is not stopped (§4.1).
CREATE UNIQUE INDEX browser_machines_live_chat_idx ON browser_machines (chat_id) WHERE state <> 'stopped';
CREATE INDEX browser_machines_node_idx ON browser_machines (node, state);
CREATE INDEX browser_machines_starter_idx ON browser_machines (started_by, state);
CREATE INDEX browser_machines_stopped_idx ON browser_machines (stopped_at);

CREATE TABLE browser_nodes (
    identity     TEXT   PRIMARY KEY,
    engine       TEXT   NOT NULL,
    max_machines BIGINT NOT NULL,
    beat_at      BIGINT NOT NULL
);

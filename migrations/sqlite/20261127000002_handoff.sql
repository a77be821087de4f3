-- Human handoff: agents, their console sessions, the queue of tickets,
-- internal notes and the audit log of agent actions.
CREATE TABLE agents (
    name          TEXT PRIMARY KEY,
    -- argon2id PHC string
    password_hash TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);

CREATE TABLE agent_sessions (
    -- SHA-256 of the cookie value: a leaked database holds no usable session
    token_hash  TEXT PRIMARY KEY,
    agent       TEXT NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    expires_ms  BIGINT NOT NULL
);

-- One row per handoff; at most one open (waiting or claimed) per conversation.
CREATE TABLE tickets (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id   TEXT NOT NULL REFERENCES conversations(id),
    reason            TEXT NOT NULL,
    priority          INTEGER NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('waiting', 'claimed', 'returned', 'closed')),
    agent             TEXT,
    resolution        TEXT,
    -- the queue position the fan was last told
    notified_position INTEGER,
    created_ms        BIGINT NOT NULL,
    claimed_ms        BIGINT,
    ended_ms          BIGINT
);
CREATE UNIQUE INDEX tickets_open ON tickets (conversation_id) WHERE state IN ('waiting', 'claimed');

CREATE TABLE notes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    agent           TEXT NOT NULL,
    text            TEXT NOT NULL,
    created_ms      BIGINT NOT NULL
);

CREATE TABLE audit (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    agent           TEXT NOT NULL,
    action          TEXT NOT NULL,
    conversation_id TEXT,
    detail          TEXT,
    created_ms      BIGINT NOT NULL
);

-- inbound: 1 when the bot did not understand it (the console's top fallbacks)
ALTER TABLE messages ADD COLUMN fallback INTEGER NOT NULL DEFAULT 0;

-- Conversations and their messages. Trackers are JSON so any replica can resume.
CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    channel     TEXT NOT NULL,
    tracker     TEXT,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    sender          TEXT NOT NULL,
    text            TEXT NOT NULL,
    payload         TEXT,
    -- outbound: the reply parts as JSON
    parts           TEXT,
    -- inbound: what NLU made of it, as JSON
    nlu             TEXT,
    -- inbound: 1 once its replies are stored
    processed       INTEGER NOT NULL DEFAULT 0,
    -- outbound: 1 once the channel delivered it
    delivered       INTEGER NOT NULL DEFAULT 0,
    reply_to        INTEGER REFERENCES messages(id),
    created_ms      BIGINT NOT NULL
);

CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE INDEX messages_pending ON messages (processed) WHERE direction = 'in' AND processed = 0;

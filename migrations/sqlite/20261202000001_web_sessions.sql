-- Web chat sessions: the SHA-256 of each token that opens a conversation
-- (a leaked database holds no usable token). A conversation may have
-- several (a verified customer's devices); it has none until a widget asks
-- for one, and the conversation row itself appears with its first message.
-- Conversations from before this table (web chat ids the old widget made
-- up) have no session: they stay in the store and the console, reachable
-- with an API key; their widget opens a new session.
CREATE TABLE web_sessions (
    token_hash      TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    created_ms      BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_conversation ON web_sessions (conversation_id, created_ms);

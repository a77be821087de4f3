-- Deleting a conversation (retention, erasure) looks up every row that
-- refers to it and to its messages. Without these indexes each deleted
-- message made SQLite scan the whole messages table for replies to it (the
-- `reply_to` foreign key), and tickets, notes and the audit log were
-- scanned per conversation: a retention sweep of 1,000 old conversations
-- stalled turns for seconds under load.
CREATE INDEX messages_by_reply_to ON messages (reply_to);
CREATE INDEX tickets_by_conversation ON tickets (conversation_id);
CREATE INDEX notes_by_conversation ON notes (conversation_id);
CREATE INDEX audit_by_conversation ON audit (conversation_id);
-- And the one other foreign key, so that every one is looked up by index.
CREATE INDEX agent_sessions_by_agent ON agent_sessions (agent);

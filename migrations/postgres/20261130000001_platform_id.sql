-- The platform's own id of an inbound message: a redelivered update
-- (Telegram after a crash before the offset moved on, a Discord gateway
-- resume) is stored once and answered once.
ALTER TABLE messages ADD COLUMN platform_id TEXT;
CREATE UNIQUE INDEX messages_platform_id ON messages (conversation_id, platform_id) WHERE platform_id IS NOT NULL;

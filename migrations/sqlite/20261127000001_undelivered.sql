-- Replies no channel has reported delivered: resent when the channel starts.
CREATE INDEX messages_undelivered ON messages (delivered) WHERE direction = 'out' AND delivered = 0;

-- Privacy: SHA-256 hashes of the emails fans gave (lower-cased), so that
-- `usher fans export|erase --email` finds their conversations although the
-- stored transcripts hold only placeholders; and the retention sweep's
-- index.
CREATE TABLE fan_keys (
    conversation_id TEXT NOT NULL,
    key_hash        TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, key_hash)
);
CREATE INDEX fan_keys_by_hash ON fan_keys (key_hash);
CREATE INDEX conversations_by_updated ON conversations (updated_ms);

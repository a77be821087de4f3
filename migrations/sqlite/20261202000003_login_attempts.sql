-- Sign-in attempts per key ("address" or "address/name") in one-minute
-- windows, in the store so that replicas share the limit and a restart
-- does not reset it.
CREATE TABLE login_attempts (
    key        TEXT PRIMARY KEY,
    -- when the key's current window began (ms since the epoch)
    window_ms  BIGINT NOT NULL,
    attempts   BIGINT NOT NULL
);
CREATE INDEX login_attempts_by_window ON login_attempts (window_ms);

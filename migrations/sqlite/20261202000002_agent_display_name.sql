-- The name fans see when an agent joins ("Sam from the support team"):
-- chosen by the agent's admin, never the login name. NULL: "Someone".
ALTER TABLE agents ADD COLUMN display_name TEXT;

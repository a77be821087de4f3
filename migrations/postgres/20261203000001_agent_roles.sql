-- Console roles: `agent` (handles conversations), `trainer` (turns fans'
-- messages into training examples), `admin` (everything, and the audit log).
-- Accounts from before roles keep what they could do: admin.
ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';

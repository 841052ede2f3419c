CREATE INDEX IF NOT EXISTS auditlog_entries_action_idx ON auditlog_entries (action, timestamp, id);

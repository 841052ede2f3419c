CREATE INDEX auditlog_entries_action_idx ON auditlog_entries (action, timestamp, id);

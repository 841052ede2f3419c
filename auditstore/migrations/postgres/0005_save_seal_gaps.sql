ALTER TABLE auditlog_seal_state ADD COLUMN gaps TEXT;

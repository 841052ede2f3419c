ALTER TABLE auditlog_seal_state ADD COLUMN gaps MEDIUMTEXT NULL;

ALTER TABLE auditlog_relay_state ADD COLUMN destination TEXT NULL;

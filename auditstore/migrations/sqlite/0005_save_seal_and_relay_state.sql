ALTER TABLE auditlog_seal_state ADD COLUMN gaps TEXT;

ALTER TABLE auditlog_relay_state ADD COLUMN destination TEXT;

CREATE TABLE auditlog_seal_prunes (
	seq INTEGER PRIMARY KEY,
	pruned_at BIGINT NOT NULL,
	pruned_by VARCHAR(255) NOT NULL,
	leaves BIGINT NOT NULL,
	digest BLOB NOT NULL
);

ALTER TABLE auditlog_seal_leaves ADD COLUMN prune_seq BIGINT;

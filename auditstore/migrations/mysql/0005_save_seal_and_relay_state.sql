ALTER TABLE auditlog_seal_state ADD COLUMN gaps MEDIUMTEXT NULL;

ALTER TABLE auditlog_relay_state ADD COLUMN destination TEXT NULL;

CREATE TABLE auditlog_seal_prunes (
	seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	pruned_at BIGINT NOT NULL,
	pruned_by VARCHAR(255) NOT NULL,
	leaves BIGINT NOT NULL,
	digest BINARY(32) NOT NULL
) ENGINE=InnoDB;

ALTER TABLE auditlog_seal_leaves ADD COLUMN prune_seq BIGINT NULL;

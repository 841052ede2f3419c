CREATE TABLE auditlog_seal_leaves (
	leaf_index BIGINT NOT NULL PRIMARY KEY,
	entry_id BIGINT NOT NULL UNIQUE,
	leaf_hash BINARY(32) NOT NULL,
	pruned_at BIGINT,
	pruned_by VARCHAR(255)
) ENGINE=InnoDB;

CREATE TABLE auditlog_seal_hashes (
	idx BIGINT NOT NULL PRIMARY KEY,
	hash BINARY(32) NOT NULL
) ENGINE=InnoDB;

CREATE TABLE auditlog_seal_checkpoints (
	size BIGINT NOT NULL PRIMARY KEY,
	note TEXT NOT NULL,
	signed_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE auditlog_seal_state (
	id INTEGER NOT NULL PRIMARY KEY,
	next_id BIGINT NOT NULL
) ENGINE=InnoDB;

CREATE TABLE auditlog_seal_verifications (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	verified_at BIGINT NOT NULL,
	ok BOOLEAN NOT NULL,
	leaves BIGINT NOT NULL,
	problems BIGINT NOT NULL,
	summary TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

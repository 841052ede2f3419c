CREATE TABLE auditlog_seal_leaves (
	leaf_index BIGINT PRIMARY KEY,
	entry_id BIGINT NOT NULL UNIQUE,
	leaf_hash BYTEA NOT NULL,
	pruned_at BIGINT,
	pruned_by VARCHAR(255)
);

CREATE TABLE auditlog_seal_hashes (
	idx BIGINT PRIMARY KEY,
	hash BYTEA NOT NULL
);

CREATE TABLE auditlog_seal_checkpoints (
	size BIGINT PRIMARY KEY,
	note TEXT NOT NULL,
	signed_at BIGINT NOT NULL
);

CREATE TABLE auditlog_seal_state (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	next_id BIGINT NOT NULL
);

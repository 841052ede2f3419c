CREATE TABLE auditlog_seal_leaves (
	leaf_index INTEGER PRIMARY KEY,
	entry_id BIGINT NOT NULL UNIQUE,
	leaf_hash BLOB NOT NULL,
	pruned_at BIGINT,
	pruned_by VARCHAR(255)
);

CREATE TABLE auditlog_seal_hashes (
	idx INTEGER PRIMARY KEY,
	hash BLOB NOT NULL
);

CREATE TABLE auditlog_seal_checkpoints (
	size INTEGER PRIMARY KEY,
	note TEXT NOT NULL,
	signed_at BIGINT NOT NULL
);

CREATE TABLE auditlog_seal_state (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	next_id BIGINT NOT NULL
);

CREATE TABLE auditlog_seal_verifications (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	verified_at BIGINT NOT NULL,
	ok INTEGER NOT NULL,
	leaves BIGINT NOT NULL,
	problems BIGINT NOT NULL,
	summary TEXT NOT NULL
);

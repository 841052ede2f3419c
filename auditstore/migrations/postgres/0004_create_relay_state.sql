CREATE TABLE auditlog_relay_state (
	name VARCHAR(255) PRIMARY KEY,
	hi BIGINT NOT NULL,
	gaps TEXT NOT NULL,
	relayed BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS auditlog_migrations (version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at DATETIME(6) NOT NULL);

CREATE TABLE auditlog_entries (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	timestamp DATETIME(6) NOT NULL,
	action SMALLINT NOT NULL,
	model VARCHAR(255) NOT NULL,
	object_pk VARCHAR(255) NOT NULL,
	object_id BIGINT,
	object_repr TEXT NOT NULL,
	changes JSON,
	serialized_data JSON,
	additional_data JSON,
	actor_id VARCHAR(255),
	actor_name VARCHAR(255),
	remote_addr VARCHAR(45),
	remote_port INTEGER,
	cid VARCHAR(255)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE INDEX auditlog_entries_object_id_idx ON auditlog_entries (model, object_id, timestamp, id);

CREATE INDEX auditlog_entries_object_pk_idx ON auditlog_entries (model, object_pk, timestamp, id);

CREATE INDEX auditlog_entries_model_idx ON auditlog_entries (model, timestamp, id);

CREATE INDEX auditlog_entries_actor_idx ON auditlog_entries (actor_id, timestamp, id);

CREATE INDEX auditlog_entries_cid_idx ON auditlog_entries (cid, timestamp, id);

CREATE INDEX auditlog_entries_timestamp_idx ON auditlog_entries (timestamp, id);

INSERT INTO auditlog_migrations (version, name, applied_at) VALUES (1, 'create auditlog_entries', CURRENT_TIMESTAMP);

CREATE INDEX auditlog_entries_action_idx ON auditlog_entries (action, timestamp, id);

INSERT INTO auditlog_migrations (version, name, applied_at) VALUES (2, 'index entries by action', CURRENT_TIMESTAMP);


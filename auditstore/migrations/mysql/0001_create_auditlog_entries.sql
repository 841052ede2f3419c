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

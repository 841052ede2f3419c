CREATE TABLE auditlog_entries (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	timestamp TEXT NOT NULL,
	action SMALLINT NOT NULL,
	model VARCHAR(255) NOT NULL,
	object_pk VARCHAR(255) NOT NULL,
	object_id BIGINT,
	object_repr TEXT NOT NULL,
	changes TEXT,
	serialized_data TEXT,
	additional_data TEXT,
	actor_id VARCHAR(255),
	actor_name VARCHAR(255),
	remote_addr VARCHAR(45),
	remote_port INTEGER,
	cid VARCHAR(255)
);

CREATE INDEX auditlog_entries_object_id_idx ON auditlog_entries (model, object_id, timestamp, id) WHERE object_id IS NOT NULL;

CREATE INDEX auditlog_entries_object_pk_idx ON auditlog_entries (model, object_pk, timestamp, id) WHERE object_id IS NULL;

CREATE INDEX auditlog_entries_model_idx ON auditlog_entries (model, timestamp, id);

CREATE INDEX auditlog_entries_actor_idx ON auditlog_entries (actor_id, timestamp, id) WHERE actor_id IS NOT NULL;

CREATE INDEX auditlog_entries_cid_idx ON auditlog_entries (cid, timestamp, id) WHERE cid IS NOT NULL;

CREATE INDEX auditlog_entries_timestamp_idx ON auditlog_entries (timestamp, id);

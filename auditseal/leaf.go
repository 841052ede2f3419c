// Package auditseal makes the entries table tamper-evident: a sealer
// appends every committed entry, in the order it first sees it committed,
// as a leaf of a Merkle tree (RFC 6962 hashing, golang.org/x/mod/sumdb/tlog)
// and signs a checkpoint of the tree after each round (a C2SP
// tlog-checkpoint, signed as a note with Ed25519); Verify recomputes every
// leaf from the entries and the tree from the leaves, and checks every
// checkpoint. An entry edited, deleted, inserted into the sealed range or
// moved, and a checkpoint forged or rolled back, are found with the entry
// id or the checkpoint named.
//
// The sealer adds nothing to the write transaction: it reads committed
// entries afterwards, in rounds, in a transaction of its own.
package auditseal

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/go-auditlog/auditlog/auditstore"
)

// LeafVersion names the encoding of an entry as a leaf. It is the leaf's
// first element, so that a later encoding can be told apart.
const LeafVersion = "auditlog-entry/1"

// entryColumns are the columns of an entry a leaf covers: every column.
const entryColumns = "id, timestamp, action, model, object_pk, object_id, object_repr, changes, serialized_data, additional_data, actor_id, actor_name, remote_addr, remote_port, cid"

// rawEntry is one entry's columns as the database returned them.
// (The NOT NULL columns are read as nullable too: a leaf whose entry was
// deleted reads them as NULL through its outer join.)
type rawEntry struct {
	id                              int64
	ts                              any
	action                          sql.NullInt64
	model, pk, repr                 sql.NullString
	objectID, port                  sql.NullInt64
	changes, serialized, additional []byte
	actorID, actorName, addr, cid   sql.NullString
}

func (r *rawEntry) dest() []any {
	return []any{&r.id, &r.ts, &r.action, &r.model, &r.pk, &r.objectID, &r.repr, &r.changes, &r.serialized, &r.additional,
		&r.actorID, &r.actorName, &r.addr, &r.port, &r.cid}
}

// leafData is the entry as a leaf: a JSON array of every column in
// entryColumns' order after LeafVersion, null for NULL, the timestamp in
// RFC 3339 UTC, and the JSON columns in a canonical form (keys sorted, no
// insignificant space, numbers as written), so that the bytes depend only
// on what the database holds, not on how its driver spells it. It is what
// an inclusion proof carries: an auditor can read it.
func leafData(d auditstore.Dialect, r *rawEntry) ([]byte, error) {
	ts, err := auditstore.DecodeTime(d, r.ts)
	if err != nil {
		return nil, fmt.Errorf("auditseal: entry %d: %w", r.id, err)
	}
	cols := []any{LeafVersion, r.id, ts.UTC().Format(time.RFC3339Nano), r.action.Int64, r.model.String, r.pk.String, nullInt(r.objectID), r.repr.String}
	for _, raw := range [][]byte{r.changes, r.serialized, r.additional} {
		c, err := canonicalJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("auditseal: entry %d: %w", r.id, err)
		}
		cols = append(cols, c)
	}
	cols = append(cols, nullString(r.actorID), nullString(r.actorName), nullString(r.addr), nullInt(r.port), nullString(r.cid))
	return json.Marshal(cols)
}

// LeafHash is the RFC 6962 hash of a leaf's data.
func LeafHash(data []byte) tlog.Hash { return tlog.RecordHash(data) }

func nullInt(n sql.NullInt64) any {
	if !n.Valid {
		return nil
	}
	return n.Int64
}

func nullString(s sql.NullString) any {
	if !s.Valid {
		return nil
	}
	return s.String
}

// canonicalJSON re-encodes a JSON column; nil stays nil (null).
func canonicalJSON(raw []byte) (json.RawMessage, error) {
	if raw == nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("a JSON column does not parse: %w", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return out, nil
}

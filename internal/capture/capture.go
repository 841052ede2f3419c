// Package capture holds the part of change capture that does not depend on
// a data layer: given the columns of an audited table and the normalised
// values of a row before and after a write, it computes the changes,
// masks, snapshots, keys and reprs of the entry. The GORM adapter
// (auditgorm) reads rows and runs statements; another adapter would reuse
// this package as it is.
package capture

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/go-auditlog/auditlog"
)

// MaxValueBytes is the largest value an entry stores as it is. A larger one
// (a 9 MiB text column, say) is recorded as {"$digest": "sha256:…",
// "$bytes": n}, the digest and length of its JSON form: the entry still
// proves what the value was, and no entry statement grows past a server's
// packet limit (MySQL's max_allowed_packet) because of it.
const MaxValueBytes = 1 << 20

// Column is one column of an audited table.
type Column struct {
	Name    string
	Audited bool
	// Noise columns (auto-updated timestamps) never make an update entry on
	// their own and are left out of update changes.
	Noise  bool
	Masked bool
}

// Table describes an audited table: its columns, in the order row values
// come in, and which of them form the key and the snapshot.
type Table struct {
	Model    string // the name entries carry
	Columns  []Column
	PK       []int // indexes into Columns
	IntPK    bool  // a single integer key: entries carry object_id
	Snapshot []int // columns of serialized_data; none for no snapshot
	Mask     auditlog.MaskFunc
}

var jsonNull = json.RawMessage("null")

// Stored is the form of v that may reach the database: a masked column's
// value masked (a null stays null).
func (t *Table) Stored(col int, v auditlog.Value) auditlog.Value {
	if !t.Columns[col].Masked || v.IsNull() {
		return v
	}
	return auditlog.StringValue(t.Mask(v.Text()))
}

// Recorded is the JSON an entry stores for v in column col: masked where
// registered, a digest when larger than MaxValueBytes.
func (t *Table) Recorded(col int, v auditlog.Value) []byte {
	b := t.Stored(col, v).AppendJSON(nil)
	if len(b) <= MaxValueBytes {
		return b
	}
	sum := sha256.Sum256(b)
	return fmt.Appendf(nil, `{"$digest":"sha256:%s","$bytes":%d}`, hex.EncodeToString(sum[:]), len(b))
}

// Key returns the object key text of a row and, for an integer key, the
// integer. The text is "" when the key is null.
func (t *Table) Key(vals []auditlog.Value) (string, *int64) {
	if len(t.PK) == 1 {
		v := vals[t.PK[0]]
		if v.IsNull() {
			return "", nil
		}
		if t.IntPK {
			if i, ok := v.Int64(); ok {
				return strconv.FormatInt(i, 10), &i
			}
		}
		return v.Text(), nil
	}
	return string(t.KeyJSON(vals)), nil
}

// KeyJSON is the key as JSON: the typed value, or an array for a composite
// key.
func (t *Table) KeyJSON(vals []auditlog.Value) []byte {
	if len(t.PK) == 1 {
		return vals[t.PK[0]].AppendJSON(nil)
	}
	b := []byte{'['}
	for i, c := range t.PK {
		if i > 0 {
			b = append(b, ',')
		}
		b = vals[c].AppendJSON(b)
	}
	return append(b, ']')
}

// SnapshotOf encodes a row's state for serialized_data, or nil when the
// table keeps no snapshot.
func (t *Table) SnapshotOf(vals []auditlog.Value) json.RawMessage {
	if len(t.Snapshot) == 0 {
		return nil
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"model":`...)
	name, _ := json.Marshal(t.Model)
	b = append(b, name...)
	b = append(b, `,"pk":`...)
	b = append(b, t.KeyJSON(vals)...)
	b = append(b, `,"fields":{`...)
	for i, c := range t.Snapshot {
		if i > 0 {
			b = append(b, ',')
		}
		col, _ := json.Marshal(t.Columns[c].Name)
		b = append(b, col...)
		b = append(b, ':')
		b = append(b, t.Recorded(c, vals[c])...)
	}
	return append(b, '}', '}')
}

// Created records every audited non-null value of a new row.
func (t *Table) Created(vals []auditlog.Value) auditlog.Changes {
	changes := auditlog.Changes{}
	for i, c := range t.Columns {
		if v := vals[i]; c.Audited && !v.IsNull() {
			changes[c.Name] = auditlog.Change{Old: jsonNull, New: t.Recorded(i, v)}
		}
	}
	return changes
}

// Deleted records every audited non-null value of a deleted row.
func (t *Table) Deleted(vals []auditlog.Value) auditlog.Changes {
	changes := auditlog.Changes{}
	for i, c := range t.Columns {
		if v := vals[i]; c.Audited && !v.IsNull() {
			changes[c.Name] = auditlog.Change{Old: t.Recorded(i, v), New: jsonNull}
		}
	}
	return changes
}

// Diff records the audited columns whose values differ between old and
// new. For an update, noise columns are left out, and nil means the write
// changed nothing worth an entry.
func (t *Table) Diff(action auditlog.Action, old, new []auditlog.Value) auditlog.Changes {
	changes := auditlog.Changes{}
	for i, c := range t.Columns {
		if !c.Audited || (action == auditlog.ActionUpdate && c.Noise) {
			continue
		}
		if a, b := old[i], new[i]; !a.Equal(b) {
			changes[c.Name] = auditlog.Change{Old: t.Recorded(i, a), New: t.Recorded(i, b)}
		}
	}
	if len(changes) == 0 && action == auditlog.ActionUpdate {
		return nil
	}
	return changes
}

// Base fills what the context says about every entry of one statement.
func Base(ctx context.Context, model string, now time.Time) auditlog.Entry {
	e := auditlog.Entry{Model: model, Timestamp: now.UTC().Truncate(time.Microsecond)}
	if a, ok := auditlog.ActorFromContext(ctx); ok {
		e.ActorID, e.ActorName = a.ID, a.Name
	}
	e.RemoteAddr, e.RemotePort = auditlog.RemoteAddrFromContext(ctx)
	e.CorrelationID = auditlog.CorrelationIDFromContext(ctx)
	return e
}

// Repr is an object's display text: its AuditRepr or String, else
// "typeName(key)". Pass the object's pointer when it has one, so that
// methods on either receiver are found.
func Repr(objs []any, typeName, key string) string {
	for _, o := range objs {
		switch o := o.(type) {
		case auditlog.Reprer:
			return o.AuditRepr()
		case fmt.Stringer:
			return o.String()
		}
	}
	return typeName + "(" + key + ")"
}

// AdditionalData merges an object's own additional data (own, from
// auditlog.AdditionalDataProvider) with the context's extra data: the
// object's keys win; an own value that is not an object goes under "data".
func AdditionalData(extra map[string]any, own any) (json.RawMessage, error) {
	var v any
	switch {
	case own == nil && len(extra) == 0:
		return nil, nil
	case len(extra) == 0:
		v = own
	case own == nil:
		v = extra
	default:
		raw, err := json.Marshal(own)
		if err != nil {
			return nil, fmt.Errorf("additional data: %w", err)
		}
		var obj map[string]any
		if json.Unmarshal(raw, &obj) == nil && obj != nil {
			for k, x := range extra {
				if _, taken := obj[k]; !taken {
					obj[k] = x
				}
			}
			v = obj
		} else {
			merged := map[string]any{"data": json.RawMessage(raw)}
			for k, x := range extra {
				if k != "data" {
					merged[k] = x
				}
			}
			v = merged
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("additional data: %w", err)
	}
	if string(raw) == "null" {
		return nil, nil
	}
	return raw, nil
}

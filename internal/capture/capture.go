// Package capture holds the part of change capture that does not depend on
// a data layer: given the columns of an audited table and the normalised
// values of a row before and after a write, it computes the changes,
// masks, snapshots, keys and reprs of the entry. The GORM adapter
// (auditgorm) reads rows and runs statements; another adapter would reuse
// this package as it is.
package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/value"
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

// jsonNull is shared by every change with a null side: capped, so that
// appending to one copies it.
var jsonNull = json.RawMessage("null")[:4:4]

// Stored is the form of v that may reach the database: a masked column's
// value masked (a null stays null).
func (t *Table) Stored(col int, v value.Value) value.Value {
	if !t.Columns[col].Masked || v.IsNull() {
		return v
	}
	return value.StringValue(t.Mask(v.Text()))
}

// Recorded is the JSON an entry stores for v in column col: masked where
// registered, a digest when larger than MaxValueBytes.
func (t *Table) Recorded(col int, v value.Value) []byte {
	return t.appendRecorded(nil, col, v)
}

// appendRecorded appends Recorded(col, v) to b.
func (t *Table) appendRecorded(b []byte, col int, v value.Value) []byte {
	start := len(b)
	b = t.Stored(col, v).AppendJSON(b)
	if n := len(b) - start; n > MaxValueBytes {
		sum := sha256.Sum256(b[start:])
		b = fmt.Appendf(b[:start], `{"$digest":"sha256:%s","$bytes":%d}`, hex.EncodeToString(sum[:]), n)
	}
	return b
}

// recorder hands out the recorded values of one row's changes from one
// buffer: one allocation for all of them instead of one each. Each value is
// capped at its own length, so that appending to one cannot overwrite the
// next.
type recorder struct {
	t   *Table
	buf []byte
}

func (r *recorder) record(col int, v value.Value) []byte {
	if v.IsNull() { // a masked null stays null (Stored)
		return jsonNull
	}
	if r.buf == nil {
		r.buf = make([]byte, 0, 128)
	}
	start := len(r.buf)
	r.buf = r.t.appendRecorded(r.buf, col, v)
	return r.buf[start:len(r.buf):len(r.buf)]
}

// IsDigest reports whether raw is a digest as Recorded writes it (and not
// a JSON value that merely looks like one): the two keys, a SHA-256 in hex,
// and a length over MaxValueBytes.
func IsDigest(raw []byte) bool {
	if len(raw) == 0 || raw[0] != '{' || !bytes.Contains(raw, []byte(`"$digest"`)) {
		return false
	}
	var keys map[string]json.RawMessage
	var d struct {
		Digest string
		Bytes  int64
	}
	// The keys exactly: a struct's tagged fields would take "$Bytes" too.
	if json.Unmarshal(raw, &keys) != nil || len(keys) != 2 || keys["$digest"] == nil || keys["$bytes"] == nil ||
		json.Unmarshal(keys["$digest"], &d.Digest) != nil || json.Unmarshal(keys["$bytes"], &d.Bytes) != nil {
		return false
	}
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok || len(hexDigest) != 2*sha256.Size || strings.Trim(hexDigest, "0123456789abcdef") != "" {
		return false
	}
	return d.Bytes > MaxValueBytes
}

// Key returns the object key text of a row and, for an integer key, the
// integer. The text is "" when the key is null.
func (t *Table) Key(vals []value.Value) (string, *int64) {
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
func (t *Table) KeyJSON(vals []value.Value) []byte { return t.keyJSON(vals, false) }

func (t *Table) keyJSON(vals []value.Value, stored bool) []byte {
	value := func(b []byte, c int) []byte {
		if stored {
			return t.Stored(c, vals[c]).AppendJSON(b)
		}
		return vals[c].AppendJSON(b)
	}
	if len(t.PK) == 1 {
		return value(nil, t.PK[0])
	}
	b := []byte{'['}
	for i, c := range t.PK {
		if i > 0 {
			b = append(b, ',')
		}
		b = value(b, c)
	}
	return append(b, ']')
}

// MaskedKey reports whether a column of the key is masked.
func (t *Table) MaskedKey() bool {
	for _, c := range t.PK {
		if t.Columns[c].Masked {
			return true
		}
	}
	return false
}

// ObjectKey is the key as entries store it (object_pk, object_id): Key,
// except that masked key columns are masked and a masked key has no
// object_id. Objects whose masked keys coincide share a history.
func (t *Table) ObjectKey(vals []value.Value) (string, *int64) {
	if !t.MaskedKey() {
		return t.Key(vals)
	}
	if len(t.PK) == 1 {
		v := vals[t.PK[0]]
		if v.IsNull() {
			return "", nil
		}
		return t.Stored(t.PK[0], v).Text(), nil
	}
	return string(t.keyJSON(vals, true)), nil
}

// SnapshotOf encodes a row's state for serialized_data, or nil when the
// table keeps no snapshot.
func (t *Table) SnapshotOf(vals []value.Value) json.RawMessage {
	if len(t.Snapshot) == 0 {
		return nil
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"model":`...)
	name, _ := json.Marshal(t.Model)
	b = append(b, name...)
	b = append(b, `,"pk":`...)
	b = append(b, t.keyJSON(vals, true)...)
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
func (t *Table) Created(vals []value.Value) auditlog.Changes {
	changes := make(auditlog.Changes, len(t.Columns))
	r := recorder{t: t}
	for i, c := range t.Columns {
		if v := vals[i]; c.Audited && !v.IsNull() {
			changes[c.Name] = auditlog.Change{Old: jsonNull, New: r.record(i, v)}
		}
	}
	return changes
}

// Deleted records every audited non-null value of a deleted row.
func (t *Table) Deleted(vals []value.Value) auditlog.Changes {
	changes := make(auditlog.Changes, len(t.Columns))
	r := recorder{t: t}
	for i, c := range t.Columns {
		if v := vals[i]; c.Audited && !v.IsNull() {
			changes[c.Name] = auditlog.Change{Old: r.record(i, v), New: jsonNull}
		}
	}
	return changes
}

// Diff records the audited columns whose values differ between old and
// new. For an update, noise columns are left out, and nil means the write
// changed nothing worth an entry.
func (t *Table) Diff(action auditlog.Action, old, new []value.Value) auditlog.Changes {
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

// MinScrubRunes is the shortest clear value Scrubber looks for in text: a
// shorter one would match ordinary words. Shorter secrets are still hidden
// from an object's methods, which run on a copy without them.
const MinScrubRunes = 4

// Excluded stands in for an excluded value that an object's method showed.
const Excluded = "[excluded]"

// Masked stands in for the application's clear value of a field whose
// stored form is masked (a field with a custom serializer, whose Go value is
// not what the database holds).
const Masked = "[masked]"

// Scrubber replaces clear secret values in text that an object's own
// methods produced (its repr and its additional data) with what an entry
// may show instead: the masked value, or Excluded.
type Scrubber struct {
	pairs []string // clear, stand-in, … longest clear first
	text  *strings.Replacer
	// seen maps the clear values to their stand-ins once there are many
	// (the secrets of every row of a statement), so that Add and the
	// look-up of a number stay linear.
	seen map[string]string
}

// Add registers a clear value and its stand-in. Values shorter than
// MinScrubRunes, and values equal to their stand-in, are ignored.
func (s *Scrubber) Add(clear, standIn string) {
	if utf8.RuneCountInString(clear) < MinScrubRunes || clear == standIn {
		return
	}
	if _, dup := s.standIn(clear); dup {
		return
	}
	s.pairs = append(s.pairs, clear, standIn)
	switch {
	case s.seen != nil:
		s.seen[clear] = standIn
	case len(s.pairs) > 32:
		s.seen = make(map[string]string, len(s.pairs))
		for i := 0; i < len(s.pairs); i += 2 {
			s.seen[s.pairs[i]] = s.pairs[i+1]
		}
	}
	s.text = nil
}

// Empty reports whether there is nothing to scrub.
func (s *Scrubber) Empty() bool { return s == nil || len(s.pairs) == 0 }

func (s *Scrubber) build() {
	if s.text != nil {
		return
	}
	type pair struct{ clear, standIn string }
	ps := make([]pair, 0, len(s.pairs)/2)
	for i := 0; i < len(s.pairs); i += 2 {
		ps = append(ps, pair{s.pairs[i], s.pairs[i+1]})
	}
	// strings.Replacer tries its pairs in argument order: the longest
	// clear value wins where one contains another.
	sort.SliceStable(ps, func(i, j int) bool { return len(ps[i].clear) > len(ps[j].clear) })
	var text []string
	for _, p := range ps {
		text = append(text, p.clear, p.standIn)
	}
	s.text = strings.NewReplacer(text...)
}

// Text scrubs plain text.
func (s *Scrubber) Text(in string) string {
	if s.Empty() {
		return in
	}
	s.build()
	return s.text.Replace(in)
}

// JSON scrubs encoded JSON: clear values are replaced inside its strings,
// and a number that equals a clear value becomes its stand-in as a string,
// so the result stays valid JSON.
func (s *Scrubber) JSON(in json.RawMessage) json.RawMessage {
	if s.Empty() || in == nil {
		return in
	}
	s.build()
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return in // not JSON: the entry's validation refuses it as it is
	}
	out, err := json.Marshal(s.walk(v))
	if err != nil {
		return in
	}
	return out
}

// walk scrubs the strings of a decoded JSON value and replaces scalars equal
// to a clear value.
func (s *Scrubber) walk(v any) any {
	switch v := v.(type) {
	case string:
		return s.bytesText(s.text.Replace(v))
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[s.text.Replace(k)] = s.walk(x)
		}
		return out
	case []any:
		for i, x := range v {
			v[i] = s.walk(x)
		}
		return v
	case json.Number:
		if standIn, ok := s.standIn(string(v)); ok {
			return standIn
		}
	}
	// true, false and null say nothing of a secret spelled the same way.
	return v
}

// bytesText scrubs a JSON string that is the base64 of bytes (how Go's
// encoder writes a []byte, extra data given a secret as bytes, say): its
// decoded text is scrubbed, and encoded again where that changed it.
func (s *Scrubber) bytesText(v string) string {
	if len(v) < 8 || len(v)%4 != 0 {
		return v
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return v
	}
	if clean := s.text.Replace(string(raw)); clean != string(raw) {
		return base64.StdEncoding.EncodeToString([]byte(clean))
	}
	return v
}

// standIn returns the stand-in of a clear value, or false.
func (s *Scrubber) standIn(clear string) (string, bool) {
	if s.seen != nil {
		standIn, ok := s.seen[clear]
		return standIn, ok
	}
	for i := 0; i < len(s.pairs); i += 2 {
		if s.pairs[i] == clear {
			return s.pairs[i+1], true
		}
	}
	return "", false
}

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
	"io"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/go-auditlog/auditlog/auditstore"
)

// LeafVersion names the encoding of an entry as a leaf. It is the leaf's
// first element, so that a later encoding can be told apart.
const LeafVersion = "auditlog-entry/1"

// A leaf covers every column of its entry, read as auditstore.ReadColumns
// selects them (on MySQL the timestamp as text, as stored).

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
// auditstore.SelectColumns' order after LeafVersion, null for NULL, the timestamp in
// RFC 3339 UTC, and the JSON columns in a canonical form (keys sorted, no
// insignificant space, numbers as written), so that the bytes depend only
// on what the database holds, not on how its driver spells it. It is what
// an inclusion proof carries: an auditor can read it.
func leafData(d auditstore.Dialect, r *rawEntry) ([]byte, error) {
	var at any
	if ts, err := auditstore.DecodeTime(d, r.ts); err == nil {
		at = ts.UTC().Format(time.RFC3339Nano)
	} else if raw, ok := storedBytes(r.ts); ok {
		// Text that is no time (a column changed by hand): sealed as it is,
		// as a JSON column that does not decode is, and Verify reports it.
		at = []any{"bytes", raw}
	} else {
		return nil, fmt.Errorf("auditseal: entry %d: %w", r.id, err)
	}
	cols := []any{LeafVersion, r.id, at, r.action.Int64, text(r.model), text(r.pk), nullInt(r.objectID), text(r.repr)}
	for _, raw := range [][]byte{r.changes, r.serialized, r.additional} {
		cols = append(cols, jsonColumn(raw))
	}
	cols = append(cols, text(r.actorID), text(r.actorName), text(r.addr), nullInt(r.port), text(r.cid))
	return json.Marshal(cols)
}

// text is a text column as a leaf holds it: a JSON string, null for NULL,
// or ["bytes", base64] where it is not valid UTF-8 (which JSON would
// replace, so that two values would encode alike).
func text(s sql.NullString) any {
	if !s.Valid {
		return nil
	}
	if !utf8.ValidString(s.String) {
		return []any{"bytes", []byte(s.String)}
	}
	return s.String
}

// storedBytes is a timestamp column's value that is text or bytes.
func storedBytes(v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		return []byte(v), true
	case []byte:
		return v, true
	}
	return nil, false
}

// LeafHash is the RFC 6962 hash of a leaf's data.
func LeafHash(data []byte) tlog.Hash { return tlog.RecordHash(data) }

func nullInt(n sql.NullInt64) any {
	if !n.Valid {
		return nil
	}
	return n.Int64
}

// jsonColumn is a JSON column as a leaf holds it: ["json", its value
// re-encoded canonically] (keys sorted, no insignificant space, numbers as
// written), null for NULL, or ["bytes", base64 of the stored bytes] where
// the canonical form would lose something: text that is not one valid JSON
// value, invalid UTF-8, an object with a key twice (decoders disagree on
// which one counts), nesting too deep to decode. Any stored value seals,
// and two different stored values never give one leaf.
func jsonColumn(raw []byte) any {
	if raw == nil {
		return nil
	}
	if c, ok := canonicalJSON(raw); ok {
		return []any{"json", c}
	}
	return []any{"bytes", raw}
}

// canonicalJSON re-encodes raw, or reports false where that would lose
// something (see jsonColumn).
func canonicalJSON(raw []byte) (json.RawMessage, bool) {
	if !utf8.Valid(raw) || loneSurrogate(raw) || duplicateKeys(raw) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // more after the value
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	return out, true
}

// loneSurrogate reports whether raw escapes a UTF-16 surrogate that is
// not half of a valid pair (\ud800 alone): decoders replace it with
// U+FFFD (Go's) or keep it (others), so values that differ would
// canonicalise alike.
func loneSurrogate(raw []byte) bool {
	hex4 := func(i int) (rune, bool) { // the \uXXXX at raw[i]
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range raw[i+2 : i+6] {
			switch {
			case '0' <= c && c <= '9':
				r = r<<4 | rune(c-'0')
			case 'a' <= c && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case 'A' <= c && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // another escape: \\, \", \n …
			continue
		}
		switch {
		case 0xd800 <= r && r < 0xdc00:
			if lo, ok := hex4(i + 6); ok && 0xdc00 <= lo && lo < 0xe000 {
				i += 11
				continue
			}
			return true
		case 0xdc00 <= r && r < 0xe000:
			return true
		}
		i += 5
	}
	return false
}

// duplicateKeys reports whether an object in raw has a key twice (or raw
// does not parse).
func duplicateKeys(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	type frame struct {
		keys   map[string]bool
		object bool
		key    bool // the next token is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return true
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			k, ok := tok.(string)
			if !ok {
				if d, ok := tok.(json.Delim); !ok || d != '}' {
					return true
				}
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true // the object was a value
				}
				continue
			}
			if top.keys[k] {
				return true
			}
			top.keys[k] = true
			top.key = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{':
			stack = append(stack, frame{keys: map[string]bool{}, object: true, key: true})
			continue
		case '[':
			stack = append(stack, frame{})
			continue
		case '}', ']':
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a key comes next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}

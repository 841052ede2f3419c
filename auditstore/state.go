package auditstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/capture"
	"github.com/go-auditlog/auditlog/internal/value"
)

// An object's state at a moment, rebuilt from its entries alone: the create
// entry gives every value (it names those that are not null), each later
// entry the values it changed, a many-to-many entry the related objects it
// added or removed. Where the entries do not say what a value was, the
// state says why instead of guessing. auditgorm.AsOf fills a Go object from
// it with what the model's registration adds (masked, excluded and
// auto-updated fields); the command line and the admin UI use it with what
// the entries alone tell.

// Unknown says why a value at some moment cannot be told from the entries.
type Unknown string

const (
	// UnknownExcluded: the field is not audited: no entry records it.
	UnknownExcluded Unknown = "excluded"
	// UnknownMasked: the entries hold the field masked.
	UnknownMasked Unknown = "masked"
	// UnknownNotRecorded: the entries do not record this value: an
	// auto-updated timestamp (update entries leave it out, and an UPDATE
	// that changes nothing else moves it without an entry).
	UnknownNotRecorded Unknown = "not recorded"
	// UnknownBeforeAuditing: the object has no create entry (it was created
	// before auditing began, or took this key by a key change) and no entry
	// records the value it held then.
	UnknownBeforeAuditing Unknown = "before auditing"
	// UnknownTooLarge: the value was larger than the largest value an entry
	// holds and is recorded as its digest.
	UnknownTooLarge Unknown = "too large"
	// UnknownUnreadable: the recorded value does not convert back into the
	// field's Go type exactly (a type changed since, say).
	UnknownUnreadable Unknown = "unreadable"
)

// EntriesOnlyRules are the rules for a model that is not at hand (the
// command line, the admin UI served alone): every column the entries name,
// and GORM's auto-updated timestamp updated_at, which update entries leave
// out, as not recorded.
func EntriesOnlyRules() StateRules {
	return StateRules{Unknown: map[string]Unknown{"updated_at": UnknownNotRecorded}}
}

// StateRules say what the entries of one model can tell.
type StateRules struct {
	// Columns lists every column of the model; nil means the columns the
	// object's entries name.
	Columns []string
	// Unknown gives the columns whose values the entries never tell, and
	// why (excluded, masked, not recorded).
	Unknown map[string]Unknown
	// Relations are the change keys of the model's many-to-many relations;
	// nil means those the object's entries name.
	Relations []string
	// KeysOf returns the keys of the objects a many-to-many change names;
	// ok is false when the entry does not tell them. Nil: the change's Keys,
	// or its Objects where it has none.
	KeysOf func(relation string, c *auditlog.M2MChange) (keys []string, ok bool)
	// PK is the key column: an update that changes it moves the object to
	// another key. Empty: the column every create names as the key, if one
	// does (inferredKeyColumn).
	PK string
	// SoftDelete is the model's soft-delete column: a create or an update
	// that leaves it set (a revert of a revival, a restore of a row that
	// was soft deleted) leaves the object soft deleted, as a soft delete
	// does. Empty: only delete entries (and updates that set again a
	// column an earlier soft delete set) soft delete it.
	SoftDelete string
	// KeyColumns are a composite key's columns, in the key's order: an
	// update that changes one moves the object (PK is empty then).
	KeyColumns []string
}

// ObjectState is one object's state after some of its entries.
type ObjectState struct {
	Model string
	PK    string
	// At and Entry are the time and id of the last entry applied.
	At    time.Time
	Entry int64
	// Exists is false when the object had no state then: before its first
	// entry, or after its key changed away (MovedTo is then its new key,
	// MovedBy the entry that changed it).
	Exists  bool
	MovedTo string
	MovedBy int64
	// Deleted is set when the object was deleted then: Values are its last
	// values. Soft tells a soft delete (the row stayed, marked);
	// DeletedAt and DeletedBy are the time and id of the delete entry.
	Deleted   bool
	Soft      bool
	DeletedAt time.Time
	DeletedBy int64
	// Values are the known values as entries record them (typed JSON), by
	// the names entries give them (columns).
	Values map[string]json.RawMessage
	// Recorded gives, per known value, the id of the entry it comes from.
	Recorded map[string]int64
	// Related lists, per many-to-many relation whose state is known, the
	// keys of the related objects, sorted.
	Related map[string][]string
	// Unknown says, per column or relation whose value is not known, why.
	Unknown map[string]Unknown
}

// Fields are the names of the state's values, relations and unknown
// fields, sorted.
func (st ObjectState) Fields() []string {
	names := make([]string, 0, len(st.Values)+len(st.Related)+len(st.Unknown))
	for k := range st.Values {
		names = append(names, k)
	}
	for k := range st.Related {
		names = append(names, k)
	}
	for k := range st.Unknown {
		names = append(names, k)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// RebuildState returns the state of the object model:pk after the first n of
// its entries (all of them oldest first, without access entries). Values
// the first n leave unknown are taken, where they can be, from the old
// values of the entries after n: every change of an audited value writes an
// entry, so the value a later entry changed is the one the field held since
// the last entry that could have changed it.
func RebuildState(model, pk string, entries []auditlog.Entry, n int, r StateRules) ObjectState {
	if r.PK == "" {
		r.PK = inferredKeyColumn(entries)
	}
	st := ObjectState{Model: model, PK: pk, Values: map[string]json.RawMessage{}, Recorded: map[string]int64{}, Related: map[string][]string{}, Unknown: map[string]Unknown{}}
	cols, rels := r.Columns, r.Relations
	if cols == nil || rels == nil {
		named, namedRels := namedColumns(entries)
		if cols == nil {
			cols = named
		}
		if rels == nil {
			rels = namedRels
		}
	}
	keysOf := r.KeysOf
	if keysOf == nil {
		keysOf = func(_ string, c *auditlog.M2MChange) ([]string, bool) {
			if c.Keys != nil {
				return c.Keys, len(c.Keys) == len(c.Objects)
			}
			return c.Objects, true
		}
	}
	known := make(map[string]bool, len(cols)+len(rels))
	for _, c := range cols {
		known[c] = true
	}
	isRel := make(map[string]bool, len(rels))
	for _, c := range rels {
		isRel[c] = true
	}
	related := map[string]map[string]bool{}
	var softCols []string // the columns the last soft delete set
	reset := func(create bool, e auditlog.Entry) {
		st.Exists, st.Deleted, st.Soft, softCols = true, false, false, nil
		st.MovedTo, st.MovedBy = "", 0
		clear(st.Values)
		clear(st.Recorded)
		clear(st.Unknown)
		clear(related)
		for _, col := range cols {
			switch why, ok := r.Unknown[col]; {
			case ok:
				st.Unknown[col] = why
			case create:
				st.Values[col], st.Recorded[col] = json.RawMessage("null"), e.ID
			default:
				st.Unknown[col] = UnknownBeforeAuditing
			}
		}
		for _, rel := range rels {
			if create {
				related[rel] = map[string]bool{} // join rows come after the row
			} else {
				st.Unknown[rel] = UnknownBeforeAuditing
			}
		}
	}
	set := func(col string, raw json.RawMessage, e auditlog.Entry) {
		if _, never := r.Unknown[col]; never || !known[col] {
			return
		}
		if IsDigest(raw) {
			delete(st.Values, col)
			delete(st.Recorded, col)
			st.Unknown[col] = UnknownTooLarge
			return
		}
		st.Values[col], st.Recorded[col] = raw, e.ID
		delete(st.Unknown, col)
	}
	m2m := func(col string, c *auditlog.M2MChange) {
		keys, ok := keysOf(col, c)
		if !ok {
			delete(related, col)
			st.Unknown[col] = UnknownNotRecorded
			return
		}
		set := related[col]
		if set == nil {
			if c.Operation != auditlog.M2MClear {
				return // unknown before, unknown still
			}
			set = map[string]bool{}
			related[col] = set
			delete(st.Unknown, col)
		}
		for _, k := range keys {
			switch c.Operation {
			case auditlog.M2MAdd:
				set[k] = true
			case auditlog.M2MRemove:
				delete(set, k)
			}
		}
		if c.Operation == auditlog.M2MClear {
			clear(set)
		}
	}
	for _, e := range entries[:n] {
		st.At, st.Entry = e.Timestamp, e.ID
		switch e.Action {
		case auditlog.ActionCreate:
			reset(true, e)
			for col, c := range e.Changes {
				if c.M2M == nil {
					set(col, c.New, e)
				}
			}
			softByValue(&st, &softCols, r.SoftDelete, e)
		case auditlog.ActionUpdate, auditlog.ActionDelete:
			if !st.Exists || (st.Deleted && !st.Soft) {
				reset(false, e)
			}
			for col, c := range e.Changes {
				if c.M2M != nil {
					if isRel[col] {
						m2m(col, c.M2M)
					}
					continue
				}
				set(col, c.New, e)
			}
			if e.Action == auditlog.ActionDelete {
				// A delete that leaves a value set is a soft delete: the row
				// stays, marked. A hard delete's entry names every value
				// that was not null: its old values are the last state.
				softCols = softCols[:0]
				for col, c := range e.Changes {
					if c.M2M == nil && !isNull(c.New) {
						softCols = append(softCols, col)
					}
				}
				if r.SoftDelete != "" && slices.Contains(softCols, r.SoftDelete) {
					// The column that marks it: another the delete set as
					// well (a deletion time beside a flag) may be left set
					// by a restore.
					softCols = append(softCols[:0], r.SoftDelete)
				}
				st.Deleted, st.Soft, st.DeletedAt, st.DeletedBy = true, len(softCols) > 0, e.Timestamp, e.ID
				if !st.Soft {
					for col, c := range e.Changes {
						if c.M2M == nil {
							set(col, c.Old, e)
						}
					}
					nullsOfHardDelete(&st, isRel, e)
				}
			} else if st.Deleted && st.Soft && (!stillSet(st, softCols) || clearsAny(e, softCols)) {
				// Restored: every mark cleared, or one of several (a flag
				// cleared beside the deletion time it leaves).
				st.Deleted, st.Soft = false, false
			} else {
				softByValue(&st, &softCols, r.SoftDelete, e)
			}
			if keyMoved(r.PK, pk, e) {
				st.Exists, st.Deleted, st.Soft = false, false, false
				st.MovedTo, st.MovedBy = keyText(e.Changes[r.PK].New), e.ID
			} else if to, ok := compositeMoved(r.KeyColumns, e, st.Values); ok {
				st.Exists, st.Deleted, st.Soft = false, false, false
				st.MovedTo, st.MovedBy = to, e.ID
			}
		}
	}
	for rel, set := range related {
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		st.Related[rel] = keys
	}
	fillFromLater(&st, entries[n:], isRel, r.PK, pk)
	return st
}

// fillFromLater takes unknown values from the old values of later entries,
// up to the next create or key change.
func fillFromLater(st *ObjectState, later []auditlog.Entry, isRel map[string]bool, pkCol, pk string) {
	for _, e := range later {
		if e.Action == auditlog.ActionCreate {
			return
		}
		hard := e.Action == auditlog.ActionDelete && hardDelete(e)
		for col, c := range e.Changes {
			if c.M2M != nil || st.Unknown[col] != UnknownBeforeAuditing {
				continue
			}
			if IsDigest(c.Old) {
				st.Unknown[col] = UnknownTooLarge
				continue
			}
			st.Values[col], st.Recorded[col] = c.Old, e.ID
			delete(st.Unknown, col)
		}
		if hard {
			nullsOfHardDelete(st, isRel, e) // and the object's life ends here
			return
		}
		if keyMoved(pkCol, pk, e) {
			return
		}
	}
}

// Lister lists entries: a *Store, or anything with its List.
type Lister interface {
	List(ctx context.Context, f Filter, p Page) (Result, error)
}

// ErrTooManyEntries is returned by ObjectEntries for an object with more
// entries than its bound.
var ErrTooManyEntries = errors.New("auditstore: the object has more entries than the bound")

// objectEntriesMaxBytes bounds the size of the entries ObjectEntries
// keeps where it is given a bound: a few thousand entries of large values
// (a document's body) held hundreds of megabytes.
var objectEntriesMaxBytes = 64 << 20

// ObjectEntries returns every entry of one object in id order (the order of
// its writes), without
// access entries: those of refs (KeyRefs, or one ObjectRef) whose key text
// is pk. With max > 0, an object with more than max entries, or whose
// entries hold more than 64 MiB of values, is an error wrapping
// ErrTooManyEntries.
func ObjectEntries(ctx context.Context, l Lister, refs []ObjectRef, pk string, max int) ([]auditlog.Entry, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	var all []auditlog.Entry
	p := Page{Limit: MaxPageSize}
	// The bound counts what is read, access entries too: an object read
	// often has many, which a bound on what is kept would not stop.
	f := Filter{Objects: refs}
	read, size := 0, 0
	for {
		res, err := l.List(ctx, f, p)
		if err != nil {
			return nil, err
		}
		read += len(res.Entries)
		for _, e := range res.Entries {
			if e.Unreadable != "" {
				return nil, fmt.Errorf("%w: entry %d of the object: %s", ErrUnreadable, e.ID, e.Unreadable)
			}
			if e.Action != auditlog.ActionAccess && e.ObjectPK == pk {
				all = append(all, e)
				size += entrySize(e)
			}
		}
		if max > 0 && (len(all) > max || read > 2*max) {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyEntries, max)
		}
		if max > 0 && size > objectEntriesMaxBytes {
			return nil, fmt.Errorf("%w: more than %d MiB of values", ErrTooManyEntries, objectEntriesMaxBytes>>20)
		}
		if res.Next == "" {
			break
		}
		p.Cursor = res.Next
	}
	// By id: the order in which the object's writes held its row and
	// wrote their entries, whatever the clocks that dated them (two
	// servers' clocks may differ; a later write's entry can be dated
	// before an earlier one's).
	slices.SortFunc(all, func(a, b auditlog.Entry) int { return cmp.Compare(a.ID, b.ID) })
	return all, nil
}

// entrySize is about the bytes e's values take.
func entrySize(e auditlog.Entry) int {
	n := len(e.ObjectRepr) + len(e.SerializedData) + len(e.AdditionalData) + len(e.ObjectPK)
	for k, c := range e.Changes {
		n += len(k) + len(c.Old) + len(c.New)
		if c.M2M != nil {
			for _, o := range c.M2M.Objects {
				n += len(o)
			}
		}
	}
	return n
}

// nullsOfHardDelete records as null the values still unknown for want of a
// create entry that hard delete e does not name: its entry names every
// value that was not null.
func nullsOfHardDelete(st *ObjectState, isRel map[string]bool, e auditlog.Entry) {
	for col, why := range st.Unknown {
		if _, named := e.Changes[col]; why == UnknownBeforeAuditing && !named && !isRel[col] {
			st.Values[col], st.Recorded[col] = json.RawMessage("null"), e.ID
			delete(st.Unknown, col)
		}
	}
}

// hardDelete reports whether delete entry e removed its row: it leaves no
// value set (a soft delete sets its column).
func hardDelete(e auditlog.Entry) bool {
	for _, c := range e.Changes {
		if c.M2M == nil && !isNull(c.New) {
			return false
		}
	}
	return true
}

// namedColumns returns the columns and relations the entries name.
func namedColumns(entries []auditlog.Entry) (cols, rels []string) {
	for _, e := range entries {
		for col, c := range e.Changes {
			if c.M2M != nil {
				if !slices.Contains(rels, col) {
					rels = append(rels, col)
				}
			} else if !slices.Contains(cols, col) {
				cols = append(cols, col)
			}
		}
	}
	slices.Sort(cols)
	slices.Sort(rels)
	return cols, rels
}

// softByValue marks st soft deleted where entry e (a create or an update)
// left the soft-delete column set: col, or, without it, one of the columns
// an earlier soft delete of this life set (softCols), set again.
func softByValue(st *ObjectState, softCols *[]string, col string, e auditlog.Entry) {
	if st.Deleted {
		return
	}
	cols := *softCols
	if col != "" {
		cols = []string{col}
	}
	for _, c := range cols {
		if ch, named := e.Changes[c]; named && ch.M2M == nil && stillSet(*st, []string{c}) {
			st.Deleted, st.Soft, st.DeletedAt, st.DeletedBy = true, true, e.Timestamp, e.ID
			*softCols = cols
			return
		}
	}
}

// clearsAny reports whether update e sets one of cols, which a soft
// delete set, to a value that marks nothing.
func clearsAny(e auditlog.Entry, cols []string) bool {
	for _, col := range cols {
		if c, ok := e.Changes[col]; ok && c.M2M == nil && !marks(c.New) {
			return true
		}
	}
	return false
}

// stillSet reports whether any of cols holds a value that marks the row
// deleted (an unknown one counts).
func stillSet(st ObjectState, cols []string) bool {
	for _, col := range cols {
		if raw, ok := st.Values[col]; !ok || marks(raw) {
			return true
		}
	}
	return false
}

// marks reports whether a soft-delete column's value marks the row
// deleted: not null, zero, false, "" or Go's zero time (which a restore
// may write).
func marks(raw json.RawMessage) bool {
	switch strings.TrimSpace(string(raw)) {
	case "null", "0", "false", `""`:
		return false
	}
	var at time.Time
	return json.Unmarshal(raw, &at) != nil || !at.IsZero()
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || strings.TrimSpace(string(raw)) == "null"
}

// keyMoved reports whether entry e moves its object from key pk to another.
// inferredKeyColumn is the key column of the object whose entries are
// given, where rules name none (the command line and the UI without the
// application's models): the one column whose value every create names,
// and every key change changed from, as the entry's key. Without it an
// update that moved the object to another key was applied as a value,
// and the entries of the next object under the key onto its state.
// "" where no column, or more than one, is so.
func inferredKeyColumn(entries []auditlog.Entry) string {
	var cands []string
	seen := false
	narrow := func(e auditlog.Entry, value func(auditlog.Change) json.RawMessage) {
		var here []string
		for col, c := range e.Changes {
			if c.M2M == nil && keyText(value(c)) == e.ObjectPK {
				here = append(here, col)
			}
		}
		if !seen {
			cands, seen = here, true
			return
		}
		cands = slices.DeleteFunc(cands, func(c string) bool { return !slices.Contains(here, c) })
	}
	for _, e := range entries {
		switch e.Action {
		case auditlog.ActionCreate:
			narrow(e, func(c auditlog.Change) json.RawMessage { return c.New })
		case auditlog.ActionDelete:
			if hardDelete(e) {
				narrow(e, func(c auditlog.Change) json.RawMessage { return c.Old })
			}
		}
	}
	// Several columns held the key's value when the object was created
	// (id 3, quantity 3): GORM's key column, id, is the key; unless an
	// update changed id while another of them kept the key's value and the
	// object's entries went on under that key (a legacy id beside a code
	// that is the key): then id is not the key.
	if len(cands) > 1 && slices.Contains(cands, idColumn) {
		if idNotTheKey(entries, cands) {
			cands = slices.DeleteFunc(cands, func(c string) bool { return c == idColumn })
		} else {
			cands = []string{idColumn}
		}
	}
	// A key change names its column: the only one where no create or
	// hard delete tells, else the one of those it changed. An update of
	// another column than id left the key only where the entry after it
	// under that key says so (a create, or another object's: leftKey):
	// any column that held the key's value (a quantity 3 of item 3, set
	// to 4) was taken for the key, and the object's state shown under a
	// key it never had.
	var moved []string
	known := map[string]string{} // the values after each entry, as far as told
	for i, e := range entries {
		noteKnown(known, e)
		if e.Action != auditlog.ActionUpdate {
			continue
		}
		left := leftKey(entries, i, known)
		for col, c := range e.Changes {
			if c.M2M == nil && keyText(c.Old) == e.ObjectPK && keyText(c.New) != e.ObjectPK && (left || col == idColumn) &&
				(!seen || slices.Contains(cands, col)) && !slices.Contains(moved, col) {
				moved = append(moved, col)
			}
		}
	}
	switch {
	case len(moved) == 1:
		return moved[0]
	case len(cands) == 1:
		return cands[0]
	}
	return ""
}

// noteKnown updates known, the values of an object's columns after its
// entries as far as they tell, with entry e: a create or a delete starts
// them anew.
func noteKnown(known map[string]string, e auditlog.Entry) {
	switch e.Action {
	case auditlog.ActionCreate, auditlog.ActionDelete:
		clear(known)
	}
	if e.Action != auditlog.ActionDelete {
		for col, c := range e.Changes {
			if c.M2M == nil {
				known[col] = string(bytes.TrimSpace(c.New))
			}
		}
	}
}

// idColumn is the column GORM makes a model's key by default.
const idColumn = "id"

// idNotTheKey reports whether an update changed id away from its object's
// key while another of cands (columns every create named with the key's
// value) still held that value, and the object's next entry went on under
// the key, finding the values as the update left them.
func idNotTheKey(entries []auditlog.Entry, cands []string) bool {
	known := map[string]string{}
	for i, e := range entries {
		noteKnown(known, e)
		c, ok := e.Changes[idColumn]
		if e.Action != auditlog.ActionUpdate || !ok || c.M2M != nil || keyText(c.Old) != e.ObjectPK || keyText(c.New) == e.ObjectPK {
			continue
		}
		other := slices.ContainsFunc(cands, func(col string) bool {
			v, ok := known[col]
			return col != idColumn && ok && keyText(json.RawMessage(v)) == e.ObjectPK
		})
		if other && wentOn(entries, i, known) {
			return true
		}
	}
	return false
}

// wentOn reports whether the entry after update i under its key is the
// same object's: no create, and no old value other than known after i.
func wentOn(entries []auditlog.Entry, i int, known map[string]string) bool {
	for _, next := range entries[i+1:] {
		if next.Action == auditlog.ActionAccess || next.ObjectPK != entries[i].ObjectPK {
			continue
		}
		return next.Action != auditlog.ActionCreate && !leftKey(entries, i, known)
	}
	return false
}

// leftKey reports whether the entry after update i under its key shows
// that i moved its object off it: a create, or one whose old values are
// not those known after i (another object, which moved there). None, or
// one that finds the values it names as i left them, tells no move: a
// quantity 3 of item 3 set to 4 is no key change, and where a create
// names a single column with the key's value, that column is the key
// without a move to tell it.
func leftKey(entries []auditlog.Entry, i int, known map[string]string) bool {
	for _, next := range entries[i+1:] {
		if next.Action == auditlog.ActionAccess || next.ObjectPK != entries[i].ObjectPK {
			continue
		}
		if next.Action == auditlog.ActionCreate {
			return true
		}
		for col, c := range next.Changes {
			if v, ok := known[col]; ok && c.M2M == nil && v != string(bytes.TrimSpace(c.Old)) {
				return true
			}
		}
		return false
	}
	return false
}

// compositeMoved reports whether update e changed a column of the
// composite key cols, and the key it moved the object to, as an entry's
// key (a JSON array of the values in the key's order, from vals, the
// values after e), or "" where one of them is unknown.
func compositeMoved(cols []string, e auditlog.Entry, vals map[string]json.RawMessage) (string, bool) {
	if len(cols) < 2 || e.Action != auditlog.ActionUpdate {
		return "", false
	}
	moved := false
	for _, col := range cols {
		if c, ok := e.Changes[col]; ok && c.M2M == nil && !bytes.Equal(c.Old, c.New) {
			moved = true
		}
	}
	if !moved {
		return "", false
	}
	// Joined as the capture joins a composite key's values, not by
	// encoding/json, which escapes "&", "<", ">" and U+2028 (so that the
	// key would not be the one the object's later entries name).
	to := []byte{'['}
	for i, col := range cols {
		v, ok := vals[col]
		if !ok || !json.Valid(v) {
			return "", true
		}
		if i > 0 {
			to = append(to, ',')
		}
		to = append(to, bytes.TrimSpace(v)...)
	}
	return string(append(to, ']')), true
}

func keyMoved(pkCol, pk string, e auditlog.Entry) bool {
	if pkCol == "" || e.Action != auditlog.ActionUpdate {
		return false
	}
	c, ok := e.Changes[pkCol]
	if !ok || c.M2M != nil {
		return false
	}
	return keyText(c.New) != pk
}

// keyText is a recorded key value as an entry's object key: a string's
// text (also one that is not UTF-8, recorded as {"$base64": …}), a number
// as written.
// KeyText is a recorded key value as entries name an object by it (its
// ObjectPK): a string's text, a []byte key's decoded text, a number as
// written. Time travel and reverts follow key changes by it.
func KeyText(raw json.RawMessage) string { return keyText(raw) }

func keyText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if s, ok := value.Base64Text(raw); ok {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// IsDigest reports whether raw is the digest that stands in for a value
// too large for an entry, exactly as the capture writes it:
// {"$digest": "sha256:<64 hex digits>", "$bytes": n} with n over 1 MiB.
func IsDigest(raw json.RawMessage) bool { return capture.IsDigest(raw) }

// KeyEvents returns, oldest first (by id), at most limit entries of the
// object of model with key pk whose ids are above afterID and that can
// end its life under that key or move it from there: its creates and
// deletes, and its updates whose changes name the column keyColumn (a key
// change). What a revert needs to follow an object through the entries
// after the one it undoes, without reading the object's other updates:
// the database leaves them out. On MySQL the read is a locking one (it
// sees what committed since the transaction's snapshot). Ids, not times: the entries of one row
// are numbered in the order its writes held it, whatever the clocks of
// the processes that wrote them.
func (s *Store) KeyEvents(ctx context.Context, model, pk, keyColumn string, afterID int64, limit int) ([]auditlog.Entry, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if limit < 1 {
		return nil, fmt.Errorf("auditstore: limit %d is not positive", limit)
	}
	q := &queryBuilder{d: s.dialect}
	q.where = append(q.where, q.objects(KeyRefs(model, pk)), "id > "+q.arg(afterID))
	path := `$."` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(keyColumn) + `"`
	// Changes that are not JSON (a damaged entry) are returned too, to be
	// read as unreadable, not passed over.
	var names string
	switch s.dialect {
	case Postgres:
		names = "changes ? " + q.arg(keyColumn)
	case MySQL:
		names = "CASE WHEN JSON_VALID(changes) THEN JSON_CONTAINS_PATH(changes, 'one', " + q.arg(path) + ") ELSE 1 END"
	default:
		names = "CASE WHEN json_valid(changes) THEN json_type(changes, " + q.arg(path) + ") IS NOT NULL ELSE 1 END"
	}
	q.where = append(q.where, fmt.Sprintf("(action IN (%d, %d) OR action = %d AND %s)", auditlog.ActionCreate, auditlog.ActionDelete, auditlog.ActionUpdate, names))
	// The latest committed entries, not the transaction's snapshot
	// (MySQL's REPEATABLE READ), as a revert under lock must see them.
	rows, err := s.db.QueryContext(ctx, "SELECT "+readColumns[s.dialect]+" FROM "+Table+q.whereSQL()+" ORDER BY id LIMIT "+strconv.Itoa(limit)+s.dialect.currentRead(), q.args...)
	if err != nil {
		return nil, queryErr(ctx, "read the key events of an object", err)
	}
	defer rows.Close()
	var out []auditlog.Entry
	for rows.Next() {
		e, err := scanEntry(s.dialect, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, queryErr(ctx, "read the key events of an object", err)
	}
	return out, nil
}

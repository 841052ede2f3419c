package auditgorm

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/value"
)

// Time travel: an object's state at a moment, rebuilt from its entries
// alone. The create entry gives every audited value, each later entry the
// values it changed; where the entries do not say what a value was, the
// state says so (Unknown) instead of guessing.

// Unknown says why a field's value at some moment cannot be told from the
// entries (auditstore.Unknown).
type Unknown = auditstore.Unknown

// The reasons a value is unknown.
const (
	UnknownExcluded       = auditstore.UnknownExcluded
	UnknownMasked         = auditstore.UnknownMasked
	UnknownNotRecorded    = auditstore.UnknownNotRecorded
	UnknownBeforeAuditing = auditstore.UnknownBeforeAuditing
	UnknownTooLarge       = auditstore.UnknownTooLarge
	UnknownUnreadable     = auditstore.UnknownUnreadable
)

// ErrNotFound is returned by AsOf when the object did not exist at that
// moment as far as its entries tell: it has no entries then, or it was
// created later.
var ErrNotFound = errors.New("auditgorm: the object has no audited state at that moment")

// ErrBeforeItsEntries is returned by AsOf for a moment before the first of
// the object's entries where that entry is not its create: its earlier
// entries were flushed, or it predates auditing, so whether it existed
// then is not known. It does not match ErrNotFound.
var ErrBeforeItsEntries = errors.New("auditgorm: the object's entries begin later, and not with its create (earlier ones flushed, or it predates auditing): its state at that moment is unknown")

// KeyChangedError is returned by AsOf when the object had taken another
// key at that moment: entries are read under one key, and a key change is
// recorded under the old key. errors.Is(err, ErrNotFound) holds for it.
type KeyChangedError struct {
	To    string // the new key
	Entry int64  // the entry that changed it
}

func (e *KeyChangedError) Error() string {
	return fmt.Sprintf("auditgorm: the object's key had changed to %s (entry %d): its later states are under that key", e.To, e.Entry)
}

func (e *KeyChangedError) Is(target error) bool { return target == ErrNotFound }

// DeletedError is returned by AsOf when the object had been deleted at that
// moment (soft or hard). errors.As finds it; the State returned with it is
// the object's last state, the one its deletion recorded.
type DeletedError struct {
	At    time.Time // the time of the delete entry
	Entry int64     // its id
	Soft  bool      // the row stayed, marked deleted
}

func (e *DeletedError) Error() string {
	kind := "deleted"
	if e.Soft {
		kind = "soft-deleted"
	}
	return fmt.Sprintf("auditgorm: the object was %s at %s (entry %d)", kind, e.At.Format(time.RFC3339Nano), e.Entry)
}

// State is an object's audited state at one moment (auditstore.ObjectState):
// Values by column as entries record them, Related keys per many-to-many
// relation, Unknown with the reason per field the entries cannot tell.
type State = auditstore.ObjectState

// AsOf fills obj (a pointer to a model with its key set) with its audited
// state at time at: the state after every entry of the object up to and
// including at. Fields whose value is unknown are set to their zero value
// and listed in the State's Unknown, with the reason; many-to-many fields
// named with auditlog.M2M get the related objects with only their keys set.
//
// It returns ErrNotFound when the object did not exist then, a
// *DeletedError (with the last state, obj untouched) when it had been
// deleted, and a *KeyChangedError (which matches ErrNotFound too) when its
// key had changed. Entries are read under the key obj holds, and a key
// change is recorded under the old key: under the new key, the values set
// before the change are unknown ("before auditing") until an entry names
// them.
func AsOf(ctx context.Context, db *gorm.DB, obj any, at time.Time) (*State, error) {
	at = at.UTC()
	return asOf(ctx, db, obj, func(e auditlog.Entry) bool { return !e.Timestamp.After(at) }, "")
}

// AsOfEntry is AsOf at an entry: the state right after entry id, which must
// be an entry of obj.
func AsOfEntry(ctx context.Context, db *gorm.DB, obj any, id int64) (*State, error) {
	seen := false
	return asOf(ctx, db, obj, func(e auditlog.Entry) bool {
		if seen {
			return false
		}
		seen = e.ID == id
		return true
	}, strconv.FormatInt(id, 10))
}

func asOf(ctx context.Context, db *gorm.DB, obj any, upTo func(auditlog.Entry) bool, entryID string) (*State, error) {
	tt, row, err := newTraveller(ctx, db, obj)
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(tt.entries) && upTo(tt.entries[n]) {
		n++
	}
	if entryID != "" && (n == 0 || strconv.FormatInt(tt.entries[n-1].ID, 10) != entryID) {
		return nil, fmt.Errorf("auditgorm: entry %s is not an entry of %s %s", entryID, tt.m.name, tt.ref.PK)
	}
	st, err := tt.stateAfter(n)
	if err != nil {
		return st, err
	}
	return st, tt.fill(ctx, db, row, st)
}

// Timeline returns obj's states after each of its entries, oldest first
// (access entries left out). The states of deletions have Deleted set.
func Timeline(ctx context.Context, db *gorm.DB, obj any) ([]State, error) {
	tt, _, err := newTraveller(ctx, db, obj)
	if err != nil {
		return nil, err
	}
	out := make([]State, 0, len(tt.entries))
	for n := 1; n <= len(tt.entries); n++ {
		st, err := tt.stateAfter(n)
		var de *DeletedError
		switch {
		case errors.Is(err, ErrNotFound):
			continue // the object took another key
		case err != nil && !errors.As(err, &de):
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

// traveller rebuilds one object's states from its entries.
type traveller struct {
	m       *model
	ref     auditstore.ObjectRef
	entries []auditlog.Entry // oldest first, without access entries
	rules   auditstore.StateRules
}

func newTraveller(ctx context.Context, db *gorm.DB, obj any) (*traveller, reflect.Value, error) {
	if ctx == nil {
		return nil, reflect.Value{}, errors.New("auditgorm: ctx is nil")
	}
	m, row, err := objectModel(db, obj)
	if err != nil {
		return nil, row, err
	}
	if !registered(db, m.schema.ModelType) {
		// Its masked and excluded fields are the registration's to say.
		return nil, row, fmt.Errorf("auditgorm: %s is not registered: register it to rebuild its states", m.schema.Name)
	}
	if !row.CanAddr() {
		return nil, row, fmt.Errorf("auditgorm: pass a pointer to the %s, not a copy", m.schema.Name)
	}
	r, err := ref(ctx, db, obj)
	if err != nil {
		return nil, row, err
	}
	es, err := objectEntries(ctx, db, r)
	if err != nil {
		return nil, row, err
	}
	tt := &traveller{m: m, ref: r, entries: es}
	tt.rules = stateRules(m)
	return tt, row, nil
}

// stateRules are what the entries of m can tell.
func stateRules(m *model) auditstore.StateRules {
	r := auditstore.StateRules{Unknown: map[string]Unknown{}, Relations: []string{}}
	for _, f := range m.fields {
		r.Columns = append(r.Columns, f.column)
		switch {
		case f.excluded || !f.audited:
			r.Unknown[f.column] = UnknownExcluded
		case f.masked:
			r.Unknown[f.column] = UnknownMasked
		case f.noise:
			// An UPDATE that changes nothing else moves it without an
			// entry: its value is never certain.
			r.Unknown[f.column] = UnknownNotRecorded
		}
	}
	for name := range m.m2m {
		r.Relations = append(r.Relations, name)
	}
	slices.Sort(r.Relations)
	r.KeysOf = func(name string, c *auditlog.M2MChange) ([]string, bool) {
		return m2mKeys(m.m2m[name], c)
	}
	if len(m.pk) == 1 {
		r.PK = m.pk[0].column
	} else {
		for _, f := range m.pk {
			r.KeyColumns = append(r.KeyColumns, f.column)
		}
	}
	r.SoftDelete = softColumn(m)
	return r
}

// StateRules returns what the entries of the registered model recorded as
// modelName can tell (auditstore.RebuildState), for the admin UI's state
// view (auditui.Config.StateRules); false for a name no registered model
// carries.
func (p *Plugin) StateRules(modelName string) (auditstore.StateRules, bool) {
	if p.db == nil {
		return auditstore.StateRules{}, false
	}
	m, err := p.modelByName(p.db, modelName)
	if err != nil || m == nil {
		return auditstore.StateRules{}, false
	}
	r := stateRules(m)
	return r, true
}

// modelByName returns the registered model whose entries carry name, or
// nil. Two models of one table may both carry it; two of other tables are
// refused (their writes are: compileModel), and so is a name they share.
func (p *Plugin) modelByName(db *gorm.DB, name string) (*model, error) {
	var found *model
	for _, t := range p.reg.Models() {
		m, _, err := objectModel(db, reflect.New(t).Interface())
		if err != nil {
			return nil, err
		}
		switch {
		case m.name != name:
		case found == nil:
			found = m
		case found.schema.Table != m.schema.Table || !slices.Equal(found.schema.PrimaryFieldDBNames, m.schema.PrimaryFieldDBNames):
			return nil, fmt.Errorf("auditgorm: the entries of %s (table %s) and of %s (table %s) are both named %q: give each model a name of its own (auditlog.ModelName)",
				found.schema.Name, found.schema.Table, m.schema.Name, m.schema.Table, name)
		}
	}
	return found, nil
}

// objectEntries reads every entry of one object, oldest first, without
// access entries.
func objectEntries(ctx context.Context, db *gorm.DB, r auditstore.ObjectRef) ([]auditlog.Entry, error) {
	s, err := NewStore(db)
	if err != nil {
		return nil, err
	}
	return auditstore.ObjectEntries(ctx, s, []auditstore.ObjectRef{r}, r.PK, 0)
}

// stateAfter is the state after the first n entries, and the error AsOf
// returns with it: ErrNotFound or a *DeletedError.
func (tt *traveller) stateAfter(n int) (*State, error) {
	st := auditstore.RebuildState(tt.m.name, tt.ref.PK, tt.entries, n, tt.rules)
	for _, f := range tt.m.fields {
		if raw, ok := st.Values[f.column]; ok && !f.f.PrimaryKey && looksMasked(tt.m, raw) {
			// Recorded while the field was masked: not its value, in
			// every state (a deleted one's, a timeline's too).
			delete(st.Values, f.column)
			st.Unknown[f.column] = UnknownMasked
		}
	}
	switch {
	case !st.Exists && st.MovedTo != "":
		return nil, &KeyChangedError{To: st.MovedTo, Entry: st.MovedBy}
	case !st.Exists && n == 0 && len(tt.entries) > 0 && tt.entries[0].Action != auditlog.ActionCreate:
		return nil, ErrBeforeItsEntries
	case !st.Exists:
		return nil, ErrNotFound
	case st.Deleted:
		return &st, &DeletedError{At: st.DeletedAt, Entry: st.DeletedBy, Soft: st.Soft}
	}
	return &st, nil
}

// m2mKeys returns the keys of the objects a many-to-many change names: its
// Keys, or, in entries written without them, the keys inside the default
// reprs "Model(key)" of a related model without a repr of its own.
func m2mKeys(rel *schema.Relationship, c *auditlog.M2MChange) ([]string, bool) {
	if rel == nil {
		return nil, false
	}
	if c.Keys != nil {
		return c.Keys, len(c.Keys) == len(c.Objects)
	}
	rs := rel.FieldSchema
	for _, t := range []reflect.Type{rs.ModelType, reflect.PointerTo(rs.ModelType)} {
		if t.Implements(reprerType) || t.Implements(stringerType) {
			return nil, false
		}
	}
	keys := make([]string, len(c.Objects))
	for i, o := range c.Objects {
		k, ok := strings.CutPrefix(o, rs.Name+"(")
		if !ok || !strings.HasSuffix(k, ")") {
			return nil, false
		}
		keys[i] = k[:len(k)-1]
	}
	return keys, true
}

// fill sets obj's fields to st: known values, zero values for unknown ones
// (a value that does not convert back exactly becomes unknown), and the
// related objects by their keys.
func (tt *traveller) fill(ctx context.Context, db *gorm.DB, row reflect.Value, st *State) error {
	for _, f := range tt.m.fields {
		if f.f.PrimaryKey {
			continue // obj's key, by which the entries were found
		}
		raw, ok := st.Values[f.column]
		if ok && setField(ctx, f, row, raw) {
			continue
		}
		if ok {
			delete(st.Values, f.column)
			st.Unknown[f.column] = UnknownUnreadable
		}
		if err := f.f.Set(ctx, row, reflect.Zero(f.f.FieldType).Interface()); err != nil {
			return fmt.Errorf("auditgorm: clear field %s: %w", f.f.Name, err)
		}
	}
	for name, rel := range tt.m.m2m {
		fv := rel.Field.ReflectValueOf(ctx, row)
		keys, known := st.Related[name]
		if !known {
			fv.Set(reflect.Zero(fv.Type()))
			continue
		}
		objs, err := relatedByKeys(ctx, rel, fv.Type(), keys)
		if err != nil {
			delete(st.Related, name)
			st.Unknown[name] = UnknownUnreadable
			fv.Set(reflect.Zero(fv.Type()))
			continue
		}
		fv.Set(objs)
	}
	return nil
}

// relatedByKeys builds a slice of type typ ([]T or []*T) of related objects
// with only their keys set.
func relatedByKeys(ctx context.Context, rel *schema.Relationship, typ reflect.Type, keys []string) (reflect.Value, error) {
	rs := rel.FieldSchema
	if len(rs.PrimaryFields) != 1 {
		return reflect.Value{}, errors.New("a related model with a composite key")
	}
	pk := rs.PrimaryFields[0]
	out := reflect.MakeSlice(typ, 0, len(keys))
	for _, k := range keys {
		elem := reflect.New(rs.ModelType)
		var v any = k
		switch pk.FieldType.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n, err := strconv.ParseInt(k, 10, 64)
			if err != nil {
				return reflect.Value{}, err
			}
			v = n
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			n, err := strconv.ParseUint(k, 10, 64)
			if err != nil {
				return reflect.Value{}, err
			}
			v = n
		}
		if err := pk.Set(ctx, elem.Elem(), v); err != nil {
			return reflect.Value{}, err
		}
		if typ.Elem().Kind() == reflect.Pointer {
			out = reflect.Append(out, elem)
		} else {
			out = reflect.Append(out, elem.Elem())
		}
	}
	return out, nil
}

// setField sets field f of row to the value an entry records as raw, and
// reports whether the field now records exactly raw again. It tries the
// Go and driver values raw may have come from, in turn.
func setField(ctx context.Context, f *field, row reflect.Value, raw json.RawMessage) (ok bool) {
	raw = asRecordedNow(raw)
	want, err := f.canonicalNow(raw)
	if err != nil {
		return false
	}
	fv := f.f.ReflectValueOf(ctx, row)
	if !fv.CanSet() {
		return false
	}
	saved := reflect.New(fv.Type()).Elem()
	saved.Set(fv)
	defer func() {
		if r := recover(); r != nil {
			ok = false
		}
		if !ok {
			fv.Set(saved)
		}
	}()
	matches := func() bool {
		v, err := f.value(ctx, row)
		if err != nil {
			return false
		}
		got, err := canonical(v.AppendJSON(nil))
		return err == nil && got == want
	}
	// A document recorded apart from the tag it looks like ({"$doc": …})
	// is that document, and no tag.
	doc, escaped := value.EscapedDocument(raw)
	if escaped {
		raw = doc
	}
	// A JSON column holds the document itself: its text first, so that
	// the document "hello" (a JSON string) is not taken for the text hello,
	// which such a column records the same way.
	if f.opts.JSON {
		first := []any{string(raw), []byte(raw)}
		if text, ok := value.DocumentText(raw); ok && !escaped {
			// Text recorded as a string because its object repeats a key
			// (value.Normalize): the column held that text.
			first = []any{text, []byte(text), string(raw), []byte(raw)}
		}
		for _, c := range first {
			fv.Set(reflect.Zero(fv.Type()))
			if f.f.Set(ctx, row, c) == nil && matches() {
				return true
			}
		}
	}
	switch f.f.Serializer.(type) {
	case schema.GobSerializer, *schema.GobSerializer:
		// The bytes GORM's gob serializer stored, decoded by it. Not
		// checked by encoding them again, which differs for a map (its
		// order is random): the bytes recorded decode to one value.
		for _, c := range candidates(raw, !escaped) {
			var b []byte
			switch c := c.(type) {
			case string:
				b = []byte(c)
			case []byte:
				b = c
			default:
				continue
			}
			fv.Set(reflect.Zero(fv.Type()))
			if f.f.Serializer.Scan(ctx, f.f, row, b) == nil {
				return true
			}
		}
		return false
	}
	if f.kind == schema.Bytes && f.f.Serializer == nil && !escaped && len(raw) > 0 && raw[0] == '"' {
		// A byte slice is recorded as its column returns it: its bytes in
		// base64, or the text of a column returned as text (textBytes).
		// Decoded as JSON, a json.RawMessage would take the string itself
		// for its document, and any byte slice a text for base64.
		return setBytes(ctx, f, row, fv, raw)
	}
	// Straight JSON decoding into the field's type: numbers, strings,
	// times, pointers, and types that decode JSON themselves.
	ptr := reflect.New(fv.Type())
	if json.Unmarshal(raw, ptr.Interface()) == nil {
		fv.Set(ptr.Elem())
		if matches() {
			return true
		}
	}
	for _, c := range candidates(raw, !escaped) {
		fv.Set(reflect.Zero(fv.Type()))
		if f.f.Set(ctx, row, c) == nil && matches() {
			return true
		}
	}
	// A type that reads itself from the column (sql.Scanner, "21.5C" of a
	// temperature), or a field GORM stores through a serializer of its own
	// (unixtime): GORM's setter parses a number kind's text itself, and
	// sets a serialized field's Go value.
	stored := func() bool {
		if matches() {
			return true
		}
		// The value the field's serializer or Value method stores, read
		// as the column returns it: as it is, or, where it is text, as
		// the bytes MySQL returns every value as.
		v, _ := f.f.ValueOf(ctx, row)
		dv, ok := v.(driver.Valuer)
		if !ok {
			return false
		}
		raw, err := dv.Value()
		if err != nil {
			return false
		}
		forms := []any{raw}
		if text, ok := raw.(string); ok {
			forms = append(forms, []byte(text))
		}
		for _, form := range forms {
			got, err := f.fromDB(form)
			if err != nil {
				continue
			}
			if text, err := canonical(got.AppendJSON(nil)); err == nil && text == want {
				return true
			}
		}
		return false
	}
	for _, c := range candidates(raw, !escaped) {
		fv.Set(reflect.Zero(fv.Type()))
		if scanInto(ctx, f, row, fv, c) && stored() {
			return true
		}
	}
	return false
}

// scanInto sets fv to c read as the column's value: through the field's
// serializer, or the Scan of its type.
func scanInto(ctx context.Context, f *field, row, fv reflect.Value, c any) bool {
	if f.f.Serializer != nil {
		return f.f.Serializer.Scan(ctx, f.f, row, c) == nil
	}
	t := fv.Type()
	ptr := t.Kind() == reflect.Pointer
	if ptr {
		t = t.Elem()
	}
	nv := reflect.New(t)
	sc, ok := nv.Interface().(sql.Scanner)
	if !ok || sc.Scan(c) != nil {
		return false
	}
	if ptr {
		fv.Set(nv)
	} else {
		fv.Set(nv.Elem())
	}
	return true
}

// candidates are the driver values a recorded value may have been read
// from: for a JSON string its text, time, bytes (base64) and number; for a
// number its integer, float and text; for text that is not UTF-8
// ({"$base64": "…"}) its bytes, where tags are read; for an object or
// array its JSON text.
// setBytes sets a byte slice field to the bytes raw, a JSON string,
// records (setField).
func setBytes(ctx context.Context, f *field, row, fv reflect.Value, raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	b := []byte(s)
	if !f.textBytes {
		var err error
		if b, err = base64.StdEncoding.DecodeString(s); err != nil {
			return false
		}
	}
	fv.Set(reflect.Zero(fv.Type()))
	if f.f.Set(ctx, row, b) != nil {
		return false
	}
	got := reflect.Indirect(f.f.ReflectValueOf(ctx, row))
	return got.Kind() == reflect.Slice && got.Type().Elem().Kind() == reflect.Uint8 && bytes.Equal(got.Bytes(), b)
}

func candidates(raw json.RawMessage, tags bool) []any {
	if t, ok := value.Base64Text(raw); ok && tags {
		return []any{t, []byte(t)}
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	switch v := v.(type) {
	case nil:
		return []any{nil}
	case bool:
		return []any{v}
	case json.Number:
		out := []any{}
		if i, err := v.Int64(); err == nil {
			out = append(out, i)
		}
		if f, err := v.Float64(); err == nil {
			out = append(out, f)
		}
		return append(out, v.String(), []byte(v.String()))
	case string:
		out := []any{v}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			out = append(out, t)
		}
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			out = append(out, b)
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out = append(out, f)
		}
		return append(out, []byte(v))
	}
	return []any{string(raw), []byte(raw)}
}

// canonical is raw's canonical JSON text.
func canonical(raw []byte) (string, error) {
	v, err := value.Normalize(json.RawMessage(raw), value.Options{})
	if err != nil {
		return "", err
	}
	return string(v.AppendJSON(nil)), nil
}

// asRecordedNow is raw, a value an entry recorded, in the form entries record
// it now: a document whose keys are all tag keys and which is no tag
// ({"$json": "abc"}), recorded before such documents were escaped, is
// {"$doc": document} (value.TagShaped).
func asRecordedNow(raw []byte) []byte {
	if !value.TagShaped(raw) {
		return raw
	}
	if _, ok := value.EscapedDocument(raw); ok {
		return raw
	}
	if _, ok := value.DocumentText(raw); ok {
		return raw
	}
	if _, ok := value.Base64Text(raw); ok {
		return raw
	}
	if auditstore.IsDigest(raw) {
		return raw
	}
	return append(append([]byte(`{"$doc":`), raw...), '}')
}

// canonical is the canonical JSON text of raw, a value recorded for f, as
// f's column is recorded now. SQLite's entries recorded a number field's
// DECIMAL column as text ("12.5") before they recorded it as the other
// databases do, as a number: such text reads as the number.
func (f *field) canonical(raw []byte) (string, error) {
	return f.canonicalNow(asRecordedNow(raw))
}

// canonicalNow is canonical of raw already in today's form (asRecordedNow).
func (f *field) canonicalNow(raw []byte) (string, error) {
	if f.opts.Decimal && (f.kind == schema.Int || f.kind == schema.Uint || f.kind == schema.Float) && len(raw) > 0 && raw[0] == '"' {
		var text string
		if json.Unmarshal(raw, &text) == nil {
			if v, err := f.fromDB(text); err == nil {
				if b := v.AppendJSON(nil); len(b) > 0 && b[0] != '"' {
					return string(b), nil
				}
			}
		}
	}
	return canonical(raw)
}

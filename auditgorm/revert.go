package auditgorm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/value"
)

// Revert, Restore and RevertCorrelation undo recorded changes as normal
// audited writes: each writes its own entries, whose additional data names
// what they reverted ("reverted_entry", "reverted_correlation").

// RevertOptions tune Revert, Restore and RevertCorrelation.
type RevertOptions struct {
	// Force reverts even where a field no longer holds the value the entry
	// recorded (a later change is overwritten).
	Force bool
	// Values supplies, by Go field name or column, the values the entries
	// cannot tell: for Restore, of excluded and masked fields and of
	// columns the delete entry does not name (added since, or null then,
	// which otherwise take the column's default); for Revert and Restore,
	// of a value recorded as the mask leaves it (recorded while the field
	// was masked, or a clear value of that form: see the README).
	Values map[string]any
}

// ErrConflict is matched (errors.Is) by a *ConflictError.
var ErrConflict = errors.New("auditgorm: the object changed since the entry")

// ErrCannotRevert is matched (errors.Is) by the errors of an entry that
// cannot be reverted whatever the options: a masked or digested value, a
// field or model that no longer exists, a relation recorded by repr only.
var ErrCannotRevert = errors.New("auditgorm: the entry cannot be reverted")

// Conflict is one field that no longer holds what an entry recorded.
type Conflict struct {
	Entry     int64
	Model, PK string
	Field     string
	// Recorded is the value the entry left; Current is the value now (for
	// a relation, the related object's key and whether it is linked).
	Recorded, Current string
}

// ConflictError lists the fields that changed since the entry a revert
// would undo. Nothing was written.
type ConflictError struct{ Conflicts []Conflict }

func (e *ConflictError) Error() string {
	var b strings.Builder
	b.WriteString("auditgorm: revert refused, changed since the entry (Force overrides):")
	for i, c := range e.Conflicts {
		if i == 8 {
			fmt.Fprintf(&b, " and %d more", len(e.Conflicts)-i)
			break
		}
		fmt.Fprintf(&b, " %s %s.%s is %s, entry %d left %s;", c.Model, c.PK, c.Field, clipText(c.Current), c.Entry, clipText(c.Recorded))
	}
	return strings.TrimSuffix(b.String(), ";")
}

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

func clipText(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// errUnreadable says an entry did not decode as stored; it wraps
// auditstore.ErrUnreadable.
var errUnreadable = fmt.Errorf("could not be read as stored (%w)", auditstore.ErrUnreadable)

func cannot(e auditlog.Entry, format string, args ...any) error {
	return fmt.Errorf("%w: entry %d (%s %s): %s", ErrCannotRevert, e.ID, e.Model, e.ObjectPK, fmt.Sprintf(format, args...))
}

// Revert undoes entry id in one transaction: an update sets each changed
// field back to its old value and re-adds or removes the related objects of
// a many-to-many change; a create deletes the object; a delete restores it
// (see Restore). It checks first, under lock, that each field still holds
// the value the entry left, and returns a *ConflictError listing those that
// do not, writing nothing, unless opts.Force. The plugin must be installed
// on db: the revert is an audited write.
func Revert(ctx context.Context, db *gorm.DB, id int64, opts RevertOptions) error {
	return revertTx(ctx, db, opts, func(rv *reverter) error {
		s, err := NewStore(rv.tx)
		if err != nil {
			return err
		}
		e, err := s.Get(ctx, id)
		if err != nil {
			return err
		}
		return rv.revert(auditlog.WithExtra(ctx, map[string]any{"reverted_entry": id}), e)
	})
}

// Restore re-creates obj (a pointer to a model with its key set), deleted
// by its latest entry: a soft-deleted row gets its soft-delete column
// cleared; a hard-deleted one is inserted again with the values its delete
// entry recorded. Fields the entries cannot tell (excluded, masked) must be
// given in opts.Values, or Restore refuses. Many-to-many relations are not
// re-created: revert their entries.
func Restore(ctx context.Context, db *gorm.DB, obj any, opts RevertOptions) error {
	if ctx == nil {
		return errNilContext
	}
	r, err := ref(ctx, db, obj)
	if err != nil {
		return err
	}
	return revertTx(ctx, db, opts, func(rv *reverter) error {
		es, err := objectEntries(ctx, rv.tx, r)
		if err != nil {
			return err
		}
		if len(es) == 0 || es[len(es)-1].Action != auditlog.ActionDelete {
			return fmt.Errorf("auditgorm: Restore: the latest entry of %s %s is not a delete", r.Model, r.PK)
		}
		e := es[len(es)-1]
		return rv.revert(auditlog.WithExtra(ctx, map[string]any{"reverted_entry": e.ID}), e)
	})
}

// RevertCorrelation undoes every entry with correlation id cid (one
// request or job), newest first, in one transaction: all or nothing, with
// Revert's conflict rule. A many-to-many change recorded on both sides of
// a relation is undone once.
func RevertCorrelation(ctx context.Context, db *gorm.DB, cid string, opts RevertOptions) error {
	if cid == "" {
		return errors.New("auditgorm: RevertCorrelation: the correlation id is empty")
	}
	return revertTx(ctx, db, opts, func(rv *reverter) error {
		s, err := NewStore(rv.tx)
		if err != nil {
			return err
		}
		var es []auditlog.Entry
		err = s.Each(ctx, auditstore.Filter{CorrelationID: cid}, func(e auditlog.Entry) error {
			if !ChangesNothing(e) {
				es = append(es, e)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return fmt.Errorf("auditgorm: RevertCorrelation: no entries with correlation id %q", cid)
		}
		if actors := CorrelationActors(es); len(actors) > 1 {
			return fmt.Errorf("%w: the entries of correlation id %q were written by %d actors (%s): a correlation id can come from a request header, which any client can set; undo the entries you mean by their ids (RevertEntries)",
				ErrCannotRevert, cid, len(actors), strings.Join(actors, ", "))
		}
		return rv.revertAll(ctx, es)
	})
}

// ChangesNothing reports whether e is an entry with nothing to undo: an
// access entry, or an update entry that records no change (Log's). A
// correlation's revert passes over them; Revert of one alone refuses it.
func ChangesNothing(e auditlog.Entry) bool {
	return e.Action == auditlog.ActionAccess || e.Unreadable == "" && e.Action == auditlog.ActionUpdate && len(e.Changes) == 0
}

// CorrelationActors lists the actors of es (by id, else name; "none" for
// entries without one), sorted: RevertCorrelation and the auditlog revert
// command refuse a correlation id whose entries name more than one, since
// a client can send another request's id.
func CorrelationActors(es []auditlog.Entry) []string {
	var out []string
	for _, e := range es {
		a := e.Actor().String()
		if e.ActorID != "" {
			a = e.ActorID
		}
		if a == "" {
			a = "none"
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// RevertEntries undoes the entries ids in one transaction, newest first
// (by time, then id), all or nothing, with Revert's conflict rule: what a
// job revert does, for a list of entries chosen and confirmed beforehand (the
// auditlog revert command's plan).
func RevertEntries(ctx context.Context, db *gorm.DB, ids []int64, opts RevertOptions) error {
	if len(ids) == 0 {
		return errors.New("auditgorm: RevertEntries: no entries given")
	}
	return revertTx(ctx, db, opts, func(rv *reverter) error {
		s, err := NewStore(rv.tx)
		if err != nil {
			return err
		}
		es := make([]auditlog.Entry, 0, len(ids))
		for _, id := range ids {
			e, err := s.Get(ctx, id)
			if err != nil {
				return err
			}
			es = append(es, e)
		}
		return rv.revertAll(ctx, es)
	})
}

// revertAll undoes es newest first (by time, then id), each once; the
// entries of each revert name it and its correlation id.
func (rv *reverter) revertAll(ctx context.Context, es []auditlog.Entry) error {
	// By id: the entries of one object are numbered in the order its
	// writes held its row, whatever the clocks that stamped them.
	slices.SortFunc(es, func(a, b auditlog.Entry) int { return cmp.Compare(b.ID, a.ID) })
	es = slices.CompactFunc(es, func(a, b auditlog.Entry) bool { return a.ID == b.ID })
	for _, e := range es {
		extra := map[string]any{"reverted_entry": e.ID}
		if e.CorrelationID != "" {
			extra["reverted_correlation"] = e.CorrelationID
		}
		if err := rv.revert(auditlog.WithExtra(ctx, extra), e); err != nil {
			return err
		}
	}
	return nil
}

// reverter undoes entries inside one transaction.
type reverter struct {
	p      *Plugin
	tx     *gorm.DB
	opts   RevertOptions
	models map[string]*model // by the name entries carry, as found
	// used are the keys of opts.Values a revert used.
	used map[string]bool
	// pending counts, per link and operation, the changes undone from one
	// side of a relation registered on both: the other side's entry of
	// the same change is skipped once.
	pending map[string]int
}

func revertTx(ctx context.Context, db *gorm.DB, opts RevertOptions, fn func(*reverter) error) error {
	if ctx == nil {
		return errors.New("auditgorm: ctx is nil")
	}
	if db == nil {
		return errors.New("auditgorm: db is nil")
	}
	p := pluginOf(db)
	if p == nil {
		return errors.New("auditgorm: reverting needs the auditgorm plugin installed on db: the revert is an audited write")
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		rv := &reverter{p: p, tx: tx, opts: opts, models: map[string]*model{}, pending: map[string]int{}, used: map[string]bool{}}
		if err := fn(rv); err != nil {
			return err
		}
		// A value given that no entry needed (one it records, a field it
		// does not name, a name that is no field's) is refused, not
		// passed over: the caller meant it to be written.
		for _, k := range slices.Sorted(maps.Keys(opts.Values)) {
			if !rv.used[k] {
				return fmt.Errorf("%w: RevertOptions.Values gives %s, which no reverted entry needs: give only what the entries cannot tell", ErrCannotRevert, k)
			}
		}
		return nil
	})
}

// modelNamed returns the registered model whose entries carry e's model
// name.
func (rv *reverter) modelNamed(e auditlog.Entry) (*model, error) {
	if m, ok := rv.models[e.Model]; ok {
		return m, nil
	}
	m, err := rv.p.modelByName(rv.tx, e.Model)
	switch {
	case err != nil:
		return nil, err
	case m == nil:
		return nil, cannot(e, "no registered model is recorded as %q", e.Model)
	}
	rv.models[e.Model] = m
	return m, nil
}

func (rv *reverter) revert(ctx context.Context, e auditlog.Entry) error {
	if e.Unreadable != "" {
		return fmt.Errorf("%w: entry %d (%s %s) %w: %s", ErrCannotRevert, e.ID, e.Model, e.ObjectPK, errUnreadable, e.Unreadable)
	}
	m, err := rv.modelNamed(e)
	if err != nil {
		return err
	}
	if len(m.pk) != 1 {
		return cannot(e, "a model with a composite key")
	}
	if m.pk[0].masked {
		// The entry names the object by its masked key, which is no row's:
		// reading by it would find none and call the object deleted.
		return cannot(e, "its key is masked, so the entry does not name the row")
	}
	tx := rv.tx.WithContext(ctx)
	switch e.Action {
	case auditlog.ActionCreate:
		return rv.revertCreate(ctx, tx, m, e)
	case auditlog.ActionUpdate:
		if len(e.Changes) == 0 {
			// (auditgorm.Log's): undoing it would write nothing, and no
			// entry would say that it was undone.
			return cannot(e, "it records no change")
		}
		return rv.revertUpdate(ctx, tx, m, e)
	case auditlog.ActionDelete:
		return rv.revertDelete(ctx, tx, m, e)
	}
	return cannot(e, "a %s entry changes nothing", e.Action)
}

// held is an object as it is now, read under lock: its struct, for the
// writes that undo an entry, and its row's columns as the capture reads
// them, which the entry's values are compared with (a column a field of a
// non-pointer type reads as its zero value, "" for NULL, is NULL there).
type held struct {
	obj reflect.Value
	row *dbRow
}

// current reads the object of key text (an entry's object_pk) under lock;
// ok is false when it does not exist.
func (rv *reverter) current(ctx context.Context, tx *gorm.DB, m *model, e auditlog.Entry, text string) (held, bool, error) {
	obj := reflect.New(m.schema.ModelType)
	h := held{obj: obj}
	key := keyJSON(m, text)
	if !setField(ctx, m.pk[0], obj.Elem(), key) {
		return h, false, cannot(e, "the key %s does not convert to %s's key", key, m.schema.Name)
	}
	if k, _, err := m.keyOf(ctx, obj.Elem()); err != nil || k != text {
		// " 5" or "5e0" converts to 5, but names no object: entries of
		// object 5 name it "5", and whether it was deleted since, or moved,
		// is looked up by that name.
		return h, false, cannot(e, "the key %s is not how %s's keys are written (%q): the entry names no object", key, m.schema.Name, k)
	}
	// The key as an explicit condition: GORM adds none for a zero key
	// (0, ""), and would take any row.
	pk := m.pk[0]
	kv, _ := pk.f.ValueOf(ctx, obj.Elem())
	lock := func(q *gorm.DB) *gorm.DB {
		if rv.p.lock {
			return q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		return q
	}
	rows, err := rv.p.readWhereIn(tx, ctx, m, m.schema.Table, []string{pk.column}, [][]any{{kv}}, lock)
	switch {
	case err != nil:
		return h, false, err
	case len(rows) == 0:
		return h, false, nil
	case len(rows) > 1:
		return h, false, fmt.Errorf("auditgorm: revert of entry %d: %d rows of %s hold the key %s", e.ID, len(rows), m.schema.Name, key)
	}
	h.row = rows[0]
	// The struct the writes go through, made from the row as the capture
	// reads it: a value GORM's scan refuses (2 in a boolean column) is
	// one its setter takes. Where a field takes no value of its column,
	// GORM reads the row itself.
	if o := h.row.object(ctx, m); o.IsValid() {
		obj.Elem().Set(o)
		return h, true, nil
	}
	// Find, not Take: a row not there is an answer, not an error for
	// GORM's logger to print in the application's log.
	q := lock(tx.Unscoped().Where(clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: pk.column}, Value: kv}))
	r := q.Omit(clause.Associations).Limit(1).Find(obj.Interface())
	if r.Error != nil {
		// Not the scan's error, which may quote a masked value.
		return h, false, cannot(e, "the row of %s %s does not read into the model: a column holds a value its field's type does not take", m.schema.Name, e.ObjectPK)
	}
	return h, r.RowsAffected > 0, nil
}

// keyJSON is the object key of an entry as a recorded value.
func keyJSON(m *model, pk string) json.RawMessage {
	switch m.pk[0].f.FieldType.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return json.RawMessage(pk)
	}
	raw, _ := json.Marshal(pk)
	return raw
}

// recordedNow returns a field's current value as an entry would record it:
// its column's, as the capture reads it.
func recordedNow(f *field, h held) (string, error) {
	return canonical(h.row.vals[f.index].AppendJSON(nil))
}

// revertible reports whether a field's values may be written back: plugin
// managed columns (optimistic-lock versions) move forward only.
func revertible(f *field, soft bool) bool {
	if soft {
		return true
	}
	_, managed := reflect.New(f.f.FieldType).Interface().(schema.UpdateClausesInterface)
	return !managed
}

// checkValues compares the fields an entry changed with their current
// values, and with old set decodes the entry's old values into a copy of
// the model (write): cols are the columns to write back, those that do not
// hold their old value already. Masked, digested and vanished fields
// cannot be reverted.
func (rv *reverter) checkValues(ctx context.Context, m *model, e auditlog.Entry, h held, recorded, old func(auditlog.Change) json.RawMessage) (cols []string, write reflect.Value, conflicts []Conflict, err error) {
	softCol := softColumn(m)
	write = reflect.New(m.schema.ModelType)
	for _, col := range e.Changes.Fields() {
		c := e.Changes[col]
		if c.M2M != nil {
			continue
		}
		f := m.byColumn[col]
		switch {
		case f == nil:
			return nil, write, nil, cannot(e, "%s is no longer a column of %s", col, m.schema.Name)
		case (f.masked || f.excluded || !f.audited || auditstore.IsDigest(c.Old) || auditstore.IsDigest(c.New)) && old == nil:
			continue // no value to compare, none to write back
		case f.excluded || !f.audited:
			// Excluded since the entry: its current value is a secret now,
			// neither compared (a conflict would show it) nor written.
			return nil, write, nil, cannot(e, "%s is no longer audited", col)
		case f.masked:
			return nil, write, nil, cannot(e, "%s is masked: its old value is not recorded", col)
		case auditstore.IsDigest(c.Old) || auditstore.IsDigest(c.New):
			return nil, write, nil, cannot(e, "%s was too large to record: only its digest is", col)
		case !revertible(f, col == softCol):
			continue
		}
		now, err := recordedNow(f, h)
		if err != nil {
			return nil, write, nil, err
		}
		want, err := f.canonical(recorded(c))
		if err != nil {
			return nil, write, nil, cannot(e, "%s: %v", col, err)
		}
		if !f.sameValue(now, want) {
			conflicts = append(conflicts, Conflict{Entry: e.ID, Model: e.Model, PK: e.ObjectPK, Field: col, Recorded: want, Current: now})
		}
		if old == nil {
			continue
		}
		if looksMasked(m, old(c)) {
			v, given := rv.supplied(f)
			rv.use(f)
			if !given {
				return nil, write, nil, cannot(e, "%s: its recorded old value is one the mask leaves as it is, as it leaves its own text (recorded while the field was masked?): give the value in RevertOptions.Values", col)
			}
			if err := f.f.Set(ctx, write.Elem(), v); err != nil {
				// Not the setter's error, which may quote the value.
				return nil, write, nil, fmt.Errorf("auditgorm: Revert: the value given for %s, a %T, does not convert to %s", f.f.Name, v, f.f.FieldType)
			}
			cols = append(cols, col)
			continue
		}
		if was, err := f.canonical(old(c)); err == nil && was == now {
			continue // holds the old value already (a forced revert)
		}
		if !setField(ctx, f, write.Elem(), old(c)) {
			return nil, write, nil, cannot(e, "%s: the recorded value %s does not convert to %s", col, clipText(string(old(c))), f.f.FieldType)
		}
		cols = append(cols, col)
	}
	return cols, write, conflicts, nil
}

func newValue(c auditlog.Change) json.RawMessage { return c.New }
func oldValue(c auditlog.Change) json.RawMessage { return c.Old }

func (rv *reverter) conflict(cs []Conflict) error {
	if len(cs) == 0 || rv.opts.Force {
		return nil
	}
	return &ConflictError{Conflicts: cs}
}

// gone answers an entry whose object no longer exists: a conflict, and
// one that Force cannot override, since there is nothing to write to.
func (rv *reverter) gone(e auditlog.Entry, recorded, current string) error {
	if rv.opts.Force {
		return cannot(e, "the object is %s: nothing to revert it on", current)
	}
	return &ConflictError{Conflicts: []Conflict{{Entry: e.ID, Model: e.Model, PK: e.ObjectPK, Field: "(object)", Recorded: recorded, Current: current}}}
}

// writeBack writes cols of write (the old values) to obj, through GORM's
// update of selected fields, so that serializers and the plugin see it as
// any update.
func writeBack(tx *gorm.DB, m *model, e auditlog.Entry, obj reflect.Value, cols []string, write reflect.Value) error {
	if len(cols) == 0 {
		return nil
	}
	// Plugin-managed columns (an optimistic-lock version) are selected too,
	// so that their plugins move them as on any update.
	soft := softColumn(m)
	for _, f := range m.fields {
		if f.column != soft && !revertible(f, false) && !slices.Contains(cols, f.column) {
			cols = append(cols, f.column)
		}
	}
	res := tx.Unscoped().Model(obj.Interface()).Select(cols).Omit(clause.Associations).Updates(write.Interface())
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("auditgorm: revert of entry %d updated %d rows of %s %s, not 1", e.ID, res.RowsAffected, e.Model, e.ObjectPK)
	}
	return nil
}

func (rv *reverter) revertUpdate(ctx context.Context, tx *gorm.DB, m *model, e auditlog.Entry) error {
	left := e.ObjectPK
	if c, ok := e.Changes[m.pk[0].column]; ok && c.M2M == nil {
		left = auditstore.KeyText(c.New) // a key change: the object left it with the new key
	}
	h, err := rv.object(ctx, tx, m, e, left, "exists")
	if err != nil {
		return err
	}
	obj := h.obj
	cols, write, conflicts, err := rv.checkValues(ctx, m, e, h, newValue, oldValue)
	if err != nil {
		return err
	}
	type m2mStep struct {
		col  string
		rel  *schema.Relationship
		add  bool
		keys []string
		op   auditlog.M2MOperation
	}
	var steps []m2mStep
	for _, col := range e.Changes.Fields() {
		c := e.Changes[col]
		if c.M2M == nil {
			continue
		}
		rel := m.m2m[col]
		if rel == nil {
			return cannot(e, "%s is not a many-to-many relation named with auditlog.M2M", col)
		}
		if rm := rv.p.plainModel(tx, rel.FieldSchema); rm == nil || len(rm.pk) != 1 || rm.pk[0].masked {
			return cannot(e, "%s names its related objects by masked keys, which are no rows' keys", col)
		}
		keys, ok := m2mKeys(rel, c.M2M)
		if !ok {
			return cannot(e, "%s names its related objects by repr only", col)
		}
		linked, err := linkedKeys(ctx, tx, obj, rel, keys)
		if err != nil {
			return err
		}
		add := c.M2M.Operation != auditlog.M2MAdd // undo an add by removing
		var todo []string
		for _, k := range keys {
			if mirror := pairKey(m, rel, e.ObjectPK, k, c.M2M.Operation); rv.pending[mirror] > 0 {
				rv.pending[mirror]-- // the other side's entry of a change undone already
				continue
			}
			if linked[k] == add {
				conflicts = append(conflicts, Conflict{Entry: e.ID, Model: e.Model, PK: e.ObjectPK, Field: col, Recorded: fmt.Sprintf("%s linked: %t", k, !add), Current: fmt.Sprintf("%s linked: %t", k, add)})
				continue
			}
			todo = append(todo, k)
		}
		steps = append(steps, m2mStep{col: col, rel: rel, add: add, keys: todo, op: c.M2M.Operation})
	}
	if err := rv.conflict(conflicts); err != nil {
		return err
	}
	if err := writeBack(tx, m, e, obj, cols, write); err != nil {
		return err
	}
	for _, s := range steps {
		if len(s.keys) == 0 {
			continue
		}
		if s.add {
			if err := relatedExist(ctx, tx, s.rel, s.keys); err != nil {
				return cannot(e, "%v", err)
			}
		}
		objs, err := relatedByKeys(ctx, s.rel, reflect.SliceOf(reflect.PointerTo(s.rel.FieldSchema.ModelType)), s.keys)
		if err != nil {
			return cannot(e, "%s: %v", s.rel.Name, err)
		}
		// The related rows as they are: GORM makes and finds the join
		// rows by the References columns, which need not be the key.
		if objs, err = readRelated(ctx, tx, s.rel, objs); err != nil {
			return err
		}
		if objs.Len() != len(s.keys) {
			return cannot(e, "%s: of the %d related rows, %d are there", s.rel.Name, len(s.keys), objs.Len())
		}
		a := tx.Model(obj.Interface()).Association(s.rel.Name)
		if s.add {
			err = a.Append(objs.Interface())
		} else {
			err = a.Delete(objs.Interface())
		}
		if err != nil {
			return err
		}
		mirrored, err := rv.mirrored(m, s.col)
		if err != nil {
			return err
		}
		if mirrored {
			for _, k := range s.keys {
				rv.pending[pairKey(m, s.rel, e.ObjectPK, k, s.op)]++
			}
		}
	}
	return nil
}

// sameValue reports whether now and want, values in canonical JSON, are
// one value as the capture compares them (value.Value.Equal): a decimal
// column's by number (PostgreSQL's numeric without a scale keeps "2.00"
// and "2" apart as text, and an update from one to the other records
// nothing).
func (f *field) sameValue(now, want string) bool {
	if now == want {
		return true
	}
	if !f.opts.Decimal {
		return false
	}
	a, okA := f.decimal(now)
	b, okB := f.decimal(want)
	return okA && okB && a.Equal(b)
}

// decimal is raw, a JSON number or a string holding one, as the capture
// normalises a decimal column's value.
func (f *field) decimal(raw string) (value.Value, bool) {
	text := raw
	if strings.HasPrefix(raw, `"`) && json.Unmarshal([]byte(raw), &text) != nil {
		return value.Value{}, false
	}
	v, err := value.Normalize(text, value.Options{Decimal: true})
	return v, err == nil
}

// readRelated reads the rows of rel's model whose keys objs (a slice of
// pointers, keys set) hold, soft deleted ones too.
func readRelated(ctx context.Context, tx *gorm.DB, rel *schema.Relationship, objs reflect.Value) (reflect.Value, error) {
	pk := rel.FieldSchema.PrimaryFields[0]
	keys := make([]any, objs.Len())
	for i := range keys {
		keys[i], _ = pk.ValueOf(ctx, objs.Index(i).Elem())
	}
	dest := reflect.New(objs.Type())
	err := tx.Session(&gorm.Session{NewDB: true}).Unscoped().Model(reflect.New(rel.FieldSchema.ModelType).Interface()).
		Where(clause.IN{Column: clause.Column{Table: clause.CurrentTable, Name: pk.DBName}, Values: keys}).Find(dest.Interface()).Error
	return dest.Elem(), err
}

// trackedColumns are the fields whose every value an entry records: audited,
// not masked, not an auto-updated timestamp, not plugin-managed.
func trackedColumns(m *model) []*field {
	var out []*field
	for _, f := range m.fields {
		if f.audited && !f.masked && !f.excluded && !f.noise && revertible(f, false) {
			out = append(out, f)
		}
	}
	return out
}

func (rv *reverter) revertCreate(ctx context.Context, tx *gorm.DB, m *model, e auditlog.Entry) error {
	h, err := rv.object(ctx, tx, m, e, e.ObjectPK, "exists")
	if err != nil {
		return err
	}
	obj := h.obj
	// Every tracked field must hold what the create left: the values it
	// names, null for the others (a create entry names those not null).
	var conflicts []Conflict
	for _, f := range trackedColumns(m) {
		want := json.RawMessage("null")
		if c, named := e.Changes[f.column]; named && c.M2M == nil {
			if auditstore.IsDigest(c.New) {
				continue
			}
			want = c.New
		}
		now, err := recordedNow(f, h)
		if err != nil {
			return err
		}
		if w, err := f.canonical(want); err != nil || !f.sameValue(now, w) {
			conflicts = append(conflicts, Conflict{Entry: e.ID, Model: e.Model, PK: e.ObjectPK, Field: f.column, Recorded: string(want), Current: now})
		}
	}
	// And it had no related objects: links made since are changes too.
	var linkedRels []*schema.Relationship
	for _, col := range slices.Sorted(maps.Keys(m.m2m)) {
		rel := m.m2m[col]
		a := tx.Model(obj.Interface()).Association(rel.Name).Unscoped()
		n := a.Count()
		if a.Error != nil {
			return a.Error
		}
		if n > 0 {
			linkedRels = append(linkedRels, rel)
			conflicts = append(conflicts, Conflict{Entry: e.ID, Model: e.Model, PK: e.ObjectPK, Field: col, Recorded: "no related objects", Current: fmt.Sprintf("%d related objects", n)})
		}
	}
	if err := rv.conflict(conflicts); err != nil {
		return err
	}
	for _, rel := range linkedRels { // forced: unlink them first, audited
		if err := tx.Model(obj.Interface()).Association(rel.Name).Clear(); err != nil {
			return err
		}
	}
	res := tx.Omit(clause.Associations).Delete(obj.Interface())
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 { // soft-deleted already
		return rv.gone(e, "exists", "soft-deleted")
	}
	return nil
}

func (rv *reverter) revertDelete(ctx context.Context, tx *gorm.DB, m *model, e auditlog.Entry) error {
	if softDelete(m, e) {
		// A soft delete: clear the column, if the row still is as deleted.
		h, err := rv.object(ctx, tx, m, e, e.ObjectPK, "soft-deleted")
		if err != nil {
			return err
		}
		cols, write, conflicts, err := rv.checkValues(ctx, m, e, h, newValue, oldValue)
		if err != nil {
			return err
		}
		if err := rv.conflict(conflicts); err != nil {
			return err
		}
		return writeBack(tx, m, e, h.obj, cols, write)
	}
	_, ok, err := rv.current(ctx, tx, m, e, e.ObjectPK)
	if err != nil {
		return err
	}
	if ok {
		// A row holds the key: the object restored already, or another.
		// Forced, there is nothing to restore it into.
		if rv.opts.Force {
			return cannot(e, "a row holds its key: there is nothing to restore it into")
		}
		return rv.conflict([]Conflict{{Entry: e.ID, Model: e.Model, PK: e.ObjectPK, Field: "(object)", Recorded: "deleted", Current: "exists"}})
	}
	// Brought back since (a restore of this delete), and maybe moved,
	// changed or deleted again: this delete is not what keeps it away.
	if by, err := rv.restoredSince(ctx, m, e); err != nil {
		return err
	} else if by != 0 {
		if rv.opts.Force {
			return cannot(e, "entry %d restored the object since: revert its latest entries instead", by)
		}
		return rv.conflict([]Conflict{{Entry: e.ID, Model: e.Model, PK: e.ObjectPK, Field: "(object)", Recorded: "deleted", Current: fmt.Sprintf("restored by entry %d", by)}})
	}
	// A hard delete: its entry names every column that was not null, each
	// of which must be a column of the model still.
	for _, col := range e.Changes.Fields() {
		if c := e.Changes[col]; c.M2M == nil && m.byColumn[col] == nil {
			return cannot(e, "%s is no longer a column of %s", col, m.schema.Name)
		}
	}
	row := reflect.New(m.schema.ModelType)
	var missing, known []string
	for _, f := range m.fields {
		c, named := e.Changes[f.column]
		supplied, given := rv.supplied(f)
		untold := f.excluded || !f.audited || f.masked || (named && c.M2M == nil && (auditstore.IsDigest(c.Old) || looksMasked(m, c.Old)))
		switch {
		case given && !untold && named:
			known = append(known, f.f.Name)
		case given:
			rv.use(f)
			if err := f.f.Set(ctx, row.Elem(), supplied); err != nil {
				// Not the setter's error, which may quote the value: a
				// masked or excluded field's value is shown nowhere.
				return fmt.Errorf("auditgorm: Restore: the value given for %s, a %T, does not convert to %s", f.f.Name, supplied, f.f.FieldType)
			}
		case untold:
			missing = append(missing, f.f.Name)
		case !named || c.M2M != nil:
			// Null when the delete was made, or a column added since: the
			// entry cannot tell which, and the insert leaves it to the
			// column's default (null where it has none).
		case !setField(ctx, f, row.Elem(), c.Old):
			return cannot(e, "%s: the recorded value %s does not convert to %s", f.column, clipText(string(c.Old)), f.f.FieldType)
		}
	}
	if len(known) > 0 {
		return cannot(e, "RevertOptions.Values gives %s, which the delete entry records: give only what the entries cannot tell", strings.Join(known, ", "))
	}
	if len(missing) > 0 {
		return cannot(e, "the entries do not tell %s: give them in RevertOptions.Values", strings.Join(missing, ", "))
	}
	// As a map of every column: GORM replaces a struct's zero value by the
	// column's default (false by true), a map's value it keeps. Each
	// value goes through its field (serializers included); a timestamp the
	// insert sets (created_at, updated_at) that the entry does not name is
	// left to it.
	values := make(map[string]any, len(m.fields))
	for _, f := range m.fields {
		_, named := e.Changes[f.column]
		_, given := rv.supplied(f)
		if !named && !given {
			continue // the column's default (above)
		}
		v, _ := f.f.ValueOf(ctx, row.Elem())
		values[f.column] = v
	}
	err = tx.Model(reflect.New(m.schema.ModelType).Interface()).Omit(clause.Associations).Create(values).Error
	if err != nil && uniqueViolation(err) {
		// A row took its key (a concurrent revert of this delete, which
		// the read above could not see uncommitted) or one of its unique
		// values since: the database's error, which may quote a value,
		// is not passed on.
		if rv.opts.Force {
			return cannot(e, "a row holds its key or one of its unique values: there is nothing to restore it into")
		}
		return &ConflictError{Conflicts: []Conflict{{Entry: e.ID, Model: e.Model, PK: e.ObjectPK, Field: "(object)", Recorded: "deleted", Current: "a row holding its key or one of its unique values"}}}
	}
	return err
}

// uniqueViolation reports whether err is a database's refusal of a
// duplicate key: PostgreSQL's SQLSTATE 23505, MySQL's 1062, SQLite's
// UNIQUE constraint (read from the message: no driver is linked).
func uniqueViolation(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		return state.SQLState() == "23505"
	}
	msg := err.Error()
	return strings.Contains(msg, "Error 1062") || strings.Contains(msg, "UNIQUE constraint failed")
}

// softDelete reports whether e is a soft delete of an object of m.
func softDelete(m *model, e auditlog.Entry) bool {
	soft := softColumn(m)
	c, ok := e.Changes[soft]
	return soft != "" && ok && c.M2M == nil && string(c.New) != "null"
}

// object reads, under lock, the object e recorded, which left e with the
// key left (keyNow): recorded is what e left it as, for the conflict of an
// object that no longer exists.
func (rv *reverter) object(ctx context.Context, tx *gorm.DB, m *model, e auditlog.Entry, left, recorded string) (held, error) {
	now, exists, err := rv.keyNow(ctx, m, e, left)
	if err != nil {
		return held{}, err
	}
	if !exists {
		return held{}, rv.gone(e, recorded, "deleted")
	}
	obj, ok, err := rv.current(ctx, tx, m, e, now)
	if err != nil {
		return obj, err
	}
	if !ok {
		return obj, rv.gone(e, recorded, "deleted")
	}
	// Again under the row's lock: another transaction may have moved the
	// object, and put another at its key, since the entries were read.
	if again, still, err := rv.keyNow(ctx, m, e, left); err != nil {
		return obj, err
	} else if again != now || !still {
		return obj, fmt.Errorf("auditgorm: revert of entry %d: %s %s changed key while it was reverted; retry", e.ID, e.Model, e.ObjectPK)
	}
	if now != left {
		// Its key changed since: a conflict on the key, as on any field
		// changed since (forced, the revert acts on the object, at its key).
		pk := m.pk[0].column
		if err := rv.conflict([]Conflict{{Entry: e.ID, Model: e.Model, PK: e.ObjectPK, Field: pk, Recorded: string(keyJSON(m, left)), Current: string(keyJSON(m, now))}}); err != nil {
			return obj, err
		}
	}
	return obj, nil
}

// keyNow follows e's object from the key it left e with (left) through the
// entries after e, and returns the key the object has now: a later key
// change moves it, a later hard delete ends it (exists false) unless a
// revert of that delete re-created it. The row at the key an entry names
// may be another object, created there after this one moved away or was
// deleted: a revert acts on the object, not on whatever row holds its old
// key. The entries are taken in the order of their ids, which is the order
// in which their writes held the object's row whatever the clocks that
// stamped them, and those this revert's transaction wrote count: undone
// newest first, a key change reverted moves the object back, a delete
// reverted brings it back. Only the entries that can move or end the
// object are read (auditstore.Store.KeyEvents).
func (rv *reverter) keyNow(ctx context.Context, m *model, e auditlog.Entry, left string) (key string, exists bool, err error) {
	s, err := NewStore(rv.tx)
	if err != nil {
		return "", false, err
	}
	const page = 1000
	pk := m.pk[0]
	key, after := left, e.ID
	var deletedBy int64        // the hard delete that ended it, while it is gone
	var deleted auditlog.Entry // and its entry
	for hops := 0; ; {
		events, err := s.KeyEvents(ctx, e.Model, key, pk.column, after, page)
		if err != nil {
			return "", false, err
		}
		moved := false
		for _, x := range events {
			after = x.ID
			if x.ObjectPK != key {
				continue
			}
			if x.Unreadable != "" {
				return "", false, fmt.Errorf("%w: entry %d (%s %s), a later entry of its object, %w: %s", ErrCannotRevert, x.ID, x.Model, x.ObjectPK, errUnreadable, x.Unreadable)
			}
			switch x.Action {
			case auditlog.ActionCreate:
				switch {
				case deletedBy != 0 && restores(x, deletedBy, deleted):
					deletedBy = 0 // the delete undone: the object is back
				case deletedBy != 0:
					return key, false, nil // deleted, and another object took the key
				default:
					// Another object took the key: this one had left it
					// without an entry saying so.
					return "", false, cannot(e, "entry %d created another object with the key %s since", x.ID, key)
				}
				continue
			case auditlog.ActionDelete:
				if deletedBy == 0 && !softDelete(m, x) {
					deletedBy, deleted = x.ID, x
				}
				continue
			}
			c, changes := x.Changes[pk.column]
			if deletedBy != 0 || !changes || c.M2M != nil {
				continue
			}
			if next := auditstore.KeyText(c.New); next != key {
				key, moved = next, true
				break
			}
		}
		switch {
		case moved:
			if hops++; hops > maxKeyHops {
				return "", false, cannot(e, "its object changed key more than %d times since", maxKeyHops)
			}
		case len(events) < page:
			return key, deletedBy == 0, nil
		}
	}
}

// restoredSince returns the id of an entry after the hard delete del that
// restored the object it deleted (restores), or 0.
func (rv *reverter) restoredSince(ctx context.Context, m *model, del auditlog.Entry) (int64, error) {
	s, err := NewStore(rv.tx)
	if err != nil {
		return 0, err
	}
	for after := del.ID; ; {
		events, err := s.KeyEvents(ctx, del.Model, del.ObjectPK, m.pk[0].column, after, 1000)
		if err != nil {
			return 0, err
		}
		for _, x := range events {
			after = x.ID
			if x.ObjectPK == del.ObjectPK && x.Action == auditlog.ActionCreate && restores(x, del.ID, del) {
				return x.ID, nil
			}
		}
		if len(events) < 1000 {
			return 0, nil
		}
	}
}

// maxKeyHops bounds the key changes a revert follows.
const maxKeyHops = 100_000

// restores reports whether the create x brought back the object the hard
// delete del (entry id) removed: its additional data names the delete as
// the entry it reverts, as Restore's does, and it recorded every value
// the delete recorded. An application's own create that names the delete
// in its extra data (auditlog.WithExtra) and holds other values is
// another object.
func restores(x auditlog.Entry, id int64, del auditlog.Entry) bool {
	var extra struct {
		Reverted *int64 `json:"reverted_entry"`
	}
	if json.Unmarshal(x.AdditionalData, &extra) != nil || extra.Reverted == nil || *extra.Reverted != id {
		return false
	}
	for col, c := range del.Changes {
		if c.M2M != nil {
			continue
		}
		if got, ok := x.Changes[col]; !ok || got.M2M != nil || !sameJSON(got.New, c.Old) {
			return false
		}
	}
	return true
}

// sameJSON reports whether two recorded values are the same JSON value.
func sameJSON(a, b json.RawMessage) bool {
	x, errA := canonical(a)
	y, errB := canonical(b)
	return errA == nil && errB == nil && x == y
}

// looksMasked reports whether a recorded value may be the text the
// model's mask makes of another value: text the mask leaves as it is, and
// makes of another text too (the same with its first character changed),
// as the default mask's asterisks and last characters are. Such a value,
// recorded while its field was masked, is not the field's value: writing
// it back, or showing it as the value, would make one up. A clear value of
// that form ("***", or "*" under the default mask) looks masked too, and
// is given in RevertOptions.Values; a mask that changes its own text is
// not told.
func looksMasked(m *model, raw json.RawMessage) bool {
	if len(raw) < 3 || raw[0] != '"' || m.t == nil || m.t.Mask == nil {
		return false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" || m.t.Mask(s) != s {
		return false
	}
	rs := []rune(s)
	if rs[0] == 'x' {
		rs[0] = 'y'
	} else {
		rs[0] = 'x'
	}
	return m.t.Mask(string(rs)) == s
}

// supplied returns the value opts.Values gives for f, by Go name or column.
// Use marks it used: every value given must be used by the revert.
func (rv *reverter) supplied(f *field) (any, bool) {
	if v, ok := rv.opts.Values[f.f.Name]; ok {
		return v, true
	}
	v, ok := rv.opts.Values[f.column]
	return v, ok
}

// use marks the value opts.Values gives for f as used.
func (rv *reverter) use(f *field) {
	rv.used[f.f.Name], rv.used[f.column] = true, true
}

// softColumn is the model's soft-delete column, or "".
func softColumn(m *model) string {
	for _, f := range m.fields {
		if _, ok := reflect.New(f.f.FieldType).Interface().(schema.DeleteClausesInterface); ok {
			return f.column
		}
	}
	return ""
}

// pairKey names one link of a relation and an operation on it the same
// from both of its sides.
func pairKey(m *model, rel *schema.Relationship, ownerKey, relatedKey string, op auditlog.M2MOperation) string {
	if op == auditlog.M2MClear {
		op = auditlog.M2MRemove // a clear on one side is a remove on the other
	}
	a, b := m.schema.Table+"\x00"+ownerKey, rel.FieldSchema.Table+"\x00"+relatedKey
	if b < a {
		a, b = b, a
	}
	return rel.JoinTable.Name + "\x00" + string(op) + "\x00" + a + "\x00" + b
}

// mirrored reports whether a change of m's relation col is recorded on
// both of its sides: another track (not this one: a self-referential
// relation records each link once) watches its join table.
func (rv *reverter) mirrored(m *model, col string) (bool, error) {
	tracks, err := rv.p.tracksOf(m.m2m[col].JoinTable.Table)
	if err != nil {
		return false, err
	}
	for _, tr := range tracks {
		if tr.owner.schema != m.schema || tr.field != col {
			return true, nil
		}
	}
	return false, nil
}

// linkedKeys reports which of keys the object is linked to now.
func linkedKeys(ctx context.Context, tx *gorm.DB, obj reflect.Value, rel *schema.Relationship, keys []string) (map[string]bool, error) {
	list := reflect.New(reflect.SliceOf(rel.FieldSchema.ModelType))
	if err := tx.Model(obj.Interface()).Association(rel.Name).Unscoped().Find(list.Interface()); err != nil {
		return nil, err
	}
	pk := rel.FieldSchema.PrioritizedPrimaryField
	if pk == nil {
		return nil, errors.New("auditgorm: the related model has no single primary key")
	}
	out := make(map[string]bool, len(keys))
	for i := 0; i < list.Elem().Len(); i++ {
		v, _ := pk.ValueOf(ctx, list.Elem().Index(i))
		k := fmt.Sprint(v)
		if slices.Contains(keys, k) {
			out[k] = true
		}
	}
	return out, nil
}

// relatedExist checks that the related objects to link again exist.
func relatedExist(ctx context.Context, tx *gorm.DB, rel *schema.Relationship, keys []string) error {
	objs, err := relatedByKeys(ctx, rel, reflect.SliceOf(reflect.PointerTo(rel.FieldSchema.ModelType)), keys)
	if err != nil {
		return err
	}
	var ids []any
	for i := 0; i < objs.Len(); i++ {
		v, _ := rel.FieldSchema.PrioritizedPrimaryField.ValueOf(ctx, objs.Index(i).Elem())
		ids = append(ids, v)
	}
	var n int64
	if err := tx.Session(&gorm.Session{NewDB: true}).Unscoped().Model(reflect.New(rel.FieldSchema.ModelType).Interface()).Where(clause.IN{Column: clause.PrimaryColumn, Values: ids}).Count(&n).Error; err != nil {
		return err
	}
	if n != int64(len(keys)) {
		return fmt.Errorf("%d of the related %s to link again no longer exist", len(keys)-int(n), rel.FieldSchema.Table)
	}
	return nil
}

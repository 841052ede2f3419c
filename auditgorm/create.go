package auditgorm

import (
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/value"
)

// captureCreate runs an audited INSERT (or upsert) and writes its entries
// from the rows the database stored: RETURNING where the database has it,
// else a read-back. An upsert's inserted and updated rows are told apart by
// the database: by the rows that existed before, read under lock by the
// conflict columns, and on PostgreSQL by xmax.
func (p *Plugin) captureCreate(db *gorm.DB, m *model, orig func(*gorm.DB)) error {
	stmt := db.Statement
	if sch, _, ok := strings.Cut(writtenTable(stmt), "."); ok && p.dialect == auditstore.SQLite && !strings.EqualFold(sch, "main") {
		// GORM's SQLite INSERT names the table without its database: it
		// writes main's, which the entries would not describe.
		return fmt.Errorf("auditgorm: %s: on SQLite a create into %s inserts into the main database's table, not %s's; it cannot be audited", m.schema.Name, writtenTable(stmt), sch)
	}
	var (
		oc       *clause.OnConflict
		groups   []keyGroup
		existing []*dbRow
	)
	// With the caller's own RETURNING clause too: the statement returns the
	// caller's columns for GORM to scan, then the plugin's (insertReturning).
	returning := builds(stmt, "RETURNING")
	_, userReturning := stmt.Clauses["RETURNING"]
	if c, ok := stmt.Clauses["ON CONFLICT"]; ok {
		if x, ok := c.Expression.(clause.OnConflict); ok {
			oc = &x
		}
	}
	// DO NOTHING inserts only the rows it returns, except on MySQL, whose
	// DO NOTHING is an ON DUPLICATE KEY UPDATE that returns every row: only
	// the others read the rows they may collide with.
	if oc != nil && (!oc.DoNothing || !returning || p.dialect == auditstore.MySQL) {
		var err error
		if groups, err = p.conflictGroups(db, m, *oc); err != nil {
			return err
		}
		if len(groups) == 0 {
			return fmt.Errorf("auditgorm: %s: an ON CONFLICT column is not a column of the model", m.schema.Name)
		}
		// The rows it collides with hold its values as the columns
		// store them: the reads compare by those.
		if err := p.withCasts(db, m, groups); err != nil {
			return err
		}
	}
	// An upsert whose DO UPDATE assigns a key column moves the row it
	// updates to another key: the row it returns is named by its new key,
	// and only the one row it collided with can be the row it moved.
	movesKey := oc != nil && assignsKey(m, oc.DoUpdates, groups)
	if movesKey && len(insertedValues(stmt, m)) > 1 {
		return fmt.Errorf("auditgorm: %s: an upsert of several rows whose DO UPDATE assigns the primary key cannot be audited: its entries could not tell which row each key moved from; upsert one row at a time", m.schema.Name)
	}
	// INSERT OR REPLACE (SQLite) deletes every row the new ones collide with
	// on any unique key, then inserts.
	// So does a plain INSERT into a SQLite table whose unique constraint
	// says ON CONFLICT REPLACE (a statement's own OR … overrides it).
	replace := false
	modifier := insertModifier(stmt)
	tableReplaces := false
	if modifier == "" && p.dialect == auditstore.SQLite {
		var err error
		if tableReplaces, err = p.sqliteReplaces(db, writtenTable(stmt)); err != nil {
			return err
		}
	}
	if tableReplaces && oc != nil && pkTargetNeverFires(stmt, m, oc) {
		// GORM's save of new associated rows: a conflict on the key, with
		// no key sent, which no row can fire: a plain INSERT.
		oc = nil
	}
	{
		if strings.Contains(modifier, "REPLACE") || tableReplaces {
			if oc != nil && tableReplaces {
				return fmt.Errorf("auditgorm: %s: table %s has a unique constraint ON CONFLICT REPLACE, which deletes the rows an upsert collides with on it, and the upsert cannot be audited; insert or update instead", m.schema.Name, writtenTable(stmt))
			}
			if oc != nil {
				return fmt.Errorf("auditgorm: %s: REPLACE with ON CONFLICT cannot be audited", m.schema.Name)
			}
			u, err := p.uniqueIndexes(db, writtenTable(stmt))
			if err != nil {
				return err
			}
			if u.partial {
				return fmt.Errorf("auditgorm: %s: table %s has a partial unique index: which rows REPLACE deletes cannot be read by columns, so it cannot be audited", m.schema.Name, writtenTable(stmt))
			}
			replace = true
			if groups, err = p.uniqueGroups(db, m); err != nil {
				return err
			}
		}
	}
	// A MySQL upsert of one object whose key is not there yet inserts
	// without a locking pre-read, whose gap locks would deadlock concurrent
	// upserts of other new keys; the affected-row count then says what the
	// statement did (see execUnlocked).
	unlocked := false
	if replace || oc != nil && (!oc.DoNothing || !returning || p.dialect == auditstore.MySQL) {
		inserted := insertedValues(stmt, m)
		if err := unsentKeyColumn(m, inserted, groups); err != nil {
			return err
		}
		conds := conflictConds(stmt.Table, m, inserted, groups)
		var err error
		// Without conditions nothing can collide: no read at all.
		// The unlocked path refuses, after the upsert, a row another
		// transaction inserted in between: only where that failure rolls
		// the upsert back.
		if oc != nil && p.countsChangedRows(db) && !userReturning && stmt.ReflectValue.Kind() == reflect.Struct && len(conds) > 0 && rollsBackOnError(db) {
			if existing, err = p.readConflicts(db, m, conds, readSnapshot); err != nil {
				return err
			}
			unlocked = len(existing) == 0
		}
		if !unlocked {
			if existing, err = p.readConflicts(db, m, conds, readLocked); err != nil {
				return err
			}
		}
	}
	var (
		stored   []*dbRow
		err      error
		affected int64 = -1 // a MySQL upsert's affected rows, where read
		// The keys a MySQL upsert sends, before the write sets the
		// objects' keys to those of the rows it wrote.
		sent = sentIntegerKeys(stmt, m, oc != nil && p.dialect == auditstore.MySQL)
	)
	o := p.obsOf(db)
	switch {
	case unlocked:
		o.took(PathReadBack)
		n, err := p.execUnlocked(db)
		switch {
		case err != nil:
			return err
		case db.Error != nil:
			return nil
		case n == 0: // the key was there after all, and the upsert changed nothing
			return nil
		case n != 1:
			p.forgetTable(writtenTable(stmt))
			return fmt.Errorf("auditgorm: %s: the upsert updated a row it did not find by its keys before: another transaction inserted it since, or another process added a unique index this one had not read (it reads them again); nothing was recorded: retry the transaction", m.schema.Name)
		}
		if stored, err = p.conflicting(db, m, groups, readCurrent); err != nil {
			return err
		}
	case returning:
		var e *pgEntries
		if oc == nil && !replace && !userReturning && len(m.secret) == 0 && stmt.SQL.Len() == 0 && p.dialect == auditstore.Postgres && len(m.secretRelations(p, db)) == 0 {
			// A plain INSERT writes its entries itself (pgentries.go). The
			// Go side scrubs a created object's repr and additional data of
			// its own and its related objects' secrets: only without any.
			if e, err = p.sqlEntries(db, m, auditlog.ActionCreate); err != nil {
				return err
			}
		}
		if e != nil {
			o.took(PathInStatement)
		} else {
			o.took(PathReturning)
		}
		if stored, err = p.insertReturning(db, m, e); err != nil {
			return err
		}
	default:
		o.took(PathReadBack)
		begin := o.writing()
		orig(db)
		o.wrote(begin)
		if db.Error != nil {
			return nil
		}
		affected = db.RowsAffected
		if oc != nil {
			stored, err = p.conflicting(db, m, groups, readCurrent)
		} else {
			stored, err = p.readCreated(db, m)
		}
		if err != nil {
			return err
		}
	}
	if replace && len(stored) > 1 {
		if err := p.noneReplacedByAnother(db, m, stored); err != nil {
			return err
		}
	}
	w := p.newWriter(db, m, m.entryName(db), len(existing)+len(stored))
	seen := make(map[string]*dbRow, len(existing))
	for _, r := range existing {
		if replace {
			if err := w.add(auditlog.ActionDelete, r, r, reflect.Value{}, m.t.Deleted(r.vals)); err != nil {
				return err
			}
			continue
		}
		seen[r.keyText(m)] = r
	}
	// The row a key-moving upsert of one row collided with, if it
	// collided with exactly one.
	var moved *dbRow
	if movesKey && len(existing) == 1 {
		moved = existing[0]
	} else if movesKey && len(existing) > 1 {
		return fmt.Errorf("auditgorm: %s: an upsert whose DO UPDATE assigns the primary key collided with %d rows (on different unique keys), and its entries could not tell which one it moved", m.schema.Name, len(existing))
	}
	var objs []reflect.Value
	if oc == nil && !replace {
		eachRow(stmt.ReflectValue, func(row reflect.Value) { objs = append(objs, row) })
		if len(objs) != len(stored) {
			objs = nil
		}
	}
	var created, existed int64
	for i, r := range stored {
		if r.written {
			continue
		}
		key := r.keyText(m)
		if key == "" {
			return fmt.Errorf("auditgorm: %s: the created row's primary key is unknown after the insert; use a key the application or the database returns", m.schema.Name)
		}
		prev, found := seen[key]
		seen[key] = r
		switch {
		case found:
			existed++
			if err := w.diff(auditlog.ActionUpdate, prev, r); err != nil {
				return err
			}
		case moved != nil && seen[moved.keyText(m)] == moved && (r.inserted == nil || !*r.inserted):
			// The collided row under its new key: an update of the old
			// key, with the new key among its changes.
			seen[moved.keyText(m)] = r
			existed++
			if err := w.diff(auditlog.ActionUpdate, moved, r); err != nil {
				return err
			}
		case r.inserted != nil && !*r.inserted:
			return fmt.Errorf("auditgorm: %s: the upsert updated row %s, which another transaction inserted after it was looked for; retry the transaction", m.schema.Name, r.objectKey(m))
		case sent != nil && !sent[r.vals[m.pk[0].index].Text()]:
			p.forgetTable(writtenTable(stmt))
			return fmt.Errorf("auditgorm: %s: the upsert returned row %s, whose key it did not send and did not find by its keys before: it collided on a unique key this process had not read (another process added an index; it reads them again); nothing was recorded: retry the transaction", m.schema.Name, r.objectKey(m))
		default:
			created++
			var obj reflect.Value
			if objs != nil {
				obj = objs[i]
			}
			if err := w.add(auditlog.ActionCreate, r, r, obj, m.t.Created(r.vals)); err != nil {
				return err
			}
		}
	}
	if sent != nil {
		// Every row sent its key: a key the rows read back or returned
		// lack is a row that updated another one instead, which the reads
		// before must have found by another key it knows (its key not
		// sent). More such rows than those collided on a unique key the
		// reads did not know.
		got := make(map[string]bool, len(stored))
		for _, r := range stored {
			got[r.vals[m.pk[0].index].Text()] = true
		}
		missing, spare := 0, 0
		for k := range sent {
			if !got[k] {
				missing++
			}
		}
		for _, r := range existing {
			if k := r.vals[m.pk[0].index].Text(); !sent[k] && got[k] {
				spare++
			}
		}
		if moved != nil && sent[moved.vals[m.pk[0].index].Text()] {
			// The row a key-moving upsert collided with on the key it
			// sent is under its new key: its sent key is missing by right.
			spare++
		}
		if missing > spare {
			p.forgetTable(writtenTable(stmt))
			return fmt.Errorf("auditgorm: %s: a row of the upsert was neither inserted nor found updated: it collided on a unique key this process had not read (another process added an index; it reads them again); nothing was recorded: retry the transaction", m.schema.Name)
		}
	}
	if oc != nil && affected >= 0 && p.changedRows && !mysqlCountAgrees(affected, created, existed, int64(len(insertedValues(stmt, m)))) {
		p.forgetTable(writtenTable(stmt))
		return fmt.Errorf("auditgorm: %s: the upsert's %d affected rows do not agree with the %d rows its reads found created: it collided on a unique key this process had not read (another process added an index; it reads them again) or with a row another transaction wrote; nothing was recorded: retry the transaction", m.schema.Name, affected, created)
	}
	return w.flush()
}

// noneReplacedByAnother refuses a REPLACE of several rows one of which
// replaced another of the same statement (they share a unique value): the
// row it returned is gone, and nothing it returns tells which row took its
// place. The rows it returned are read back by key.
func (p *Plugin) noneReplacedByAnother(db *gorm.DB, m *model, stored []*dbRow) error {
	keys := make([][]any, 0, len(stored))
	distinct := map[string]bool{}
	for _, r := range stored {
		if k := r.keyText(m); !distinct[k] {
			distinct[k] = true
			keys = append(keys, r.keyRaw(m))
		}
	}
	found, err := p.readByKey(db, m, writtenTable(db.Statement), keys)
	if err != nil {
		return err
	}
	for _, r := range stored {
		if found[r.keyText(m)] == nil {
			return fmt.Errorf("auditgorm: %s: rows of this statement collide with each other on a unique key that replaces (INSERT OR REPLACE, ON CONFLICT REPLACE): the row %s it inserted was replaced by another of its rows, which its result does not tell; insert them one at a time", m.schema.Name, r.objectKey(m))
		}
	}
	return nil
}

// pkTargetNeverFires reports whether oc's target is the primary key while
// no row the statement inserts sends its key: the database gives each a
// new one, on which nothing can collide (GORM's save of new associated
// rows: ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id).
func pkTargetNeverFires(stmt *gorm.Statement, m *model, oc *clause.OnConflict) bool {
	if len(oc.Columns) != len(m.pk) {
		return false
	}
	for i, c := range oc.Columns {
		if !strings.EqualFold(c.Name, m.pk[i].column) {
			return false
		}
	}
	for _, row := range insertedValues(stmt, m) {
		for _, f := range m.pk {
			if _, sent := row(f); sent {
				return false
			}
		}
	}
	return true
}

// sentIntegerKeys returns the keys a MySQL upsert (when mysqlUpsert) of a
// model with one integer key sends, when every row sends its own: a row
// it creates has one of them, and a row it returns with another key is one
// it updated on a unique index the plugin did not know of. Nil where a row
// leaves its key to the database, or the key is not one integer.
func sentIntegerKeys(stmt *gorm.Statement, m *model, mysqlUpsert bool) map[string]bool {
	if !mysqlUpsert || len(m.pk) != 1 || m.pk[0].kind != schema.Int && m.pk[0].kind != schema.Uint {
		return nil
	}
	f := m.pk[0]
	rows := insertedValues(stmt, m)
	out := make(map[string]bool, len(rows))
	for _, row := range rows {
		x, ok := row(f)
		if !ok {
			return nil
		}
		v, err := value.Normalize(x, f.opts)
		if _, isInt := v.Int64(); err != nil || !isInt || v.Text() == "0" {
			return nil
		}
		out[v.Text()] = true
	}
	return out
}

// mysqlCountAgrees reports whether a MySQL upsert whose affected-row
// count is affected (1 for each row it inserted, 2 for each update that
// changed a row, 0 for one that left it as it was) can have inserted the
// created rows its reads found and updated only the existing rows they
// found: for one row exactly, for more by the count's parity and bounds
// (each of the sent rows not created updated a row at most once).
func mysqlCountAgrees(affected, created, existed, sent int64) bool {
	updates := affected - created
	return updates >= 0 && updates%2 == 0 && (updates == 0 || existed > 0) && updates <= 2*(sent-created)
}

// assignsKey reports whether an upsert's DO UPDATE may give the row it
// updates another primary key: it assigns a key column, other than an
// integer one by the value the row collided on (excluded.id, when the
// primary key is the only key the row can collide on: a list of every
// column, id included). Text collides under its collation ("X" with "x"
// under NOCASE), so excluded.code may change the key it collided with.
func assignsKey(m *model, set clause.Set, groups []keyGroup) bool {
	onKeyOnly := len(groups) == 1 && sameFields(groups[0].fields, m.pk)
	for _, a := range set {
		f := m.byColumn[a.Column.Name]
		if f == nil || !f.f.PrimaryKey {
			continue
		}
		integer := f.kind == schema.Int || f.kind == schema.Uint
		if c, ok := a.Value.(clause.Column); ok && onKeyOnly && integer && strings.EqualFold(c.Table, "excluded") && c.Name == a.Column.Name {
			continue
		}
		return true
	}
	return false
}

// conflictGroups returns the column groups an upsert may collide on: the
// ON CONFLICT columns when given; else the primary key and every unique
// key of the table (uniqueGroups), any of which fires without a target
// (SQLite's targetless DO UPDATE, DO NOTHING). MySQL's ON DUPLICATE KEY
// UPDATE has no target: it fires on every unique key, whatever the
// statement names.
func (p *Plugin) conflictGroups(db *gorm.DB, m *model, oc clause.OnConflict) ([]keyGroup, error) {
	if p.dialect != auditstore.MySQL && oc.UpdateAll && len(oc.Columns) == 0 {
		// GORM targets UpdateAll at the primary key (ConvertToCreateValues).
		return []keyGroup{{fields: m.pk}}, nil
	}
	if len(oc.Columns) > 0 && p.dialect != auditstore.MySQL {
		var g []*field
		text := false
		for _, col := range oc.Columns {
			f := m.columnNamed(col.Name)
			if f == nil {
				return nil, nil
			}
			g = append(g, f)
			text = text || (f.kind != schema.Int && f.kind != schema.Uint)
		}
		group := keyGroup{fields: g}
		if p.dialect == auditstore.SQLite && text {
			// The target's index may compare by a collation of its own
			// (code COLLATE NOCASE): the read compares by it too.
			u, err := p.uniqueIndexes(db, writtenTable(db.Statement))
			if err != nil {
				return nil, err
			}
			group.coll = u.collationOf(m, g)
		}
		return []keyGroup{group}, nil
	}
	return p.uniqueGroups(db, m)
}

// How conflicting reads: with FOR UPDATE (before an upsert), as the latest
// committed rows (after it), or from the transaction's snapshot, without a
// lock.
const (
	readLocked = iota
	readCurrent
	readSnapshot
)

// conflicting reads the rows whose conflict columns equal those of any row
// the statement inserts, compared by the database (its collation decides
// what collides).
func (p *Plugin) conflicting(db *gorm.DB, m *model, groups []keyGroup, mode int) ([]*dbRow, error) {
	// The rows' values again: the write has set the keys the database
	// assigned.
	return p.readConflicts(db, m, conflictConds(db.Statement.Table, m, insertedValues(db.Statement, m), groups), mode)
}

// readConflicts reads the rows that match any of conds.
func (p *Plugin) readConflicts(db *gorm.DB, m *model, conds []clause.Expression, mode int) ([]*dbRow, error) {
	if len(conds) == 0 {
		return nil, nil
	}
	q := p.query(db).Clauses(clause.Select{Columns: m.readCols(db.Statement, true)}, clause.Where{Exprs: []clause.Expression{clause.Or(conds...)}}, m.order)
	if mode == readCurrent {
		q = q.WithContext(afterWrite(db)) // the read-back of what the upsert stored
	}
	switch {
	case mode == readLocked && p.lock:
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	case mode != readSnapshot:
		q = p.current(q)
	}
	p.obsOf(db).sentOne()
	rows, err := p.readRows(q, m)
	if err != nil {
		p.forgetTable(writtenTable(db.Statement)) // its casts may be stale
		return nil, fmt.Errorf("auditgorm: read %s rows an upsert may change: %w", m.schema.Name, err)
	}
	return rows, nil
}

// conflictConds are the conditions that find the rows a statement's
// inserted rows collide with, one per column group; none when no row sends
// a value for every column of any group (an auto-increment key left out, no
// unique column), so that nothing can collide.
func conflictConds(table string, m *model, inserted []func(f *field) (any, bool), groups []keyGroup) []clause.Expression {
	var conds []clause.Expression
	for _, g := range groups {
		var tuples [][]any
		for _, row := range inserted {
			tuple := make([]any, len(g.fields))
			ok := true
			for i, f := range g.fields {
				v, present := row(f)
				ok = ok && present
				tuple[i] = v
			}
			if ok {
				tuples = append(tuples, tuple)
			}
		}
		if len(tuples) > 0 {
			conds = append(conds, keyCond(table, g, tuples))
		}
	}
	return conds
}

// unsentKeyColumn refuses a statement whose rows leave a column of a
// unique key other than the primary key to the database (a default, a
// generated column): the value it will hold, and so the rows it collides
// with, cannot be read before. A primary key left out is a new one.
func unsentKeyColumn(m *model, rows []func(f *field) (any, bool), groups []keyGroup) error {
	for _, g := range groups {
		if sameFields(g.fields, m.pk) {
			continue
		}
		for _, f := range g.fields {
			if strings.EqualFold(strings.TrimSpace(f.f.DefaultValue), "null") && f.f.Creatable {
				continue // left NULL: NULLs collide with nothing
			}
			for _, row := range rows {
				if _, sent := row(f); !sent {
					return fmt.Errorf("auditgorm: %s: column %s of a unique key is left to the database (a default or a generated column), so the rows this upsert may collide with cannot be read before it; send its value to audit the upsert", m.schema.Name, f.column)
				}
			}
		}
	}
	return nil
}

// insertedValues returns, per row the statement inserts, a getter of the
// value it inserts into a field (false when it leaves the field to the
// database: GORM leaves out zero values of fields with a database default).
// A zero value it sends ("" for a unique code) collides like any other.
func insertedValues(stmt *gorm.Statement, m *model) []func(f *field) (any, bool) {
	var out []func(f *field) (any, bool)
	if maps := createdMaps(stmt.Dest); maps != nil {
		for _, mv := range maps {
			out = append(out, func(f *field) (any, bool) {
				for _, k := range []string{f.f.Name, f.column} {
					if v, ok := mv[k]; ok {
						return v, true
					}
				}
				return nil, false
			})
		}
		return out
	}
	ctx := stmt.Context
	eachRow(stmt.ReflectValue, func(row reflect.Value) {
		out = append(out, func(f *field) (any, bool) {
			if !f.f.Creatable {
				return nil, false // not sent: read-only, or generated
			}
			v, zero := f.f.ValueOf(ctx, row)
			return v, !zero || !f.f.HasDefaultValue
		})
	})
	return out
}

// readCreated reads back, by key, the rows a create without RETURNING
// inserted: the keys are the ones GORM set from the database's insert ids
// or the ones the application chose.
func (p *Plugin) readCreated(db *gorm.DB, m *model) ([]*dbRow, error) {
	stmt := db.Statement
	var keys [][]any
	for _, row := range insertedValues(stmt, m) {
		k := make([]any, len(m.pk))
		for i, f := range m.pk {
			k[i], _ = row(f)
		}
		keys = append(keys, k)
	}
	if maps := createdMaps(stmt.Dest); maps != nil && len(m.pk) == 1 {
		for i, mv := range maps {
			if id, ok := mv["@id"]; ok {
				keys[i][0] = id
			}
		}
	}
	byKey, err := p.readByKey(db, m, writtenTable(stmt), keys)
	if err != nil {
		return nil, err
	}
	out := make([]*dbRow, 0, len(keys))
	done := make(map[string]bool, len(keys))
	for _, k := range keys {
		text := rawKeyText(m, k)
		if r, ok := byKey[text]; ok && !done[text] {
			done[text] = true
			out = append(out, r)
		}
	}
	if len(out) != len(keys) {
		return nil, fmt.Errorf("auditgorm: %s: %d rows were inserted but %d could be read back by key; use a key the application or the database returns", m.schema.Name, len(keys), len(out))
	}
	return out, nil
}

// rawKeyText renders key values sent by the application as keyOf renders
// the stored key.
func rawKeyText(m *model, k []any) string {
	text, _ := m.t.Key(rawKeyValues(m, k))
	return text
}

// rawKeyValues places key values in a row of the model's values.
func rawKeyValues(m *model, k []any) []value.Value {
	vals := make([]value.Value, len(m.fields))
	for i, f := range m.pk {
		v, err := f.fromDB(k[i])
		if err != nil {
			v, _ = value.Normalize(k[i], f.opts)
		}
		vals[f.index] = v
	}
	return vals
}

// createdMaps returns the maps a create statement inserted from, or nil.
func createdMaps(dest any) []map[string]any {
	switch v := dest.(type) {
	case map[string]any:
		return []map[string]any{v}
	case *map[string]any:
		return []map[string]any{*v}
	case []map[string]any:
		return v
	case *[]map[string]any:
		return *v
	}
	return nil
}

// eachRow calls fn for every struct row of a statement's reflect value.
func eachRow(rv reflect.Value, fn func(reflect.Value)) {
	switch rv.Kind() {
	case reflect.Struct:
		fn(rv)
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len(); i++ {
			row := reflect.Indirect(rv.Index(i))
			if row.Kind() == reflect.Struct {
				fn(row)
			}
		}
	}
}

// addCreateClauses adds the schema's create clauses (soft delete's and
// other plugins'), as gorm:create does before it builds.
func addCreateClauses(stmt *gorm.Statement) {
	if stmt.Schema != nil && !stmt.Unscoped {
		for _, c := range stmt.Schema.CreateClauses {
			stmt.AddClause(c)
		}
	}
}

// buildCreate builds the INSERT as gorm:create does, unless the statement
// was built already.
func buildCreate(stmt *gorm.Statement) {
	if stmt.SQL.Len() == 0 {
		stmt.AddClauseIfNotExists(clause.Insert{})
		stmt.AddClause(callbacks.ConvertToCreateValues(stmt))
		stmt.Build(stmt.BuildClauses...)
	}
}

// insertReturning does what gorm:create does on a database with RETURNING,
// with one difference: the statement returns every column after the ones
// GORM asks for (the columns the database fills, or those of the caller's
// own RETURNING clause). GORM scans its columns into the caller's objects
// exactly as it would; the plugin keeps the rest, the rows as stored. With
// e (PostgreSQL), the statement also writes the rows' entries, and marks
// the rows whose entries it wrote.
func (p *Plugin) insertReturning(db *gorm.DB, m *model, e *pgEntries) ([]*dbRow, error) {
	stmt := db.Statement
	addCreateClauses(stmt)
	var gormCols []clause.Column
	mode := gorm.ScanUpdate
	star := false // RETURNING *: GORM's columns are as many as the table has
	if c, ok := stmt.Clauses["RETURNING"]; ok {
		// The caller's columns, scanned as gorm:create scans them (RETURNING
		// * into objects GORM then makes anew, every column into a map).
		ret, _ := c.Expression.(clause.Returning)
		gormCols = ret.Columns
		if len(gormCols) == 0 || len(gormCols) == 1 && gormCols[0].Name == "*" && gormCols[0].Raw {
			gormCols, mode, star = []clause.Column{{Name: "*", Raw: true}}, 0, true
		}
		defer func() { stmt.Clauses["RETURNING"] = c }()
		delete(stmt.Clauses, "RETURNING")
	} else {
		for _, f := range stmt.Schema.FieldsWithDefaultDBValue {
			if f.Readable {
				gormCols = append(gormCols, clause.Column{Name: f.DBName})
			}
		}
		defer delete(stmt.Clauses, "RETURNING")
	}
	if c, ok := stmt.Clauses["ON CONFLICT"]; ok {
		if oc, _ := c.Expression.(clause.OnConflict); oc.DoNothing {
			mode |= gorm.ScanOnConflictDoNothing
		} else if len(oc.DoUpdates) > 0 || oc.UpdateAll {
			mode |= gorm.ScanUpdate
		}
	}
	plain := append(append([]clause.Column(nil), gormCols...), m.readCols(stmt, false)...)
	if p.dialect == auditstore.Postgres {
		plain = append(plain, clause.Column{Name: "(xmax = 0) AS " + aliasInserted, Raw: true})
	}
	ret := plain
	var plan *pgPlan
	var final strings.Builder
	var q pgEntrySQL
	if e != nil {
		plan = e.plan
		q = pgEntrySQL{m: m, plan: plan, stmt: stmt, created: true, count: p.obsOf(db) != nil}
		// Unique names inside the statement (GORM's columns repeat the
		// model's); the final SELECT gives back the names GORM expects,
		// and the model's columns only of rows whose entries it left to
		// the client.
		ret = nil
		final.WriteString("SELECT ")
		for j, c := range gormCols {
			alias := "_ag" + strconv.Itoa(j)
			ret = append(ret, clause.Column{Name: stmt.Quote(c.Name) + " AS " + alias, Raw: true})
			final.WriteString("_x." + alias + " AS " + stmt.Quote(c.Name) + ", ")
		}
		for i, f := range m.fields {
			alias := aliasCreated + strconv.Itoa(i)
			ret = append(ret, clause.Column{Name: stmt.Quote(f.column) + " AS " + alias, Raw: true})
			final.WriteString("CASE WHEN _x." + aliasWritten + " THEN NULL ELSE _x." + alias + " END AS " + stmt.Quote(f.column) + ", ")
		}
		final.WriteString("_x." + aliasWritten + ", " + q.entriesCount() + " FROM (SELECT _au.*, ")
	}
	stmt.AddClause(clause.Returning{Columns: ret})
	buildCreate(stmt)
	if db.Error != nil {
		return nil, nil
	}
	sqlText, vars := stmt.SQL.String(), stmt.Vars
	if plan != nil {
		withEntries, more, ok := q.statementWith(e.args, sqlText, len(vars), auditlog.ActionCreate, false, func(pc *pgPieces) string {
			return final.String() + pc.safe + " AS " + aliasWritten + " FROM _au) AS _x"
		})
		if ok {
			sqlText, vars = withEntries, append(slices.Clip(vars), more...)
		} else {
			// Too many bind variables for the entries' own: the INSERT
			// alone, built again with the plain RETURNING.
			plan = nil
			delete(stmt.Clauses, "RETURNING")
			stmt.AddClause(clause.Returning{Columns: plain})
			stmt.SQL.Reset()
			stmt.Vars = nil
			stmt.Build(stmt.BuildClauses...)
			if db.Error != nil {
				return nil, nil
			}
			sqlText, vars = stmt.SQL.String(), stmt.Vars
		}
	}
	o := p.obsOf(db)
	defer o.wrote(o.writing())
	rows, err := p.writeConn(db).QueryContext(stmt.Context, sqlText, vars...)
	if err != nil {
		if plan != nil && planError(err) {
			p.pgPlans.forget(m, writtenTable(stmt))
		}
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if plan != nil {
		if err := checkTypes(rows, m, plan, cols[:len(cols)-2], len(gormCols)); err != nil {
			p.pgPlans.forget(m, writtenTable(stmt))
			return nil, err
		}
	}
	k := len(gormCols)
	if star {
		k = len(cols) - (len(plain) - 1)
	}
	if k < 0 || k > len(cols) {
		return nil, fmt.Errorf("auditgorm: %s: the INSERT returned %d columns where %d were asked for", stmt.Table, len(cols), k)
	}
	modelCols := cols[k:]
	if plan != nil {
		// The last columns are the written flag and the count of entries
		// written, read by their place: a model column may have any name.
		modelCols = modelCols[:len(modelCols)-2]
	}
	sr := newSplitRows(rows, k, cols, newRowReader(m, modelCols), p.maxRows)
	sr.flagsLast = plan != nil
	defer func() { o.wroteEntries(sr.entries) }()
	if k > 0 {
		gorm.Scan(sr, db, mode)
	}
	// Rows gorm.Scan stepped over (ON CONFLICT DO NOTHING) or left unread
	// are the plugin's all the same.
	for sr.Next() { // Next scans each row it steps over
	}
	if sr.err != nil {
		return nil, sr.err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	setResult(db, int64(len(sr.out)))
	if plan != nil && testHookSQLEntries != nil {
		left := 0
		for _, r := range sr.out {
			if !r.written {
				left++
			}
		}
		testHookSQLEntries(int64(len(sr.out)), left)
	}
	return sr.out, nil
}

// splitRows shows GORM the first k columns of a result and keeps the rest as
// rows of the model. A row GORM steps over without scanning is scanned when
// it moves on.
type splitRows struct {
	*sql.Rows
	k       int
	cols    []string
	rr      *rowReader
	holders []any // the model's columns of the current row
	full    []any // scan targets: GORM's k, then the holders
	skip    []any // targets for GORM's k columns of a row GORM skipped
	out     []*dbRow
	max     int
	err     error
	pending bool // Next returned a row that was not scanned yet
	// flagsLast: the last columns are the written flag and the count of
	// entries the statement wrote (pgentries.go), not columns of the model.
	flagsLast bool
	entries   int64 // that count
}

func newSplitRows(rows *sql.Rows, k int, cols []string, rr *rowReader, maxRows int) *splitRows {
	s := &splitRows{Rows: rows, k: k, cols: cols, rr: rr, max: maxRows, holders: make([]any, len(cols)-k), skip: make([]any, k)}
	s.full = make([]any, len(cols))
	for i := range s.holders {
		s.full[k+i] = &s.holders[i]
	}
	for i := range s.skip {
		s.skip[i] = new(any)
	}
	return s
}

func (s *splitRows) Next() bool {
	if s.pending && s.err == nil {
		_ = s.Scan(s.skip...)
	}
	s.pending = s.err == nil && s.Rows.Next()
	return s.pending
}

func (s *splitRows) Columns() ([]string, error) { return s.cols[:s.k], nil }

func (s *splitRows) ColumnTypes() ([]*sql.ColumnType, error) {
	t, err := s.Rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	return t[:s.k], nil
}

func (s *splitRows) Scan(dest ...any) error {
	s.pending = false
	copy(s.full, dest)
	clear(s.holders)
	if err := s.Rows.Scan(s.full...); err != nil {
		s.err = err
		return err
	}
	holders := s.holders
	var written bool
	if s.flagsLast {
		holders = holders[:len(holders)-2]
		b, err := dbBool(s.holders[len(s.holders)-2])
		n, ok := s.holders[len(s.holders)-1].(int64)
		if err == nil && !ok && s.holders[len(s.holders)-1] != nil {
			err = fmt.Errorf("auditgorm: unexpected entry count %T from the database", s.holders[len(s.holders)-1])
		}
		if err != nil {
			s.err = err
			return err
		}
		written, s.entries = b, n
	}
	r, err := s.rr.read(holders)
	if r != nil {
		r.written = written
	}
	if err == nil && len(s.out) == s.max {
		err = errTooMany(s.rr.m, s.max)
	}
	if err != nil {
		s.err = err
		return err
	}
	s.out = append(s.out, r)
	return nil
}

// changedRowsCounted reports whether a MySQL connection counts an upsert's
// affected rows as the server does by default: 1 for an inserted row, 2 for
// an updated one, 0 for one left as it was. With the driver's
// clientFoundRows an unchanged row counts 1, like an insert, so the count
// cannot tell them apart; and without the dialector's parsed DSN it is not
// known. Read through reflection, so that auditgorm links no driver.
func changedRowsCounted(db *gorm.DB) bool {
	v := reflect.ValueOf(db.Dialector)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return false
	}
	cfg := v.FieldByName("DSNConfig")
	if !cfg.IsValid() || cfg.Kind() != reflect.Pointer || cfg.IsNil() {
		return false
	}
	found := cfg.Elem().FieldByName("ClientFoundRows")
	return found.IsValid() && found.Kind() == reflect.Bool && !found.Bool()
}

// insertModifier is the modifier of the statement's INSERT clause (OR
// REPLACE, IGNORE), in capitals, "" if none.
func insertModifier(stmt *gorm.Statement) string {
	if c, ok := stmt.Clauses["INSERT"]; ok {
		if ins, ok := c.Expression.(clause.Insert); ok {
			return strings.ToUpper(ins.Modifier)
		}
	}
	return ""
}

// countsChangedRows reports whether db's MySQL statements count their
// affected rows as changedRowsCounted says the dialector's DSN does: not
// under GORM's dbresolver (registered before or after the plugin), whose
// sources have DSNs of their own and run the statements.
func (p *Plugin) countsChangedRows(db *gorm.DB) bool {
	if !p.changedRows {
		return false
	}
	_, resolver := db.Config.Plugins["gorm:db_resolver"]
	return !resolver
}

// execUnlocked runs a one-row MySQL upsert as a plain INSERT … ON DUPLICATE
// KEY UPDATE, without RETURNING, and returns its affected-row count: 1
// when it inserted the row, 2 when it updated a row, 0 when it found one it
// left as it was. A key the database assigned is set on the caller's
// object, as GORM does.
func (p *Plugin) execUnlocked(db *gorm.DB) (int64, error) {
	stmt := db.Statement
	addCreateClauses(stmt)
	buildCreate(stmt)
	if db.Error != nil {
		return 0, nil
	}
	o := p.obsOf(db)
	begin := o.writing()
	res, err := p.writeConn(db).ExecContext(stmt.Context, stmt.SQL.String(), stmt.Vars...)
	o.wrote(begin)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	db.RowsAffected = n
	if stmt.Result != nil {
		stmt.Result.RowsAffected = n
	}
	if f := stmt.Schema.PrioritizedPrimaryField; n == 1 && f != nil && f.AutoIncrement && stmt.ReflectValue.Kind() == reflect.Struct {
		if id, err := res.LastInsertId(); err == nil && id > 0 {
			if _, zero := f.ValueOf(stmt.Context, stmt.ReflectValue); zero {
				if err := f.Set(stmt.Context, stmt.ReflectValue, id); err != nil {
					return n, err
				}
			}
		}
	}
	return n, nil
}

package auditgorm

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
)

// stmtState is what the plugin keeps about one audited statement between
// its callbacks. It lives from the begin callback to the end callback.
type stmtState struct {
	m         *model      // the audited model; nil for a join-table statement
	tracks    []*m2mTrack // the relations a join-table statement changes
	startedTx bool
	injected  bool       // the plugin added the SET clause and must remove it
	set       clause.Set // the update's assignments
	rows      reflect.Value
	old       [][]auditlog.Value // per pre-selected row, per m.fields
	checkRows bool               // the write was not pinned: compare RowsAffected
	fast      bool               // PostgreSQL: the update reads its old rows itself
	exprs     []clause.Expression

	// upserts: rows that already existed, by conflict key
	upsert   *clause.OnConflict
	conflict [][]*field       // column groups the insert may collide on
	existing []map[string]int // per group: conflict key → pre-selected row
}

// pinLimit bounds the bind variables of the "key IN (…)" condition that pins
// a write to the rows the plugin read.
const pinLimit = 30_000

func (p *Plugin) state(db *gorm.DB) *stmtState {
	if v, ok := p.stmts.Load(db.Statement); ok {
		return v.(*stmtState)
	}
	return nil
}

// begin starts tracking an audited statement, and opens a transaction when
// the caller disabled GORM's default one, so the change and its entries
// still commit together.
func (p *Plugin) begin(db *gorm.DB) {
	p.stmts.Delete(db.Statement) // a reused statement must not see stale state
	if db.Error != nil || db.DryRun || auditlog.IsDisabled(db.Statement.Context) {
		return
	}
	m, err := p.modelFor(db)
	if err != nil {
		_ = db.AddError(err)
		return
	}
	st := &stmtState{m: m}
	if m == nil {
		tracks, err := p.joinTracks(db)
		if err != nil {
			_ = db.AddError(err)
			return
		}
		if len(tracks) == 0 {
			return
		}
		st.tracks = tracks
	}
	p.stmts.Store(db.Statement, st)
	if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); !inTx {
		tx := db.Begin()
		if tx.Error != nil {
			_ = db.AddError(fmt.Errorf("auditgorm: begin transaction for audited write: %w", tx.Error))
			return
		}
		db.Statement.ConnPool = tx.Statement.ConnPool
		st.startedTx = true
	}
}

// end forgets the statement and commits or rolls back the plugin's own
// transaction. It runs whether or not the statement failed.
func (p *Plugin) end(db *gorm.DB) {
	v, ok := p.stmts.LoadAndDelete(db.Statement)
	if !ok {
		return
	}
	st := v.(*stmtState)
	if st.injected {
		delete(db.Statement.Clauses, "SET")
	}
	if st.startedTx {
		if db.Error != nil {
			db.Rollback()
		} else {
			db.Commit()
		}
		db.Statement.ConnPool = db.ConnPool
	}
}

func (p *Plugin) beforeCreate(db *gorm.DB) {
	st := p.state(db)
	if st == nil || db.Error != nil {
		return
	}
	if st.m == nil {
		p.beforeJoinWrite(db, st, true)
		return
	}
	c, ok := db.Statement.Clauses["ON CONFLICT"]
	if !ok {
		return
	}
	oc, ok := c.Expression.(clause.OnConflict)
	if !ok {
		return
	}
	st.upsert = &oc
	st.conflict = p.conflictGroups(st.m, oc)
	if len(st.conflict) == 0 {
		_ = db.AddError(fmt.Errorf("auditgorm: %s: an ON CONFLICT column is not a column of the model", st.m.schema.Name))
		return
	}
	// Read the rows the insert may collide with, so inserted and updated rows
	// can be told apart afterwards.
	ctx := db.Statement.Context
	var conds []clause.Expression
	for _, g := range st.conflict {
		var tuples [][]any
		eachRow(db.Statement.ReflectValue, func(row reflect.Value) {
			tuple := make([]any, len(g))
			for i, f := range g {
				v, zero := f.f.ValueOf(ctx, row)
				if zero {
					return
				}
				tuple[i] = v
			}
			tuples = append(tuples, tuple)
		})
		if len(tuples) > 0 {
			names := make([]string, len(g))
			for i, f := range g {
				names[i] = f.column
			}
			column, values := schema.ToQueryValues(db.Statement.Table, names, tuples)
			conds = append(conds, clause.IN{Column: column, Values: values})
		}
	}
	if len(conds) == 0 {
		return
	}
	rows, err := p.preselect(db, st.m.schema, []clause.Expression{clause.Or(conds...)}, true)
	if err == nil {
		err = st.readOld(ctx, rows)
	}
	if err != nil {
		_ = db.AddError(err)
		return
	}
	st.existing = make([]map[string]int, len(st.conflict))
	for gi, g := range st.conflict {
		st.existing[gi] = make(map[string]int, rows.Len())
		for i := 0; i < rows.Len(); i++ {
			k, err := conflictKey(ctx, g, rows.Index(i))
			if err != nil {
				_ = db.AddError(err)
				return
			}
			st.existing[gi][k] = i
		}
	}
}

// conflictGroups returns the column groups an upsert may collide on: the
// ON CONFLICT columns when given; else the primary key, and every unique
// column and index where any of them can fire: on MySQL, whose ON DUPLICATE
// KEY does, and for DO NOTHING without a target elsewhere.
func (p *Plugin) conflictGroups(m *model, oc clause.OnConflict) [][]*field {
	if len(oc.Columns) > 0 {
		var g []*field
		for _, col := range oc.Columns {
			f := m.byColumn[col.Name]
			if f == nil {
				return nil
			}
			g = append(g, f)
		}
		return [][]*field{g}
	}
	groups := [][]*field{m.pk}
	if p.dialect != auditstore.MySQL && !oc.DoNothing {
		return groups
	}
	for _, f := range m.fields {
		if f.f.Unique && !f.f.PrimaryKey {
			groups = append(groups, []*field{f})
		}
	}
	for _, ix := range m.schema.ParseIndexes() {
		if ix.Class != "UNIQUE" {
			continue
		}
		var g []*field
		for _, o := range ix.Fields {
			if f := m.byColumn[o.DBName]; f != nil {
				g = append(g, f)
			}
		}
		if len(g) == len(ix.Fields) && len(g) > 0 {
			groups = append(groups, g)
		}
	}
	return groups
}

// existingRow returns the index of the pre-selected row that row collides
// with, if any.
func (st *stmtState) existingRow(ctx context.Context, row reflect.Value) (int, bool, error) {
	for gi, g := range st.conflict {
		k, err := conflictKey(ctx, g, row)
		if err != nil {
			return 0, false, err
		}
		if i, ok := st.existing[gi][k]; ok {
			return i, true, nil
		}
	}
	return 0, false, nil
}

func conflictKey(ctx context.Context, g []*field, row reflect.Value) (string, error) {
	var b []byte
	for _, f := range g {
		v, err := f.value(ctx, row)
		if err != nil {
			return "", err
		}
		b = v.AppendJSON(b)
		b = append(b, 0)
	}
	return string(b), nil
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

func (p *Plugin) afterCreate(db *gorm.DB) {
	st := p.state(db)
	if st == nil || db.Error != nil {
		return
	}
	if st.m == nil {
		p.afterJoinWrite(db, st, true)
		return
	}
	m, ctx := st.m, db.Statement.Context
	rows, err := p.createdRows(db, m)
	if err != nil {
		_ = db.AddError(err)
		return
	}
	w := p.newWriter(db, m)
	var updated []int // indexes into st.rows of upserted rows that existed
	for _, row := range rows {
		if err != nil {
			break
		}
		if st.existing != nil {
			i, ok, kerr := st.existingRow(ctx, row)
			if kerr != nil {
				err = kerr
				break
			}
			if ok {
				if !st.upsert.DoNothing {
					updated = append(updated, i)
				}
				continue
			}
		}
		key, id, ok, kerr := m.key(ctx, row)
		if kerr != nil {
			err = kerr
			break
		}
		if !ok {
			if st.upsert != nil && st.upsert.DoNothing {
				continue // skipped by ON CONFLICT DO NOTHING
			}
			err = fmt.Errorf("auditgorm: %s: the created row's primary key is unknown after the insert; use a key the application or the database returns", m.schema.Name)
			break
		}
		var changes auditlog.Changes
		if changes, err = m.createChanges(ctx, row); err == nil {
			err = w.add(auditlog.ActionCreate, row, key, id, changes)
		}
	}
	if err == nil && len(updated) > 0 {
		err = p.upsertedEntries(db, st, w, updated)
	}
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		_ = db.AddError(err)
	}
}

// createChanges records every audited non-null value of a new row.
func (m *model) createChanges(ctx context.Context, row reflect.Value) (auditlog.Changes, error) {
	changes := auditlog.Changes{}
	for _, f := range m.fields {
		if !f.audited {
			continue
		}
		v, err := f.value(ctx, row)
		if err != nil {
			return nil, err
		}
		if !v.IsNull() {
			changes[f.column] = auditlog.Change{Old: jsonNull, New: m.stored(f, v).AppendJSON(nil)}
		}
	}
	return changes, nil
}

// createdRows returns the rows a create statement inserted, as the database
// stored them. Struct rows are used as they are when they hold exactly what
// was inserted; rows built from maps, rows whose columns were narrowed by
// Select or Omit, and rows that left a database default unread (MySQL has no
// RETURNING) are read back by key.
func (p *Plugin) createdRows(db *gorm.DB, m *model) ([]reflect.Value, error) {
	stmt, ctx := db.Statement, db.Statement.Context
	var rows, stale []reflect.Value
	if maps := createdMaps(stmt.Dest); maps != nil {
		for _, mv := range maps {
			row := reflect.New(m.schema.ModelType).Elem()
			for k, v := range mv {
				if f := m.schema.LookUpField(k); f != nil && f.DBName != "" {
					if err := f.Set(ctx, row, v); err != nil {
						return nil, fmt.Errorf("auditgorm: %s: read created map: %w", m.schema.Name, err)
					}
				}
			}
			if id, ok := mv["@id"]; ok && len(m.pk) == 1 {
				if err := m.pk[0].f.Set(ctx, row, id); err != nil {
					return nil, err
				}
			}
			rows = append(rows, row)
		}
		stale = rows
	} else {
		eachRow(stmt.ReflectValue, func(row reflect.Value) { rows = append(rows, row) })
		switch {
		case m.narrowed(stmt) || m.nonCreatable:
			stale = rows
		case p.dialect == auditstore.MySQL && len(m.defaults) > 0:
			for _, row := range rows {
				for _, f := range m.defaults {
					if _, zero := f.f.ValueOf(ctx, row); zero {
						stale = append(stale, row)
						break
					}
				}
			}
		}
	}
	if len(stale) == 0 {
		return rows, nil
	}
	fresh, err := p.reselect(db, m, stale)
	if err != nil {
		return nil, err
	}
	out := make([]reflect.Value, len(rows))
	for i, row := range rows {
		out[i] = row
		if key, _, ok, err := m.key(ctx, row); err == nil && ok {
			if f, found := fresh[key]; found {
				out[i] = f
			}
		}
	}
	return out, nil
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

// narrowed reports whether Select or Omit limited the statement's columns.
func (m *model) narrowed(stmt *gorm.Statement) bool {
	for _, names := range [][]string{stmt.Selects, stmt.Omits} {
		for _, n := range names {
			if f := m.schema.LookUpField(n); f != nil && f.DBName != "" {
				return true
			}
		}
	}
	return false
}

// upsertedEntries writes update entries for rows that an upsert updated: the
// new values are read back, since ON CONFLICT assignments run in SQL.
func (p *Plugin) upsertedEntries(db *gorm.DB, st *stmtState, w *writer, idx []int) error {
	ctx := db.Statement.Context
	old := make([]reflect.Value, len(idx))
	for j, i := range idx {
		old[j] = st.rows.Index(i)
	}
	fresh, err := p.reselect(db, st.m, old)
	if err != nil {
		return err
	}
	for _, i := range idx {
		key, id, _, err := st.m.key(ctx, st.rows.Index(i))
		if err != nil {
			return err
		}
		row, ok := fresh[key]
		if !ok {
			continue // the row is gone: nothing was updated
		}
		if err := st.diff(ctx, w, auditlog.ActionUpdate, i, row, key, id, true); err != nil {
			return err
		}
	}
	return nil
}

// whereExprs returns the statement's WHERE conditions.
func whereExprs(stmt *gorm.Statement) []clause.Expression {
	if c, ok := stmt.Clauses["WHERE"]; ok {
		if w, ok := c.Expression.(clause.Where); ok {
			return append([]clause.Expression(nil), w.Exprs...)
		}
	}
	return nil
}

func (p *Plugin) beforeUpdate(db *gorm.DB) {
	st := p.state(db)
	if st == nil || st.m == nil || db.Error != nil {
		return
	}
	stmt := db.Statement
	if stmt.SQL.Len() > 0 {
		_ = db.AddError(fmt.Errorf("auditgorm: %s: the UPDATE was built before auditing could read it; use Model(…).Updates instead of prebuilt SQL, or log it with auditgorm.Log", st.m.schema.Name))
		return
	}
	if c, ok := stmt.Clauses["SET"]; ok {
		st.set, _ = c.Expression.(clause.Set)
	} else {
		// GORM would compute the assignments inside gorm:update; computing them
		// here (it reuses them) gives the exact new values and the key condition.
		set := callbacks.ConvertToAssignments(stmt)
		if db.Error != nil || len(set) == 0 {
			return
		}
		stmt.AddClause(set)
		st.injected, st.set = true, set
	}
	exprs := whereExprs(stmt)
	if len(exprs) == 0 && !db.AllowGlobalUpdate {
		return // GORM refuses the update with ErrMissingWhereClause
	}
	if p.fastUpdate(db, st) {
		st.fast, st.exprs = true, exprs
		return
	}
	p.readAndPin(db, st, exprs)
}

// readAndPin pre-selects the rows the write will change, locking them where
// the database can, and pins the write to exactly those rows, so that a row
// inserted concurrently is never changed without an entry.
func (p *Plugin) readAndPin(db *gorm.DB, st *stmtState, exprs []clause.Expression) {
	rows, err := p.preselect(db, st.m.schema, exprs, db.Statement.Unscoped)
	if err == nil {
		err = st.readOld(db.Statement.Context, rows)
	}
	if err != nil {
		_ = db.AddError(err)
		return
	}
	stmt := db.Statement
	if rows.Len() == 0 {
		stmt.AddClause(clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "1 = 0"}}})
		return
	}
	if rows.Len()*len(st.m.pk) > pinLimit {
		st.checkRows = true
		return
	}
	_, keys := schema.GetIdentityFieldValuesMap(stmt.Context, rows, st.m.schema.PrimaryFields)
	column, values := schema.ToQueryValues(stmt.Table, st.m.schema.PrimaryFieldDBNames, keys)
	stmt.AddClause(clause.Where{Exprs: []clause.Expression{clause.IN{Column: column, Values: values}}})
}

// preselect reads the rows that match exprs, with FOR UPDATE where the
// database honours it, in the statement's transaction.
func (p *Plugin) preselect(db *gorm.DB, s *schema.Schema, exprs []clause.Expression, unscoped bool) (reflect.Value, error) {
	return p.selectRows(db, s, exprs, unscoped, p.lock)
}

// selectRows reads the rows of s that match exprs in the statement's
// transaction, at most MaxRowsPerStatement of them.
func (p *Plugin) selectRows(db *gorm.DB, s *schema.Schema, exprs []clause.Expression, unscoped, lock bool) (reflect.Value, error) {
	table := s.Table
	if s == db.Statement.Schema {
		table = db.Statement.Table // honour Table() on the user's statement
	}
	dest := reflect.New(reflect.SliceOf(s.ModelType))
	q := db.Session(&gorm.Session{NewDB: true, SkipHooks: true}).Table(table)
	if unscoped {
		q = q.Unscoped()
	}
	q = q.Clauses(clause.Where{Exprs: exprs})
	if lock && p.lock {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	if len(s.PrimaryFields) > 0 {
		q = q.Clauses(keyOrder(s))
	}
	if err := q.Limit(p.maxRows + 1).Find(dest.Interface()).Error; err != nil {
		return reflect.Value{}, fmt.Errorf("auditgorm: read %s rows before writing: %w", s.Name, err)
	}
	rows := dest.Elem()
	if rows.Len() > p.maxRows {
		return reflect.Value{}, fmt.Errorf("%w: %s: more than %d rows; narrow the WHERE or raise Config.MaxRowsPerStatement", ErrTooManyRows, s.Name, p.maxRows)
	}
	return rows, nil
}

// keyOrder orders rows by primary key: entries come out in a stable order,
// and concurrent writers lock rows in the same order, which avoids deadlocks
// between them.
func keyOrder(s *schema.Schema) clause.OrderBy {
	cols := make([]clause.OrderByColumn, len(s.PrimaryFields))
	for i, f := range s.PrimaryFields {
		cols[i] = clause.OrderByColumn{Column: clause.Column{Table: clause.CurrentTable, Name: f.DBName}}
	}
	return clause.OrderBy{Columns: cols}
}

// reselect reads rows back by primary key after the write, keyed by the
// model's key text (as model.key renders it).
func (p *Plugin) reselect(db *gorm.DB, m *model, rows []reflect.Value) (map[string]reflect.Value, error) {
	ctx := db.Statement.Context
	keys := make([][]any, len(rows))
	for j, row := range rows {
		keys[j] = rawValues(ctx, m.schema.PrimaryFields, row)
	}
	return p.rowsByKey(db, m.schema, keys, func(row reflect.Value) (string, error) {
		key, _, _, err := m.key(ctx, row)
		return key, err
	})
}

// rowsByKey reads rows of s by primary key, in as few statements as the
// bind-variable limit allows, and indexes them with keyOf. It reads
// soft-deleted rows too and takes no lock: the rows are the statement's own.
func (p *Plugin) rowsByKey(db *gorm.DB, s *schema.Schema, keys [][]any, keyOf func(reflect.Value) (string, error)) (map[string]reflect.Value, error) {
	out := make(map[string]reflect.Value, len(keys))
	chunk := min(pinLimit/len(s.PrimaryFields), p.maxRows) // one statement for up to 30,000 rows
	for start := 0; start < len(keys); start += chunk {
		column, values := schema.ToQueryValues("", s.PrimaryFieldDBNames, keys[start:min(start+chunk, len(keys))])
		rows, err := p.selectRows(db, s, []clause.Expression{clause.IN{Column: column, Values: values}}, true, false)
		if err != nil {
			return nil, err
		}
		for i := 0; i < rows.Len(); i++ {
			key, err := keyOf(rows.Index(i))
			if err != nil {
				return nil, err
			}
			out[key] = rows.Index(i)
		}
	}
	return out, nil
}

// readOld keeps the pre-selected rows and their normalised values.
func (st *stmtState) readOld(ctx context.Context, rows reflect.Value) error {
	st.rows = rows
	st.old = make([][]auditlog.Value, rows.Len())
	for i := range st.old {
		vals := make([]auditlog.Value, len(st.m.fields))
		row := rows.Index(i)
		for j, f := range st.m.fields {
			v, err := f.value(ctx, row)
			if err != nil {
				return err
			}
			vals[j] = v
		}
		st.old[i] = vals
	}
	return nil
}

func isExpression(v any) bool {
	switch v.(type) {
	case clause.Expression, *gorm.DB, []any:
		return true
	}
	return false
}

// applySet applies the statement's assignments to the pre-selected rows. It
// reports false when a value is computed by the database (an expression, a
// subquery) and must be read back instead.
func (st *stmtState) applySet(ctx context.Context) bool {
	for _, a := range st.set {
		f := st.m.byColumn[a.Column.Name]
		if f == nil || isExpression(a.Value) {
			return false
		}
	}
	for i := 0; i < st.rows.Len(); i++ {
		row := st.rows.Index(i)
		for _, a := range st.set {
			if err := st.m.byColumn[a.Column.Name].f.Set(ctx, row, a.Value); err != nil {
				return false
			}
		}
	}
	return true
}

// newRows returns the rows as they are after the write: the pre-selected rows
// with the assignments applied, or, when the database computed a value, the
// rows read back by their keys (computed before applySet touched the rows).
func (p *Plugin) newRows(db *gorm.DB, st *stmtState, keys []string) (func(i int) (reflect.Value, bool), error) {
	if st.applySet(db.Statement.Context) {
		return func(i int) (reflect.Value, bool) { return st.rows.Index(i), true }, nil
	}
	rows := make([]reflect.Value, st.rows.Len())
	for i := range rows {
		rows[i] = st.rows.Index(i)
	}
	fresh, err := p.reselect(db, st.m, rows)
	if err != nil {
		return nil, err
	}
	return func(i int) (reflect.Value, bool) {
		row, ok := fresh[keys[i]]
		return row, ok
	}, nil
}

func (p *Plugin) afterUpdate(db *gorm.DB) {
	st := p.state(db)
	if st == nil || st.m == nil {
		return
	}
	if st.injected {
		delete(db.Statement.Clauses, "SET")
		st.injected = false
	}
	if db.Error != nil || !st.rows.IsValid() || st.rows.Len() == 0 {
		return
	}
	if err := p.changedEntries(db, st, auditlog.ActionUpdate); err != nil {
		_ = db.AddError(err)
	}
}

// changedEntries writes one entry per pre-selected row that the write
// changed, with the old values read before and the new values after.
func (p *Plugin) changedEntries(db *gorm.DB, st *stmtState, action auditlog.Action) error {
	if st.checkRows && p.dialect == auditstore.Postgres && db.RowsAffected != int64(st.rows.Len()) {
		return fmt.Errorf("auditgorm: %s: the write changed %d rows but %d were read before it; retry the transaction", st.m.schema.Name, db.RowsAffected, st.rows.Len())
	}
	ctx := db.Statement.Context
	// Keys first: applying the assignments may change the rows in place.
	type ident struct {
		key string
		id  *int64
	}
	ids := make([]ident, st.rows.Len())
	keys := make([]string, len(ids))
	for i := range ids {
		key, id, _, err := st.m.key(ctx, st.rows.Index(i))
		if err != nil {
			return err
		}
		ids[i], keys[i] = ident{key, id}, key
	}
	next, err := p.newRows(db, st, keys)
	if err != nil {
		return err
	}
	w := p.newWriter(db, st.m)
	for i := range ids {
		row, ok := next(i)
		if !ok {
			continue
		}
		if err := st.diff(ctx, w, action, i, row, ids[i].key, ids[i].id, action == auditlog.ActionUpdate); err != nil {
			return err
		}
	}
	return w.flush()
}

// diff adds an entry for row i of the pre-selected rows if its audited
// values changed (always for deletes).
func (st *stmtState) diff(ctx context.Context, w *writer, action auditlog.Action, i int, row reflect.Value, key string, id *int64, skipNoise bool) error {
	m := st.m
	changes := auditlog.Changes{}
	for j, f := range m.fields {
		if !f.audited || (skipNoise && f.noise) {
			continue
		}
		n, err := f.value(ctx, row)
		if err != nil {
			return err
		}
		if o := st.old[i][j]; !o.Equal(n) {
			changes[f.column] = auditlog.Change{Old: m.stored(f, o).AppendJSON(nil), New: m.stored(f, n).AppendJSON(nil)}
		}
	}
	if len(changes) == 0 && action == auditlog.ActionUpdate {
		return nil
	}
	return w.add(action, row, key, id, changes)
}

func (p *Plugin) beforeDelete(db *gorm.DB) {
	st := p.state(db)
	if st == nil || db.Error != nil {
		return
	}
	if st.m == nil {
		p.beforeJoinWrite(db, st, false)
		return
	}
	stmt := db.Statement
	if stmt.SQL.Len() > 0 {
		_ = db.AddError(fmt.Errorf("auditgorm: %s: the DELETE was built before auditing could read it; use Delete with conditions, or log it with auditgorm.Log", st.m.schema.Name))
		return
	}
	exprs := whereExprs(stmt)
	// The same key conditions gorm:delete adds for the objects passed in.
	pkNames := st.m.schema.PrimaryFieldDBNames
	if stmt.ReflectValue.IsValid() {
		_, keys := schema.GetIdentityFieldValuesMap(stmt.Context, stmt.ReflectValue, st.m.schema.PrimaryFields)
		if column, values := schema.ToQueryValues(stmt.Table, pkNames, keys); len(values) > 0 {
			exprs = append(exprs, clause.IN{Column: column, Values: values})
		}
	}
	if stmt.ReflectValue.CanAddr() && stmt.Dest != stmt.Model && stmt.Model != nil {
		_, keys := schema.GetIdentityFieldValuesMap(stmt.Context, reflect.ValueOf(stmt.Model), st.m.schema.PrimaryFields)
		if column, values := schema.ToQueryValues(stmt.Table, pkNames, keys); len(values) > 0 {
			exprs = append(exprs, clause.IN{Column: column, Values: values})
		}
	}
	if len(exprs) == 0 && !db.AllowGlobalUpdate {
		return // GORM refuses the delete with ErrMissingWhereClause
	}
	if p.fastDelete(db, st) {
		st.fast, st.exprs = true, exprs
		return
	}
	p.readAndPin(db, st, exprs)
}

func (p *Plugin) afterDelete(db *gorm.DB) {
	st := p.state(db)
	if st == nil || db.Error != nil {
		return
	}
	if st.m == nil {
		p.afterJoinWrite(db, st, false)
		return
	}
	if !st.rows.IsValid() || st.rows.Len() == 0 {
		return
	}
	var err error
	if c, soft := db.Statement.Clauses["SET"]; soft && !db.Statement.Unscoped {
		// A soft delete: an UPDATE of the deleted-at column.
		st.set, _ = c.Expression.(clause.Set)
		err = p.changedEntries(db, st, auditlog.ActionDelete)
	} else {
		err = p.deletedEntries(db, st)
	}
	if err != nil {
		_ = db.AddError(err)
	}
}

func (p *Plugin) deletedEntries(db *gorm.DB, st *stmtState) error {
	ctx, m := db.Statement.Context, st.m
	w := p.newWriter(db, m)
	for i := 0; i < st.rows.Len(); i++ {
		row := st.rows.Index(i)
		key, id, _, err := m.key(ctx, row)
		if err != nil {
			return err
		}
		changes := auditlog.Changes{}
		for j, f := range m.fields {
			if o := st.old[i][j]; f.audited && !o.IsNull() {
				changes[f.column] = auditlog.Change{Old: m.stored(f, o).AppendJSON(nil), New: jsonNull}
			}
		}
		if err := w.add(auditlog.ActionDelete, row, key, id, changes); err != nil {
			return err
		}
	}
	return w.flush()
}

var jsonNull = []byte("null")

// writer collects the entries of one statement and writes them with one
// multi-row insert on the statement's connection, inside its transaction.
type writer struct {
	db      *gorm.DB
	p       *Plugin
	m       *model
	base    auditlog.Entry
	entries []auditlog.Entry
	// noSnapshot leaves serialized_data empty (many-to-many entries).
	noSnapshot bool
	extra      map[string]any // the context's extra data, read once
}

func (p *Plugin) newWriter(db *gorm.DB, m *model) *writer {
	ctx := db.Statement.Context
	return &writer{db: db, p: p, m: m, base: baseEntry(ctx, m.name, p.now()), extra: auditlog.ExtraFromContext(ctx)}
}

// baseEntry fills what the context says about every entry of a statement.
func baseEntry(ctx context.Context, model string, now time.Time) auditlog.Entry {
	e := auditlog.Entry{Model: model, Timestamp: now.UTC().Truncate(time.Microsecond)}
	if a, ok := auditlog.ActorFromContext(ctx); ok {
		e.ActorID, e.ActorName = a.ID, a.Name
	}
	e.RemoteAddr, e.RemotePort = auditlog.RemoteAddrFromContext(ctx)
	e.CorrelationID = auditlog.CorrelationIDFromContext(ctx)
	return e
}

func (w *writer) add(action auditlog.Action, row reflect.Value, key string, id *int64, changes auditlog.Changes) error {
	ctx := w.db.Statement.Context
	e := w.base
	e.Action, e.ObjectPK, e.ObjectID, e.Changes = action, key, id, changes
	e.ObjectRepr = w.m.repr(row, key)
	var err error
	if e.AdditionalData, err = additionalData(w.extra, row); err != nil {
		return err
	}
	if len(w.m.snapshot) > 0 && !w.noSnapshot {
		keyJSON, err := w.m.keyJSON(ctx, row)
		if err != nil {
			return err
		}
		if e.SerializedData, err = w.m.snapshotOf(ctx, row, keyJSON); err != nil {
			return err
		}
	}
	w.entries = append(w.entries, e)
	return nil
}

func (w *writer) flush() error {
	if len(w.entries) == 0 {
		return nil
	}
	if err := auditstore.Insert(w.db.Statement.Context, w.db.Statement.ConnPool, w.p.dialect, w.entries); err != nil {
		return fmt.Errorf("auditgorm: write audit entries for %s: %w", w.m.schema.Name, err)
	}
	w.entries = w.entries[:0]
	return nil
}

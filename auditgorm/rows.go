package auditgorm

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/value"
)

// Rows are read from the database as column values, never through the
// model's Go struct: what an entry records is what the database stored, a
// NULL stays null even where the Go field cannot hold it, and a value the
// database rounded is recorded rounded.
//
// Column aliases the plugin adds to its own queries:
const (
	aliasOld      = "_ao" // _ao<i>: field i of the row before the write
	aliasNewKey   = "_nk" // _nk<i>: primary key field i after the write
	aliasInserted = "_auditlog_inserted"
	aliasCreated  = "_ac"       // _ac<i>: field i of a created row (pgentries.go)
	aliasWritten  = "_awritten" // set where the statement wrote the row's entry (read by its place)
)

// dbRow is one row of an audited table, as column values.
type dbRow struct {
	raw    []any         // per model field: the driver's value
	vals   []value.Value // per model field: normalised
	old    *dbRow        // the row before the write, when the query returned both
	newKey []any         // per primary key field: the key after the write
	// inserted is set when the database said whether an upsert inserted the
	// row (PostgreSQL's xmax = 0).
	inserted *bool
	// written: the statement wrote the row's entry (pgentries.go).
	written bool
}

// rowReader turns the values of one result row into a dbRow of m. Columns
// named like model columns fill the row; _ao<i> columns fill its old row,
// _nk<i> columns its new key; others are skipped.
type rowReader struct {
	m       *model
	targets []target
	hasOld  bool
	slab    rowSlab
}

// rowSlab hands out the rows a reader reads, and their value slices, from
// chunks allocated together: a batch of 1,000 rows costs a few dozen
// allocations instead of three per row. Chunks grow from one row, so that
// a single-row statement allocates no more than before.
type rowSlab struct {
	rows []dbRow
	raw  []any
	vals []value.Value
	size int // rows of the last chunk
}

// take returns a zero row whose raw and vals have width elements each.
func (s *rowSlab) take(width int) *dbRow {
	if len(s.rows) == 0 {
		s.size = min(max(2*s.size, 1), 64)
		s.rows = make([]dbRow, s.size)
		s.raw = make([]any, s.size*width)
		s.vals = make([]value.Value, s.size*width)
	}
	r := &s.rows[0]
	s.rows = s.rows[1:]
	r.raw, s.raw = s.raw[:width:width], s.raw[width:]
	r.vals, s.vals = s.vals[:width:width], s.vals[width:]
	return r
}

type target struct {
	set int // 0 row, 1 old row, 2 new key, 3 inserted flag, -1 skipped
	idx int
}

func newRowReader(m *model, cols []string) *rowReader {
	rr := &rowReader{m: m, targets: make([]target, len(cols))}
	var unmatched []int // columns no field's name or alias matches
	for i, c := range cols {
		rr.targets[i] = target{set: -1}
		if f := m.byColumn[c]; f != nil {
			rr.targets[i] = target{0, f.index}
			continue
		}
		if c == aliasInserted {
			rr.targets[i] = target{set: 3}
			continue
		}
		for _, a := range []struct {
			prefix string
			set    int
		}{{aliasOld, 1}, {aliasNewKey, 2}} {
			if n, ok := strings.CutPrefix(c, a.prefix); ok {
				if j, err := strconv.Atoi(n); err == nil && j >= 0 && (a.set == 1 && j < len(m.fields) || a.set == 2 && j < len(m.pk)) {
					rr.targets[i] = target{a.set, j}
					rr.hasOld = rr.hasOld || a.set == 1
				}
			}
		}
		if rr.targets[i].set == -1 {
			unmatched = append(unmatched, i)
		}
	}
	// SQLite names a result column as the table spells it (Code for the
	// model's code), and SQLite and MySQL compare column names without
	// regard to case: a column no field's name matches exactly goes to
	// the field it matches so, unless another column took that field.
	if len(unmatched) > 0 {
		taken := make([]bool, len(m.fields))
		for _, t := range rr.targets {
			if t.set == 0 {
				taken[t.idx] = true
			}
		}
		for _, i := range unmatched {
			if f := m.columnNamed(cols[i]); f != nil && !taken[f.index] {
				taken[f.index] = true
				rr.targets[i] = target{0, f.index}
			}
		}
	}
	return rr
}

func (rr *rowReader) read(holders []any) (*dbRow, error) {
	m := rr.m
	r := rr.slab.take(len(m.fields))
	if rr.hasOld {
		r.old = rr.slab.take(len(m.fields))
	}
	for i, t := range rr.targets {
		switch t.set {
		case 0:
			r.raw[t.idx] = holders[i]
		case 1:
			r.old.raw[t.idx] = holders[i]
		case 2:
			if r.newKey == nil {
				r.newKey = make([]any, len(m.pk))
			}
			r.newKey[t.idx] = holders[i]
		case 3:
			b, err := dbBool(holders[i])
			if err != nil {
				return nil, err
			}
			r.inserted = &b
		}
	}
	if err := r.normalize(m); err != nil {
		return nil, err
	}
	if r.old != nil {
		if err := r.old.normalize(m); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// scanRows reads rows as column values of m: at most maxRows of them (a
// further row is ErrTooManyRows); any number when maxRows is 0.
func scanRows(rows *sql.Rows, m *model, maxRows int) ([]*dbRow, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	rr := newRowReader(m, cols)
	holders, dest := scanTargets(len(cols))
	var out []*dbRow
	for rows.Next() {
		if maxRows > 0 && len(out) == maxRows {
			return nil, errTooMany(m, maxRows)
		}
		clear(holders)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r, err := rr.read(holders)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// scanTargets returns n value holders and the Scan destinations that fill
// them.
func scanTargets(n int) (holders, dest []any) {
	holders, dest = make([]any, n), make([]any, n)
	for i := range dest {
		dest[i] = &holders[i]
	}
	return holders, dest
}

func errTooMany(m *model, maxRows int) error {
	return fmt.Errorf("%w: %s: more than %d rows; narrow the WHERE or raise Config.MaxRowsPerStatement", ErrTooManyRows, m.schema.Name, maxRows)
}

func (r *dbRow) normalize(m *model) error {
	if len(r.vals) != len(m.fields) {
		r.vals = make([]value.Value, len(m.fields))
	}
	for i, f := range m.fields {
		v, err := f.fromDB(r.raw[i])
		if err != nil {
			return err
		}
		r.vals[i] = v
	}
	return nil
}

// keyRaw is the row's primary key as driver values, for a query by key.
func (r *dbRow) keyRaw(m *model) []any {
	k := make([]any, len(m.pk))
	for i, f := range m.pk {
		k[i] = r.raw[f.index]
	}
	return k
}

// keyText is the row's key as model.keyOf renders it.
func (r *dbRow) keyText(m *model) string {
	k, _ := m.t.Key(r.vals)
	return k
}

// objectKey is the row's key as entries and errors show it: masked where
// the key is masked.
func (r *dbRow) objectKey(m *model) string {
	k, _ := m.t.ObjectKey(r.vals)
	return k
}

// object builds the model's struct from the row, for reprs and for
// AdditionalDataProvider, or returns no value where a field cannot take
// its column's value: the entry then shows the default repr ("Type(key)")
// rather than one the object's methods made of a struct partly zero. The
// entry's values come from the row, not from this struct.
func (r *dbRow) object(ctx context.Context, m *model) (obj reflect.Value) {
	obj = reflect.New(m.schema.ModelType).Elem()
	// GORM's setters return errors for foreign types, but some panic (a
	// serializer given raw text).
	defer func() {
		if recover() != nil {
			obj = reflect.Value{}
		}
	}()
	for i, f := range m.fields {
		if r.raw[i] == nil {
			continue
		}
		switch {
		case f.f.Serializer != nil && !customSerializer(f.f):
			// GORM's json, gob and unixtime: decoded as GORM's reads do.
			if f.f.Serializer.Scan(ctx, f.f, obj, r.raw[i]) != nil {
				return reflect.Value{}
			}
		case f.f.Serializer != nil:
			// Another serializer (an encrypting one) is not run: the field
			// holds the stored form where its type takes it, else nothing.
			_ = f.f.Set(ctx, obj, r.raw[i])
		case f.f.Set(ctx, obj, r.raw[i]) != nil:
			// A value of another type than the field's (SQLite hands a
			// DECIMAL over as a float, a string field takes no float):
			// the field takes its text as the entry records it, or
			// nothing of the row's object is shown.
			if i >= len(r.vals) || r.vals[i].IsNull() || f.f.Set(ctx, obj, r.vals[i].Text()) != nil {
				return reflect.Value{}
			}
		}
	}
	return obj
}

// query builds a read of the statement's table on the statement's
// connection (its transaction), with no hooks and no default scopes: the
// conditions passed are exactly the ones applied.
func (p *Plugin) query(db *gorm.DB) *gorm.DB {
	stmt := db.Statement
	q := db.Session(&gorm.Session{NewDB: true, SkipHooks: true})
	if stmt.Schema != nil {
		// The model resolves conditions on "the primary key" (Delete(&T{}, 7));
		// Unscoped: the statement's own conditions already hold its scopes.
		q = q.Model(reflect.New(stmt.Schema.ModelType).Interface()).Unscoped()
	}
	q = q.Table(stmt.Table)
	q.Statement.TableExpr = stmt.TableExpr
	return q
}

// rows runs the read q on the plugin's connection: its text mostly
// repeats an earlier read's, so it runs prepared (prepared.go).
func (p *Plugin) rows(q *gorm.DB) (*sql.Rows, error) {
	q.Statement.ConnPool = p.conn(q)
	return q.Rows()
}

// readRows runs q and scans its rows as column values of m.
func (p *Plugin) readRows(q *gorm.DB, m *model) ([]*dbRow, error) {
	rows, err := p.rows(q)
	if err != nil {
		return nil, err
	}
	return scanRows(rows, m, p.maxRows)
}

// readByKey reads rows of m by primary key, indexed by key text (readWhereIn).
// Every caller reads after the write it records, so the read is not
// cancelled with the statement's context (afterWrite).
func (p *Plugin) readByKey(db *gorm.DB, m *model, table string, keys [][]any) (map[string]*dbRow, error) {
	rows, err := p.readWhereIn(db, afterWrite(db), m, table, m.schema.PrimaryFieldDBNames, keys, p.current)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: read back %s rows: %w", m.schema.Name, err)
	}
	out := make(map[string]*dbRow, len(rows))
	for _, r := range rows {
		out[r.keyText(m)] = r
	}
	return out, nil
}

// readWhereIn reads the rows of m whose columns cols hold one of the tuples
// vals, in as few statements as the bind-variable limit allows, locked as
// lock makes the read (p.current, p.shared). It reads soft-deleted rows too.
func (p *Plugin) readWhereIn(db *gorm.DB, ctx context.Context, m *model, table string, cols []string, vals [][]any, lock func(*gorm.DB) *gorm.DB) ([]*dbRow, error) {
	var out []*dbRow
	chunk := max(1, min(pinLimit/len(cols), p.maxRows))
	session := &gorm.Session{NewDB: true, SkipHooks: true, Context: ctx}
	if m.secretIn(cols) {
		session.Logger = hiddenParams(db.Logger)
	}
	for start := 0; start < len(vals); start += chunk {
		q := db.Session(session).Table(table).
			Clauses(clause.Select{Columns: m.readCols(db.Statement, false)}, clause.Where{Exprs: []clause.Expression{keysWhere("", cols, vals[start:min(start+chunk, len(vals))], p.integerKey(m, cols))}})
		p.obsOf(db).sentOne()
		rows, err := p.readRows(lock(q), m)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// current makes q read the latest committed rows where a plain read would
// not (MySQL's repeatable-read snapshot), with a shared lock.
func (p *Plugin) current(q *gorm.DB) *gorm.DB {
	if p.dialect != auditstore.MySQL {
		return q
	}
	return q.Clauses(shareLock{})
}

// shared makes q a read that holds the rows it reads as they are until the
// transaction ends, with a shared lock (SQLite has one writer at a time):
// for a read whose values decide what an entry names, which a change
// committed after it must not make wrong. On PostgreSQL a row lock needs
// the UPDATE privilege: only for rows of the table the statement writes.
func (p *Plugin) shared(q *gorm.DB) *gorm.DB {
	if p.dialect == auditstore.Postgres {
		return q.Clauses(clause.Locking{Strength: clause.LockingStrengthShare})
	}
	return p.current(q)
}

// shareLock is LOCK IN SHARE MODE, which MySQL and every MariaDB accept
// (older MariaDB has no FOR SHARE).
type shareLock struct{}

func (shareLock) Name() string                 { return "FOR" }
func (shareLock) Build(b clause.Builder)       { b.WriteString("LOCK IN SHARE MODE") }
func (shareLock) MergeClause(c *clause.Clause) { c.Name, c.Expression = "", shareLock{} }

// dbBool reads a boolean a driver returned.
func dbBool(x any) (bool, error) {
	switch v := x.(type) {
	case bool:
		return v, nil
	case int64:
		return v != 0, nil
	case []byte:
		return strconv.ParseBool(string(v))
	case string:
		return strconv.ParseBool(v)
	}
	return false, fmt.Errorf("auditgorm: unexpected boolean %T from the database", x)
}

// integerKey reports whether cols are the model's key, one integer
// column, on a database whose integer columns hold integers only: not
// SQLite, where a key column that is not the rowid (BIGINT PRIMARY KEY)
// may hold 20.5, which "id BETWEEN 20 AND 21" matches and the keys read
// do not.
func (p *Plugin) integerKey(m *model, cols []string) bool {
	return p.dialect != auditstore.SQLite && len(cols) == 1 && len(m.pk) == 1 && m.pk[0].column == cols[0] && (m.pk[0].kind == schema.Int || m.pk[0].kind == schema.Uint)
}

// keysWhere is the condition "the key (cols) is one of vals": cols IN
// (vals). For one integer column (integer, as integerKey reports) whose
// values are all integers, runs of consecutive values become "col BETWEEN
// first AND last", which matches the same rows (every integer from first
// to last is in vals) and which databases parse and plan far faster than
// a list of a thousand values: on MariaDB a 1,000-row UPDATE took 4.6 ms
// pinned by IN, 3.1 ms by BETWEEN and 2.9 ms unpinned. Values that are
// scattered keep the list.
func keysWhere(table string, cols []string, vals [][]any, integer bool) clause.Expression {
	if integer && len(vals) > 1 {
		if ns, ok := int64Keys(vals); ok {
			if e, ok := keyRanges(clause.Column{Table: table, Name: cols[0]}, ns); ok {
				return e
			}
		}
	}
	return tuplesIn(table, cols, vals)
}

// tuplesIn is the condition "(cols) is one of vals". One tuple of several
// columns is "a = ? AND b = ?", which matches the same rows as "(a, b) IN
// ((?, ?))" (a NULL matches neither) and which SQLite plans as a search of
// the index, where the row value makes it fill a temporary list first,
// about 9 µs per statement here ("Join reads by equality", BENCHMARKS.md).
func tuplesIn(table string, cols []string, vals [][]any) clause.Expression {
	if len(vals) == 1 && len(cols) > 1 && len(vals[0]) == len(cols) {
		eqs := make([]clause.Expression, len(cols))
		for i, c := range cols {
			eqs[i] = clause.Expr{SQL: "? = ?", Vars: []any{clause.Column{Table: table, Name: c}, vals[0][i]}}
		}
		return clause.And(eqs...)
	}
	column, values := schema.ToQueryValues(table, cols, vals)
	return clause.IN{Column: column, Values: values}
}

// int64Keys returns one-column keys as integers, sorted and without
// repeats, or false if one is not an integer a driver returns.
func int64Keys(vals [][]any) ([]int64, bool) {
	ns := make([]int64, len(vals))
	for i, v := range vals {
		switch n := v[0].(type) {
		case int64:
			ns[i] = n
		case int32:
			ns[i] = int64(n)
		case int16:
			ns[i] = int64(n)
		case int:
			ns[i] = int64(n)
		case uint32:
			ns[i] = int64(n)
		case uint64:
			if n > math.MaxInt64 {
				return nil, false
			}
			ns[i] = int64(n)
		default:
			return nil, false
		}
	}
	slices.Sort(ns)
	return slices.Compact(ns), true
}

// keyRanges is "col BETWEEN a AND b" for each run of consecutive values
// and "col IN (…)" for the rest, joined by OR; false where the values are
// too scattered for that to be shorter than the list.
func keyRanges(col clause.Column, ns []int64) (clause.Expression, bool) {
	var exprs []clause.Expression
	var single []any
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if j > i {
			exprs = append(exprs, clause.Expr{SQL: "? BETWEEN ? AND ?", Vars: []any{col, ns[i], ns[j]}})
		} else {
			single = append(single, ns[i])
		}
		i = j + 1
	}
	if len(exprs) == 0 || 2*len(exprs)+len(single) >= len(ns) {
		return nil, false
	}
	if len(single) > 0 {
		exprs = append(exprs, clause.IN{Column: col, Values: single})
	}
	if len(exprs) == 1 {
		return exprs[0], true
	}
	return clause.Or(exprs...), true
}

// secretIn reports whether one of cols is a masked or excluded column of
// m: values the plugin reads by it are values the application may never
// have written (a masked key read back), which no log line may show.
func (m *model) secretIn(cols []string) bool {
	for _, c := range cols {
		if f := m.byColumn[c]; f != nil && (f.masked || f.excluded) {
			return true
		}
	}
	return false
}

// paramsHidden is a GORM logger that logs statements without the values
// of their parameters (GORM's ParamsFilter): for the statements the
// plugin adds masked values to.
type paramsHidden struct{ logger.Interface }

// hiddenParams returns l logging statements without their values.
func hiddenParams(l logger.Interface) logger.Interface {
	if _, ok := l.(paramsHidden); ok || l == nil {
		return l
	}
	return paramsHidden{l}
}

func (h paramsHidden) LogMode(level logger.LogLevel) logger.Interface {
	return paramsHidden{h.Interface.LogMode(level)}
}

// ParamsFilter is the inner logger's, if it has one, and then each value
// left becomes "[hidden]".
func (h paramsHidden) ParamsFilter(ctx context.Context, sql string, params ...any) (string, []any) {
	if f, ok := h.Interface.(gorm.ParamsFilter); ok {
		sql, params = f.ParamsFilter(ctx, sql, params...)
	}
	out := make([]any, len(params))
	for i := range out {
		out[i] = "[hidden]"
	}
	return sql, out
}

// hideParams makes GORM log db's statement without its values: the
// instance's own copy of its configuration gets the hiding logger (the
// pool's configuration, shared with other statements, stays as it is).
func hideParams(db *gorm.DB) {
	if db == nil || db.Config == nil {
		return
	}
	if _, ok := db.Logger.(paramsHidden); ok || db.Logger == nil {
		return
	}
	cfg := *db.Config
	cfg.Logger = paramsHidden{db.Logger}
	db.Config = &cfg
}

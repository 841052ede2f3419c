package auditgorm

import (
	"errors"
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
)

// pinLimit bounds the bind variables of the "key IN (…)" condition that pins
// a write to the rows the plugin read; larger writes run in chunks.
const pinLimit = 30_000

// updateAssignments does what gorm:update does first and returns the
// statement's assignments, read once for the capture; done removes the SET
// clause it added, once the statement has run. Schema clauses mark
// themselves applied, so running them again in orig is harmless, and a SET
// clause the caller built is used as it is.
func updateAssignments(db *gorm.DB) (set clause.Set, done func()) {
	stmt := db.Statement
	for _, c := range stmt.Schema.UpdateClauses {
		stmt.AddClause(c)
	}
	stmt.AddClauseIfNotExists(clause.Update{})
	if set, ok := setClause(stmt); ok {
		return set, func() {}
	}
	set = callbacks.ConvertToAssignments(stmt)
	if db.Error != nil || len(set) == 0 {
		return set, func() {}
	}
	stmt.AddClause(set)
	return set, func() { delete(stmt.Clauses, "SET") }
}

// untrackedUpdate reports whether the statement, an update of m, can make
// no entry: it assigns only columns that no update entry records
// (auto-updated timestamps such as the updated_at GORM's Association
// touches, fields left out of the audit), none of them a key, and the
// model has no field GORM cannot write, which the database could compute
// from them. Such an update runs as it is: no transaction of the plugin's,
// no read, no entry.
func untrackedUpdate(db *gorm.DB, m *model, set clause.Set) bool {
	if m.computed || missingWhere(db) {
		return false
	}
	for _, a := range set {
		f := m.byColumn[a.Column.Name]
		if f == nil || f.f.PrimaryKey || (a.Column.Table != "" && a.Column.Table != db.Statement.Table) || (f.audited && !f.noise) || !boundValue(a.Value) {
			return false
		}
	}
	return true
}

// boundValue reports whether an assigned value is sent as bound variables
// only. SQL of the caller's (gorm.Expr, a GormValuer's expression, a
// subquery) can assign other columns than the one it is written for
// ("updated_at = ?, name = ?"): such an update is captured.
func boundValue(v any) bool {
	switch v.(type) {
	case clause.Expression, gorm.Valuer, *gorm.DB, []any:
		return false
	}
	return true
}

func setClause(stmt *gorm.Statement) (clause.Set, bool) {
	c, ok := stmt.Clauses["SET"]
	if !ok {
		return nil, false
	}
	set, _ := c.Expression.(clause.Set)
	return set, true
}

// runUpdate runs the statement's UPDATE (an update, or a soft delete) and
// records each changed row with its old values from a locking read and its
// new values as the database stored them.
// updateModifier is the modifier of the statement's UPDATE clause ("OR
// REPLACE", "IGNORE"), in upper case.
func updateModifier(stmt *gorm.Statement) string {
	if c, ok := stmt.Clauses["UPDATE"]; ok {
		if u, ok := c.Expression.(clause.Update); ok {
			return strings.ToUpper(u.Modifier)
		}
	}
	return ""
}

func (p *Plugin) runUpdate(db *gorm.DB, m *model, set clause.Set, action auditlog.Action, orig func(*gorm.DB)) error {
	stmt := db.Statement
	if c, ok := stmt.Clauses["FROM"]; ok {
		if from, ok := c.Expression.(clause.From); ok && len(from.Tables) > 0 {
			// The read of the rows it changes would lack the tables its
			// conditions and values name.
			return fmt.Errorf("auditgorm: %s: an UPDATE … FROM other tables cannot be audited; select the rows by a subquery on the model's table, or log the change with auditgorm.Log", m.schema.Name)
		}
	}
	_, userReturning := stmt.Clauses["RETURNING"]
	if p.fastPG && p.dialect == auditstore.Postgres && !userReturning && p.oneStatement(stmt) {
		var e *pgEntries
		if newKeyExprs(m, set) == nil {
			// Not with key changes: entries the statement leaves to the
			// client would follow the others, where the order of key
			// changes matters (3 → 2 after 2 → 1).
			var err error
			if e, err = p.sqlEntries(db, m, action); err != nil {
				return err
			}
		}
		var rows []*dbRow
		var err error
		ran := false
		o := p.obsOf(db)
		if e != nil {
			o.took(PathInStatement)
			if rows, ran, err = p.pgUpdateWithEntries(db, m, e, set, action); err != nil {
				return err
			}
		}
		if !ran {
			o.took(PathReturning)
			if rows, err = p.pgUpdate(db, m, set); err != nil {
				return err
			}
			setResult(db, int64(len(rows)))
		}
		// Where the statement wrote its entries, rows are the ones it left.
		pairs := make([][2]*dbRow, len(rows))
		for i, r := range rows {
			pairs[i] = [2]*dbRow{r.old, r}
		}
		return p.changedEntries(db, m, action, pairs)
	}
	keyExprs := newKeyExprs(m, set)
	if keyExprs != nil && p.dialect == auditstore.MySQL {
		if err := keyReadsAnAssignedColumn(db, m, set); err != nil {
			return err
		}
	}
	old, err := p.preselect(db, m, keyExprs)
	if err != nil {
		return err
	}
	returning := builds(stmt, "RETURNING") && !userReturning && p.dialect != auditstore.MySQL // MariaDB has no UPDATE … RETURNING
	taken := false
	if keyExprs != nil && !returning {
		if taken, err = p.keysTaken(db, m, old); err != nil {
			return err
		}
	}
	if returning {
		p.obsOf(db).took(PathReturning)
	} else {
		p.obsOf(db).took(PathReadBack)
	}
	var fresh []*dbRow
	switch {
	case userReturning:
		// The caller reads RETURNING rows into its objects: GORM runs the
		// statement, pinned in one piece, and the rows are read back.
		if ok, err := p.runOrigPinned(db, m, old, orig); !ok {
			return err
		}
	default:
		pinned := true
		if returning && keyExprs == nil && p.dialect == auditstore.SQLite && len(old) >= unpinnedMinRows {
			fresh, pinned, err = p.runUnpinned(db, m, old)
			if err != nil {
				return err
			}
		}
		if pinned {
			fresh, err = p.runPinned(db, m, old, returning)
			if err != nil {
				return err
			}
		}
	}
	if taken {
		// A row outside the statement held a key the read computed for one
		// of its rows, and yet the write did not collide with it: the
		// write computed other keys than the read (an expression over
		// other rows, which another transaction changed in between). Read
		// back by the computed keys, that row's values would be recorded.
		return fmt.Errorf("auditgorm: %s: the statement gave a row another key than it computed when read (a key computed from other rows that changed meanwhile, or non-deterministic); it cannot be audited", m.schema.Name)
	}
	var byKey map[string]*dbRow
	if returning {
		byKey = make(map[string]*dbRow, len(fresh))
		for _, r := range fresh {
			byKey[r.keyText(m)] = r
		}
	} else {
		keys := make([][]any, len(old))
		for i, r := range old {
			keys[i] = r.afterKey(m)
		}
		if byKey, err = p.readByKey(db, m, writtenTable(stmt), keys); err != nil {
			return err
		}
	}
	pairs := make([][2]*dbRow, 0, len(old))
	for _, o := range old {
		n, ok := byKey[o.afterKeyText(m)]
		if !ok {
			// The row's key after the write is not the one computed before
			// it (a key set by a non-deterministic expression), or the write
			// did not match it again (conditions that are not
			// deterministic): its entry cannot be written truthfully.
			if strings.Contains(updateModifier(stmt), "IGNORE") {
				return fmt.Errorf("auditgorm: %s: an UPDATE with IGNORE (OR IGNORE on SQLite) skipped row %s (its new values break a constraint), and which rows it skips the statement does not tell: it cannot be audited; update the rows that can take the values", m.schema.Name, o.objectKey(m))
			}
			return fmt.Errorf("auditgorm: %s: the written row %s cannot be found under the key its statement gave it; a statement whose conditions or primary key assignments are non-deterministic (random(), the time) cannot be audited", m.schema.Name, o.objectKey(m))
		}
		pairs = append(pairs, [2]*dbRow{o, n})
	}
	return p.changedEntries(db, m, action, pairs)
}

// keysTaken reports whether another row than those the statement changes
// holds one of the keys the pre-select computed for them: a write that
// assigns them must then collide, and one that does not assigned others.
// The rows found stay locked until the end of the transaction (a shared
// lock, which on PostgreSQL needs the UPDATE privilege the statement has on
// its table), so that none of them moves away in between.
func (p *Plugin) keysTaken(db *gorm.DB, m *model, rows []*dbRow) (bool, error) {
	own := make(map[string]bool, len(rows))
	for _, r := range rows {
		own[r.keyText(m)] = true
	}
	var keys [][]any
	for _, r := range rows {
		if !own[r.afterKeyText(m)] {
			keys = append(keys, r.afterKey(m))
		}
	}
	if len(keys) == 0 {
		return false, nil
	}
	found, err := p.readWhereIn(db, db.Statement.Context, m, writtenTable(db.Statement), m.schema.PrimaryFieldDBNames, keys, p.shared)
	if err != nil {
		return false, fmt.Errorf("auditgorm: read %s rows at the new keys: %w", m.schema.Name, err)
	}
	// The database compares keys by their collation: a statement's own row
	// whose key changes case ("alice" → "Alice") holds its new key too.
	for _, r := range found {
		if !own[r.keyText(m)] {
			return true, nil
		}
	}
	return false, nil
}

// oneStatement reports whether PostgreSQL can read the old rows inside the
// UPDATE itself (see pgUpdate).
func (p *Plugin) oneStatement(stmt *gorm.Statement) bool {
	if len(stmt.Joins) > 0 || stmt.TableExpr != nil {
		return false
	}
	_, from := stmt.Clauses["FROM"]
	return !from
}

// newKeyExprs returns, per primary key field, the value the statement
// assigns to it, or nil when it leaves the key alone.
func newKeyExprs(m *model, set clause.Set) []any {
	var out []any
	for i, f := range m.pk {
		for _, a := range set {
			if a.Column.Name == f.column {
				if out == nil {
					out = make([]any, len(m.pk))
					for j, g := range m.pk {
						out[j] = clause.Column{Table: clause.CurrentTable, Name: g.column}
					}
				}
				out[i] = a.Value
			}
		}
	}
	return out
}

// keyReadsAnAssignedColumn refuses, on MySQL and MariaDB, an assignment
// to a key column whose expression names a column the statement assigns
// before it. There an UPDATE's SET assigns left to right, and such an
// expression reads that column's new value, where the read before the
// write computes the new key from the old one: rows read back by those
// keys would be other rows the statement moved (or none). A name that
// only looks like the column (in a subquery, of another table) is
// refused too: the statement's text alone cannot tell.
func keyReadsAnAssignedColumn(db *gorm.DB, m *model, set clause.Set) error {
	for i, a := range set {
		if i == 0 || boundValue(a.Value) || !slices.ContainsFunc(m.pk, func(f *field) bool { return f.column == a.Column.Name }) {
			continue
		}
		s := &gorm.Statement{DB: db, Clauses: map[string]clause.Clause{}}
		s.AddVar(s, a.Value)
		names := sqlNames(s.SQL.String())
		for _, b := range set[:i] {
			if names[strings.ToLower(b.Column.Name)] {
				return fmt.Errorf("auditgorm: %s: MySQL and MariaDB assign an UPDATE's SET left to right, and the new key's expression (%s) names `%s`, which the statement assigns before it: its entries could not tell which row took which key; assign the key in a statement of its own, or before `%s`",
					m.schema.Name, a.Column.Name, b.Column.Name, b.Column.Name)
			}
		}
	}
	return nil
}

// sqlNames returns the words and `quoted` names of an SQL text, in lower
// case, leaving out its string literals.
func sqlNames(sql string) map[string]bool {
	names := map[string]bool{}
	word := func(c byte) bool {
		return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
	}
	for i := 0; i < len(sql); {
		switch c := sql[i]; {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			var name strings.Builder
			for j < len(sql) {
				if sql[j] == '\\' && c != '`' && j+1 < len(sql) {
					j += 2
					continue
				}
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c { // a doubled quote
						name.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				name.WriteByte(sql[j])
				j++
			}
			if c == '`' {
				names[strings.ToLower(name.String())] = true
			}
			i = j + 1
		case word(c):
			j := i
			for j < len(sql) && word(sql[j]) {
				j++
			}
			names[strings.ToLower(sql[i:j])] = true
			i = j
		default:
			i++
		}
	}
	return names
}

// objectKeyConds adds the key conditions gorm:delete adds for the objects
// passed in (db.Delete(&row), a slice of rows), so that the plugin's read
// reads the rows the delete will delete.
func objectKeyConds(stmt *gorm.Statement) {
	if stmt.Schema == nil || !stmt.ReflectValue.IsValid() {
		return
	}
	objs := []reflect.Value{stmt.ReflectValue}
	if stmt.ReflectValue.CanAddr() && stmt.Dest != stmt.Model && stmt.Model != nil {
		objs = append(objs, reflect.ValueOf(stmt.Model))
	}
	for _, rv := range objs {
		_, keys := schema.GetIdentityFieldValuesMap(stmt.Context, rv, stmt.Schema.PrimaryFields)
		if column, values := schema.ToQueryValues(stmt.Table, stmt.Schema.PrimaryFieldDBNames, keys); len(values) > 0 {
			stmt.AddClause(clause.Where{Exprs: []clause.Expression{clause.IN{Column: column, Values: values}}})
		}
	}
}

// afterKey is the row's key after the write: its own, or the new key the
// pre-select computed from the statement's assignments.
func (r *dbRow) afterKey(m *model) []any {
	if r.newKey != nil {
		return r.newKey
	}
	return r.keyRaw(m)
}

func (r *dbRow) afterKeyText(m *model) string {
	if r.newKey == nil {
		return r.keyText(m)
	}
	return rawKeyText(m, r.newKey)
}

// preselect reads the rows the statement will change, with the statement's
// own conditions, order and limit, locked where the database can: exactly
// the rows the write will touch. keyExprs, when set, are the statement's
// assignments to the key, computed per row.
func (p *Plugin) preselect(db *gorm.DB, m *model, keyExprs []any) ([]*dbRow, error) {
	stmt := db.Statement
	q := p.query(db)
	sel := clause.Select{Columns: m.readCols(stmt, true)}
	if keyExprs != nil {
		var sql strings.Builder
		vars := make([]any, 0, len(sel.Columns)+len(keyExprs))
		for _, c := range sel.Columns {
			sql.WriteString("?, ")
			vars = append(vars, c)
		}
		for i, e := range keyExprs {
			if i > 0 {
				sql.WriteString(", ")
			}
			if _, isCol := e.(clause.Column); p.dialect == auditstore.Postgres && !isCol && boundValue(e) {
				// A bound value alone would be typed text; beside the key
				// column in a CASE it takes the column's type.
				sql.WriteString("CASE WHEN false THEN ? ELSE ? END AS " + aliasNewKey + strconv.Itoa(i))
				vars = append(vars, clause.Column{Table: clause.CurrentTable, Name: m.pk[i].column}, e)
				continue
			}
			sql.WriteString("? AS " + aliasNewKey + strconv.Itoa(i))
			vars = append(vars, e)
		}
		sel = clause.Select{Expression: clause.Expr{SQL: sql.String(), Vars: vars}}
	}
	q = q.Clauses(sel, whereOf(whereExprs(stmt)))
	limit := p.maxRows + 1
	if c, ok := stmt.Clauses["ORDER BY"]; ok && builds(stmt, "ORDER BY") {
		if o, ok := c.Expression.(clause.OrderBy); ok {
			q.Statement.AddClause(o)
		}
	}
	q = q.Clauses(m.order)
	if builds(stmt, "LIMIT") {
		if c, ok := stmt.Clauses["LIMIT"]; ok {
			if l, ok := c.Expression.(clause.Limit); ok && l.Limit != nil && *l.Limit >= 0 && *l.Limit < limit {
				limit = *l.Limit // the statement's own limit
			}
		}
	}
	q = q.Limit(limit)
	if p.lock {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	p.obsOf(db).sentOne()
	rows, err := p.rows(q)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: read %s rows before writing: %w", m.schema.Name, err)
	}
	out, err := scanRows(rows, m, p.maxRows)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: read %s rows before writing: %w", m.schema.Name, err)
	}
	return out, nil
}

// pin adds "key IN (the rows read)" to the statement's conditions, or a
// condition that matches nothing when no row was read.
func (p *Plugin) pin(stmt *gorm.Statement, m *model, rows []*dbRow) {
	if len(rows) == 0 {
		stmt.AddClause(clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "1 = 0"}}})
		return
	}
	keys := make([][]any, len(rows))
	for i, r := range rows {
		keys[i] = r.keyRaw(m)
	}
	cols := m.schema.PrimaryFieldDBNames
	if m.secretIn(cols) {
		// Keys the application's statement did not name: GORM's log of
		// it must not show them.
		hideParams(stmt.DB)
	}
	stmt.AddClause(clause.Where{Exprs: []clause.Expression{keysWhere(stmt.Table, cols, keys, p.integerKey(m, cols))}})
}

// runOrigPinned runs GORM's own callback on the statement pinned to rows in
// one piece, for statements whose RETURNING rows the caller reads into its
// objects. It reports false when the capture must stop, with the error to
// return (nil when GORM recorded its own).
func (p *Plugin) runOrigPinned(db *gorm.DB, m *model, rows []*dbRow, orig func(*gorm.DB)) (bool, error) {
	if len(rows)*len(m.pk) > pinLimit {
		return false, fmt.Errorf("%w: %s: a statement with RETURNING over more than %d rows cannot be pinned in one piece", ErrTooManyRows, m.schema.Name, pinLimit/len(m.pk))
	}
	stmt := db.Statement
	p.pin(stmt, m, rows)
	// Built here, so that GORM's callback runs exactly this statement (a soft
	// delete's UPDATE, not a DELETE) and scans its RETURNING rows.
	stmt.SQL.Reset()
	stmt.Vars = nil
	stmt.Build(stmt.BuildClauses...)
	o := p.obsOf(db)
	begin := o.writing()
	orig(db)
	o.wrote(begin)
	return db.Error == nil, nil
}

// unpinnedMinRows is the fewest rows read for which SQLite runs an update
// unpinned (runUnpinned); below it the pin costs less than the savepoint.
const unpinnedMinRows = 32

// testHookUnpinned, set by tests only, runs on the transaction between the
// read and an unpinned update.
var testHookUnpinned func(gorm.ConnPool)

// unpinnedSavepoint names the savepoint of runUnpinned.
const unpinnedSavepoint = "auditlog_unpinned"

// runUnpinned runs an update on SQLite as the user wrote it, without the
// "key IN (the rows read)" pin, whose thousands of bind variables cost
// more than the update itself, and checks by its RETURNING rows that it
// changed exactly the rows read. SQLite has one writer, and a read
// transaction that went stale cannot write, so the same conditions in the
// same transaction match the same rows, unless they are not deterministic
// (random(), the time) or the same connection wrote in between: then the
// statement is rolled back to a savepoint and runs pinned (pinned is true),
// as every update did before, where conditions that match fewer of the rows
// read again fail the statement. A statement that fails leaves the
// transaction as it was.
func (p *Plugin) runUnpinned(db *gorm.DB, m *model, old []*dbRow) (fresh []*dbRow, pinned bool, err error) {
	stmt := db.Statement
	o := p.obsOf(db)
	exec := func(sql string) error {
		// After the savepoint, releasing it or rolling back to it must
		// happen even if the context was cancelled since.
		o.sentOne()
		_, err := stmt.ConnPool.ExecContext(afterWrite(db), sql)
		return err
	}
	if testHookUnpinned != nil {
		testHookUnpinned(stmt.ConnPool)
	}
	o.sentOne()
	if _, err := stmt.ConnPool.ExecContext(stmt.Context, "SAVEPOINT "+unpinnedSavepoint); err != nil {
		return nil, false, err
	}
	fresh, err = p.runStatement(db, m, nil, true, false)
	if err == nil && sameRows(m, old, fresh) {
		return fresh, false, exec("RELEASE SAVEPOINT " + unpinnedSavepoint)
	}
	if rerr := exec("ROLLBACK TO SAVEPOINT " + unpinnedSavepoint); rerr != nil && err == nil {
		err = rerr
	}
	if rerr := exec("RELEASE SAVEPOINT " + unpinnedSavepoint); rerr != nil && err == nil {
		err = rerr
	}
	return nil, err == nil, err
}

// sameRows reports whether the rows an update returned are exactly the rows
// read before it, by key (the update leaves keys alone).
func sameRows(m *model, old, fresh []*dbRow) bool {
	if len(old) != len(fresh) {
		return false
	}
	read := make(map[string]bool, len(old))
	for _, r := range old {
		read[r.keyText(m)] = true
	}
	for _, r := range fresh {
		k := r.keyText(m)
		if !read[k] {
			return false
		}
		delete(read, k) // each row once
	}
	return true
}

// runPinned runs the statement once per chunk of the rows read, each run
// pinned to its chunk, and returns the rows RETURNING gave when asked. A
// statement that matched no row still runs, pinned to nothing, so that its
// errors are the user's to see.
func (p *Plugin) runPinned(db *gorm.DB, m *model, rows []*dbRow, returning bool) ([]*dbRow, error) {
	return p.runStatement(db, m, rows, returning, true)
}

// runStatement runs the statement, pinned in chunks to rows when pin is
// set, and returns the rows RETURNING gave when asked.
func (p *Plugin) runStatement(db *gorm.DB, m *model, rows []*dbRow, returning, pin bool) ([]*dbRow, error) {
	stmt := db.Statement
	where, hadWhere := stmt.Clauses["WHERE"]
	defer func() {
		if hadWhere {
			stmt.Clauses["WHERE"] = where
		} else {
			delete(stmt.Clauses, "WHERE")
		}
	}()
	if returning {
		if _, ok := stmt.Clauses["RETURNING"]; !ok {
			stmt.AddClause(clause.Returning{Columns: m.readCols(stmt, false)})
			defer delete(stmt.Clauses, "RETURNING")
		}
	}
	build := func(chunk []*dbRow) {
		if hadWhere {
			stmt.Clauses["WHERE"] = where
		}
		if pin {
			p.pin(stmt, m, chunk)
		}
		stmt.SQL.Reset()
		stmt.Vars = nil
		stmt.Build(stmt.BuildClauses...)
	}
	chunk := max(1, pinLimit/len(m.pk))
	var (
		out      []*dbRow
		affected int64
	)
	o := p.obsOf(db)
	for start := 0; start == 0 || (pin && start < len(rows)); start += chunk {
		build(rows[start:min(start+chunk, len(rows))])
		if pin && start == 0 && len(stmt.Vars) > pinLimit && chunk > 1 {
			// The statement's own bind variables count against the same
			// limit: make room for them, and build the first chunk again.
			pinned := min(chunk, len(rows)) * len(m.pk)
			chunk = max(1, (pinLimit-(len(stmt.Vars)-pinned))/len(m.pk))
			build(rows[:min(chunk, len(rows))])
		}
		// Once the first chunk ran, the write has begun: the rest must
		// not be cancelled half way (afterWrite).
		ctx := stmt.Context
		if start > 0 {
			ctx = afterWrite(db)
		}
		begin := o.writing()
		if returning {
			res, err := p.writeConn(db).QueryContext(ctx, stmt.SQL.String(), stmt.Vars...)
			if err != nil {
				o.wrote(begin)
				return nil, err
			}
			got, err := scanRows(res, m, 0)
			o.wrote(begin)
			if err != nil {
				return nil, err
			}
			out = append(out, got...)
			affected += int64(len(got))
		} else {
			res, err := p.writeConn(db).ExecContext(ctx, stmt.SQL.String(), stmt.Vars...)
			o.wrote(begin)
			if err != nil {
				return nil, err
			}
			n, _ := res.RowsAffected()
			affected += n
			if stmt.Result != nil {
				stmt.Result.Result = res
			}
		}
	}
	setResult(db, affected)
	return out, nil
}

// On PostgreSQL an audited UPDATE reads its old rows in the same statement:
//
//	UPDATE t SET … FROM (SELECT cols AS _ao<i> FROM t WHERE <the statement's
//	conditions> ORDER BY pk LIMIT n FOR UPDATE) AS _auditlog_old
//	WHERE t.pk = _auditlog_old._ao<pk>
//	RETURNING _auditlog_old._ao<i>, t.col…
//
// One round trip gives the locked old rows and the stored new rows, matched
// even when the statement changes their keys. The subquery's columns carry
// a prefix so that names in SET expressions and conditions stay
// unambiguous.
const pgOld = "_auditlog_old"

func (p *Plugin) pgUpdate(db *gorm.DB, m *model, set clause.Set) ([]*dbRow, error) {
	sql, vars, checked := p.pgUpdateSQL(db, m, set)
	o := p.obsOf(db)
	begin := o.writing()
	defer o.wrote(begin)
	if !checked {
		rows, err := db.Session(&gorm.Session{NewDB: true, SkipHooks: true}).Raw(sql, vars...).Rows()
		if err != nil {
			return nil, err
		}
		return scanRows(rows, m, p.maxRows)
	}
	// The rows updated, after the check of their count (one row of nulls
	// where there are none, so that the check runs).
	sql += " SELECT " + checkedCount("(SELECT pg_catalog.count(*) FROM _au)") + " AS _achk, _au.* FROM (SELECT 1) AS _aone LEFT JOIN _au ON true"
	rows, err := db.Session(&gorm.Session{NewDB: true, SkipHooks: true}).Raw(sql, vars...).Rows()
	if err != nil {
		return nil, keyChanged(m, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	rr := newRowReader(m, cols[1:])
	holders, dest := scanTargets(len(cols))
	var out []*dbRow
	for rows.Next() {
		clear(holders)
		if err := rows.Scan(dest...); err != nil {
			return nil, keyChanged(m, err)
		}
		if holders[1+m.pk[0].index] == nil {
			continue // no row updated: the row of nulls (a key is never null)
		}
		if p.maxRows > 0 && len(out) == p.maxRows {
			return nil, errTooMany(m, p.maxRows)
		}
		r, err := rr.read(holders[1:])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, keyChanged(m, rows.Err())
}

// ErrConcurrentKeyChange is the error of an update on PostgreSQL that
// waited for the lock of a row it matched while another transaction
// changed that row's key: the update would skip the row (its read locks
// the row as it is now, the update joins on the key as it was), where
// PostgreSQL alone updates it; so it writes nothing. Run it again, as
// after a serialization failure.
var ErrConcurrentKeyChange = errors.New("auditgorm: a row the update matched took another key in a concurrent transaction while the update waited for it; nothing was written: run it again")

// movedMark begins the text whose cast to int8 fails a PostgreSQL update
// that locked more rows than it updated (checkedCount).
const movedMark = "auditgorm: rows that moved: "

// checkedCount is the count n of the rows an UPDATE of pgUpdateSQL's
// updated, checked against the rows its read locked (_al): fewer fails
// the whole statement, by a cast that cannot be folded before it runs.
func checkedCount(n string) string {
	return "CASE WHEN " + n + " = (SELECT pg_catalog.count(*) FROM _al) THEN " + n + " ELSE CAST(pg_catalog.concat('" + movedMark + "', (SELECT pg_catalog.count(*) FROM _al) - " + n + ") AS int8) END"
}

// keyChanged turns checkedCount's failure into ErrConcurrentKeyChange.
func keyChanged(m *model, err error) error {
	if err != nil && strings.Contains(err.Error(), movedMark) {
		return fmt.Errorf("%w (%s)", ErrConcurrentKeyChange, m.schema.Name)
	}
	return err
}

// pgUpdateWithEntries runs pgUpdate's UPDATE in a statement that also
// writes its entries (pgentries.go), sets the statement's result and
// returns the rows whose entries it left to the client.
func (p *Plugin) pgUpdateWithEntries(db *gorm.DB, m *model, e *pgEntries, set clause.Set, action auditlog.Action) ([]*dbRow, bool, error) {
	// GORM builds the UPDATE and its bind variables ($1…) as it would run it.
	sql, vars, _ := p.pgUpdateSQL(db, m, set)
	built := db.Session(&gorm.Session{NewDB: true, SkipHooks: true}).Raw(sql, vars...).Statement
	rows, ran, err := p.withEntries(db, m, e, built.SQL.String(), built.Vars, action, true)
	return rows, ran, keyChanged(m, err)
}

// withEntries runs write (an UPDATE or DELETE as built for PostgreSQL,
// with its bind values) in a statement that writes its entries, sets the
// statement's result, and returns the rows whose entries it left to the
// client. It runs nothing and returns false when the statement would take
// more bind variables than PostgreSQL allows.
func (p *Plugin) withEntries(db *gorm.DB, m *model, e *pgEntries, write string, vars []any, action auditlog.Action, hasOld bool) ([]*dbRow, bool, error) {
	q := pgEntrySQL{m: m, plan: e.plan, stmt: db.Statement, count: p.obsOf(db) != nil}
	sql, more, ok := q.statement(e.args, write, len(vars), action, hasOld)
	if !ok {
		return nil, false, nil
	}
	n, left, err := p.runPGEntries(db, m, e.plan, writtenTable(db.Statement), sql, append(slices.Clip(vars), more...)...)
	if err != nil {
		return nil, true, err
	}
	if p.maxRows > 0 && n > int64(p.maxRows) {
		return nil, true, errTooMany(m, p.maxRows)
	}
	setResult(db, n)
	if testHookSQLEntries != nil {
		testHookSQLEntries(n, len(left))
	}
	return left, true, nil
}

// testHookSQLEntries, set by tests, sees each statement that wrote its own
// entries.
var testHookSQLEntries func(written int64, left int)

// pgUpdateSQL is pgUpdate's statement and its bind values: the UPDATE,
// joined to its locking read; or, where the statement's conditions do not
// pin one key (pinsOneKey), the WITH clause of the locking read (_al) and
// the UPDATE (_au), to which a final SELECT that checks their counts is
// added (checkedCount), and checked is set.
func (p *Plugin) pgUpdateSQL(db *gorm.DB, m *model, set clause.Set) (sql string, vars []any, checked bool) {
	stmt := db.Statement
	cols := make([]clause.Column, len(m.fields))
	var ret, join strings.Builder
	table := stmt.Quote(clause.Table{Name: stmt.Table})
	for i, f := range m.fields {
		alias := aliasOld + strconv.Itoa(i)
		cols[i] = clause.Column{Table: clause.CurrentTable, Name: f.column, Alias: alias}
		ret.WriteString(pgOld + "." + alias + ", ")
	}
	for i, f := range m.fields {
		if i > 0 {
			ret.WriteString(", ")
		}
		ret.WriteString(table + "." + stmt.Quote(f.column))
	}
	for i, f := range m.pk {
		if i > 0 {
			join.WriteString(" AND ")
		}
		join.WriteString(table + "." + stmt.Quote(f.column) + " = " + pgOld + "." + aliasOld + strconv.Itoa(f.index))
	}
	if pinsOneKey(m, stmt) {
		// A row whose key moved meanwhile matches no more: PostgreSQL
		// alone skips it too.
		sql := "UPDATE ? ? FROM (?) AS " + pgOld + " WHERE " + join.String() + " RETURNING " + ret.String()
		return sql, []any{clause.Table{Name: stmt.Table}, set, p.lockingSubquery(db, m, cols)}, false
	}
	// The rows locked (_al) and updated (_au) are both counted
	// (checkedCount): a row whose key another transaction changed while
	// the read waited for its lock is locked as it is now, and the join
	// on the key the statement's snapshot holds finds it no more.
	sql = "WITH _al AS MATERIALIZED (?), _au AS (UPDATE ? ? FROM _al AS " + pgOld + " WHERE " + join.String() + " RETURNING " + ret.String() + ")"
	return sql, []any{p.lockingSubquery(db, m, cols), clause.Table{Name: stmt.Table}, set}, true
}

// pinsOneKey reports whether the statement's conditions hold the equality
// of its single-column key with one value (GORM's for an object:
// db.Model(&obj)), which a row whose key another transaction changed no
// longer meets, for PostgreSQL alone as for the plugin's join.
func pinsOneKey(m *model, stmt *gorm.Statement) bool {
	if len(m.pk) != 1 {
		return false
	}
	key := m.pk[0].column
	isKey := func(c any) bool {
		switch c := c.(type) {
		case string:
			return c == key || strings.HasSuffix(c, "."+key)
		case clause.Column:
			return !c.Raw && (c.Name == key || c.Name == clause.PrimaryKey)
		}
		return false
	}
	constant := func(v any) bool {
		switch v.(type) {
		case clause.Expression, *gorm.DB:
			return false
		case []byte:
			return true
		}
		// A list is IN (…) as an Eq's value.
		k := reflect.ValueOf(v).Kind()
		return k != reflect.Slice && k != reflect.Array
	}
	for _, e := range whereExprs(stmt) {
		switch e := e.(type) {
		case clause.Eq:
			if isKey(e.Column) && e.Value != nil && constant(e.Value) {
				return true
			}
		case clause.IN:
			if isKey(e.Column) && len(e.Values) == 1 && constant(e.Values[0]) {
				return true
			}
		}
	}
	return false
}

// lockingSubquery selects cols of the rows the statement's conditions match,
// in key order, locked: the pre-select, as a subquery.
func (p *Plugin) lockingSubquery(db *gorm.DB, m *model, cols []clause.Column) *gorm.DB {
	return p.query(db).Clauses(clause.Select{Columns: cols}, whereOf(whereExprs(db.Statement)), m.order,
		clause.Locking{Strength: clause.LockingStrengthUpdate}).Limit(p.maxRows + 1)
}

// changedEntries writes one entry per (old, new) pair whose audited values
// differ (every pair for a delete).
func (p *Plugin) changedEntries(db *gorm.DB, m *model, action auditlog.Action, pairs [][2]*dbRow) error {
	pairs, err := inMoveOrder(m, pairs)
	if err != nil {
		return err
	}
	w := p.newWriter(db, m, m.entryName(db), len(pairs))
	for _, pr := range pairs {
		if err := w.diff(action, pr[0], pr[1]); err != nil {
			return err
		}
	}
	return w.flush()
}

// inMoveOrder orders the changes of a statement that moves keys so that
// a row leaving a key comes before the row that takes it (2 → 3 before
// 1 → 2, whatever order the rows were read in): the entries are applied
// in their order, and the other order named the wrong rows. A cycle (two
// rows swapping keys) has no such order, and is refused.
func inMoveOrder(m *model, pairs [][2]*dbRow) ([][2]*dbRow, error) {
	oldAt := map[string]int{}
	moves := false
	olds, news := make([]string, len(pairs)), make([]string, len(pairs))
	for i, pr := range pairs {
		if pr[0] == nil || pr[1] == nil {
			return pairs, nil
		}
		olds[i], news[i] = pr[0].keyText(m), pr[1].keyText(m)
		oldAt[olds[i]] = i
		moves = moves || olds[i] != news[i]
	}
	if !moves {
		return pairs, nil
	}
	// after[j] lists the changes that take the key change j leaves.
	after := make([][]int, len(pairs))
	waits := make([]int, len(pairs))
	for i := range pairs {
		if j, ok := oldAt[news[i]]; ok && j != i && olds[i] != news[i] {
			after[j] = append(after[j], i)
			waits[i]++
		}
	}
	out := make([][2]*dbRow, 0, len(pairs))
	done := make([]bool, len(pairs))
	var emit func(i int)
	emit = func(i int) {
		done[i] = true
		out = append(out, pairs[i])
		for _, k := range after[i] {
			if waits[k]--; waits[k] == 0 && !done[k] {
				emit(k)
			}
		}
	}
	for i := range pairs {
		if !done[i] && waits[i] == 0 {
			emit(i)
		}
	}
	if len(out) != len(pairs) {
		return nil, fmt.Errorf("auditgorm: %s: the statement moved keys in a cycle (rows taking each other's keys): no order of entries replays it; change the keys in steps", m.schema.Name)
	}
	return out, nil
}

// diff adds an entry for the change from o to n, if its audited values
// differ (always for a delete). The entry names the object by its key
// before the write: a key the statement changed shows in the changes.
func (w *writer) diff(action auditlog.Action, o, n *dbRow) error {
	changes := w.m.t.Diff(action, o.vals, n.vals)
	if changes == nil {
		return nil
	}
	return w.add(action, o, n, reflect.Value{}, changes)
}

// captureDelete runs an audited DELETE (or the UPDATE a soft delete turns
// it into) and writes its entries.
func (p *Plugin) captureDelete(db *gorm.DB, m *model, orig func(*gorm.DB)) error {
	stmt := db.Statement
	for _, c := range stmt.Schema.DeleteClauses {
		stmt.AddClause(c)
	}
	if stmt.SQL.Len() > 0 {
		// A delete clause built the statement: a soft delete, which is an
		// UPDATE of its deleted-at (or flag) column.
		set, ok := setClause(stmt)
		if !ok {
			return fmt.Errorf("auditgorm: %s: a delete clause of the model built a statement that is not an UPDATE; it cannot be audited", m.schema.Name)
		}
		stmt.SQL.Reset()
		stmt.Vars = nil
		saved := stmt.BuildClauses
		stmt.BuildClauses = db.Callback().Update().Clauses
		defer func() { stmt.BuildClauses = saved }()
		if missingWhere(db) {
			return gorm.ErrMissingWhereClause
		}
		return p.runUpdate(db, m, set, auditlog.ActionDelete, orig)
	}
	stmt.AddClauseIfNotExists(clause.Delete{})
	objectKeyConds(stmt)
	stmt.AddClauseIfNotExists(clause.From{})
	if missingWhere(db) {
		return gorm.ErrMissingWhereClause
	}
	_, userReturning := stmt.Clauses["RETURNING"]
	var old []*dbRow
	var err error
	o := p.obsOf(db)
	switch {
	case userReturning:
		o.took(PathPreSelect)
		if old, err = p.preselect(db, m, nil); err != nil {
			return err
		}
		if ok, err := p.runOrigPinned(db, m, old, orig); !ok {
			return err
		}
	case builds(stmt, "RETURNING"):
		// DELETE … RETURNING: the rows as they were deleted.
		stmt.AddClause(clause.Returning{Columns: m.readCols(stmt, false)})
		defer delete(stmt.Clauses, "RETURNING")
		stmt.Build(stmt.BuildClauses...)
		e, err := p.sqlEntries(db, m, auditlog.ActionDelete)
		if err != nil {
			return err
		}
		if e != nil {
			// The statement writes the entries; old are the rows it left.
			o.took(PathInStatement)
			var ran bool
			if old, ran, err = p.withEntries(db, m, e, stmt.SQL.String(), stmt.Vars, auditlog.ActionDelete, false); err != nil {
				return err
			}
			if ran {
				break
			}
		}
		o.took(PathReturning)
		begin := o.writing()
		rows, err := p.writeConn(db).QueryContext(stmt.Context, stmt.SQL.String(), stmt.Vars...)
		if err != nil {
			o.wrote(begin)
			return err
		}
		old, err = scanRows(rows, m, p.maxRows)
		o.wrote(begin)
		if err != nil {
			return err
		}
		setResult(db, int64(len(old)))
	default:
		o.took(PathPreSelect)
		if old, err = p.preselect(db, m, nil); err != nil {
			return err
		}
		if _, err = p.runPinned(db, m, old, false); err != nil {
			return err
		}
	}
	w := p.newWriter(db, m, m.entryName(db), len(old))
	for _, o := range old {
		if err := w.add(auditlog.ActionDelete, o, o, reflect.Value{}, m.t.Deleted(o.vals)); err != nil {
			return err
		}
	}
	return w.flush()
}

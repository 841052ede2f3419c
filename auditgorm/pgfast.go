package auditgorm

import (
	"fmt"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// On PostgreSQL an audited UPDATE reads its old rows in the same statement:
//
//	UPDATE t SET … FROM (SELECT cols AS _auditlog_col… FROM t WHERE <the
//	statement's conditions> ORDER BY pk LIMIT n FOR UPDATE) AS _auditlog_old
//	WHERE t.pk = _auditlog_old._auditlog_pk
//	RETURNING _auditlog_old._auditlog_col AS col, …
//
// One round trip instead of two, with the same guarantees: the rows are
// locked before they are changed, and only the rows read are changed. The
// subquery's columns carry a prefix so that names in SET expressions and in
// the statement's conditions stay unambiguous.

const pgOld = "_auditlog_old"

// fastUpdate reports whether the statement can take the one-statement path.
func (p *Plugin) fastUpdate(db *gorm.DB, st *stmtState) bool {
	if !p.fastEligible(db, st) || len(st.set) == 0 {
		return false
	}
	if _, ok := db.Statement.Clauses["FROM"]; ok {
		return false
	}
	// Update clauses of plugins (optimistic locking, say) change the UPDATE
	// itself; only GORM's soft delete, which the subquery applies as a query
	// condition, is known to be equivalent.
	for _, c := range st.m.schema.UpdateClauses {
		if _, ok := c.(gorm.SoftDeleteUpdateClause); !ok {
			return false
		}
	}
	return true
}

// fastEligible holds the conditions shared by updates and deletes.
func (p *Plugin) fastEligible(db *gorm.DB, st *stmtState) bool {
	stmt := db.Statement
	if !p.fastPG || p.dialect != "postgres" || len(stmt.Joins) > 0 || stmt.Table != st.m.schema.Table {
		return false
	}
	_, returning := stmt.Clauses["RETURNING"]
	return !returning
}

// wrapFast replaces gorm:update or gorm:delete: statements prepared for the
// fast path run it; all others run GORM's own callback.
func (p *Plugin) wrapFast(orig func(*gorm.DB), run func(*gorm.DB, *stmtState) error) func(*gorm.DB) {
	return func(db *gorm.DB) {
		st := p.state(db)
		if st == nil || !st.fast || db.Error != nil {
			orig(db)
			return
		}
		if err := run(db, st); err != nil {
			_ = db.AddError(err)
		}
	}
}

func (p *Plugin) runFastUpdate(db *gorm.DB, st *stmtState) error {
	stmt, m := db.Statement, st.m
	cols := make([]clause.Column, len(m.fields))
	var ret, join strings.Builder
	for i, f := range m.fields {
		alias := "_auditlog_" + f.column
		cols[i] = clause.Column{Table: clause.CurrentTable, Name: f.column, Alias: alias}
		if i > 0 {
			ret.WriteString(", ")
		}
		ret.WriteString(pgOld + "." + stmt.Quote(alias) + " AS " + stmt.Quote(f.column))
	}
	for i, f := range m.pk {
		if i > 0 {
			join.WriteString(" AND ")
		}
		join.WriteString(stmt.Quote(clause.Table{Name: stmt.Table}) + "." + stmt.Quote(f.column) + " = " + pgOld + "." + stmt.Quote("_auditlog_"+f.column))
	}
	sql := "UPDATE ? ? FROM (?) AS " + pgOld + " WHERE " + join.String() + " RETURNING " + ret.String()
	return p.runReturning(db, st, sql, clause.Table{Name: stmt.Table}, st.set, p.lockingSubquery(db, st, cols))
}

// lockingSubquery selects cols of the rows the statement's conditions match,
// in key order, locked, with the soft-delete scope unless Unscoped: the
// pre-select, as a subquery.
func (p *Plugin) lockingSubquery(db *gorm.DB, st *stmtState, cols []clause.Column) *gorm.DB {
	stmt, m := db.Statement, st.m
	q := db.Session(&gorm.Session{NewDB: true, SkipHooks: true}).Model(reflect.New(m.schema.ModelType).Interface()).Table(stmt.Table)
	if stmt.Unscoped {
		q = q.Unscoped()
	}
	return q.Clauses(clause.Select{Columns: cols}, clause.Where{Exprs: st.exprs}, keyOrder(m.schema),
		clause.Locking{Strength: clause.LockingStrengthUpdate}).Limit(p.maxRows + 1)
}

// runReturning runs a statement that returns the old rows, and keeps them
// as the pre-select would have.
func (p *Plugin) runReturning(db *gorm.DB, st *stmtState, sql string, vars ...any) error {
	stmt, m := db.Statement, st.m
	dest := reflect.New(reflect.SliceOf(m.schema.ModelType))
	if err := db.Session(&gorm.Session{NewDB: true, SkipHooks: true}).Raw(sql, vars...).Scan(dest.Interface()).Error; err != nil {
		return err
	}
	rows := dest.Elem()
	if rows.Len() > p.maxRows {
		return fmt.Errorf("%w: %s: more than %d rows; narrow the WHERE or raise Config.MaxRowsPerStatement", ErrTooManyRows, m.schema.Name, p.maxRows)
	}
	db.RowsAffected = int64(rows.Len())
	if stmt.Result != nil {
		stmt.Result.RowsAffected = db.RowsAffected
	}
	return st.readOld(stmt.Context, rows)
}

// fastDelete reports whether a delete can take the one-statement path:
// DELETE … WHERE pk IN (SELECT pk … FOR UPDATE) RETURNING *, or for a soft
// delete the UPDATE above with the deleted-at assignment.
func (p *Plugin) fastDelete(db *gorm.DB, st *stmtState) bool {
	if !p.fastEligible(db, st) {
		return false
	}
	for _, c := range st.m.schema.DeleteClauses {
		if _, ok := c.(gorm.SoftDeleteDeleteClause); !ok {
			return false
		}
	}
	return true
}

func (p *Plugin) runFastDelete(db *gorm.DB, st *stmtState) error {
	stmt, m := db.Statement, st.m
	if !stmt.Unscoped {
		for _, c := range m.schema.DeleteClauses {
			if sd, ok := c.(gorm.SoftDeleteDeleteClause); ok {
				// A soft delete is an update of the deleted-at column, as GORM
				// builds it; afterDelete sees the SET clause.
				now := db.NowFunc()
				st.set = clause.Set{{Column: clause.Column{Name: sd.Field.DBName}, Value: now}}
				stmt.AddClause(st.set)
				stmt.SetColumn(sd.Field.DBName, now, true)
				return p.runFastUpdate(db, st)
			}
		}
	}
	cols := make([]clause.Column, len(m.pk))
	names := make([]string, len(m.pk))
	for i, f := range m.pk {
		cols[i] = clause.Column{Table: clause.CurrentTable, Name: f.column}
		names[i] = stmt.Quote(f.column)
	}
	sql := "DELETE FROM ? WHERE (" + strings.Join(names, ", ") + ") IN (?) RETURNING *"
	return p.runReturning(db, st, sql, clause.Table{Name: stmt.Table}, p.lockingSubquery(db, st, cols))
}

package auditgorm

import (
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditstore"
)

// tableUniques are the unique indexes of a table as its database has them,
// whatever the model's tags declare: an index a migration tool made fires
// an upsert as much as one GORM made.
type tableUniques struct {
	cols    [][]string // each index's columns, in index order
	partial bool       // a partial unique index (SQLite): REPLACE cannot be read by columns
	exprs   bool       // an index on an expression: its collisions cannot be read by columns
}

// uniqueIndexes reads the unique indexes of table from the database's
// catalog, once per table. Only MySQL's ON DUPLICATE KEY UPDATE (whatever
// its target) and SQLite's REPLACE and targetless ON CONFLICT fire on an
// index the statement does not name; PostgreSQL needs none of this.
func (p *Plugin) uniqueIndexes(db *gorm.DB, table string) (*tableUniques, error) {
	if v, ok := p.uniques.Load(table); ok {
		return v.(*tableUniques), nil
	}
	var q string
	var args []any
	schemaName, name, qualified := strings.Cut(table, ".")
	if !qualified {
		name = table
	}
	switch p.dialect {
	case auditstore.SQLite:
		// seqno orders an index's columns; a NULL name is an expression.
		if qualified {
			q = "SELECT il.name, il.partial, ii.name FROM pragma_index_list(?, ?) AS il, pragma_index_info(il.name, ?) AS ii WHERE il.\"unique\" = 1 ORDER BY il.name, ii.seqno"
			args = []any{name, schemaName, schemaName}
		} else {
			q = "SELECT il.name, il.partial, ii.name FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii WHERE il.\"unique\" = 1 ORDER BY il.name, ii.seqno"
			args = []any{name}
		}
	case auditstore.MySQL:
		q = "SELECT INDEX_NAME, 0, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX"
		var sch any
		if qualified {
			sch = schemaName
		}
		args = []any{sch, name}
	default:
		u := &tableUniques{}
		p.uniques.Store(table, u)
		return u, nil
	}
	p.obsOf(db).sentOne()
	rows, err := db.Statement.ConnPool.QueryContext(db.Statement.Context, q, args...)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: read the unique indexes of %s: %w", table, err)
	}
	defer rows.Close()
	u := &tableUniques{}
	last := ""
	for rows.Next() {
		var index string
		var partial int
		var col *string
		if err := rows.Scan(&index, &partial, &col); err != nil {
			return nil, fmt.Errorf("auditgorm: read the unique indexes of %s: %w", table, err)
		}
		u.partial = u.partial || partial != 0
		if col == nil {
			u.exprs = true
			continue
		}
		if index != last || len(u.cols) == 0 {
			u.cols = append(u.cols, nil)
			last = index
		}
		u.cols[len(u.cols)-1] = append(u.cols[len(u.cols)-1], *col)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditgorm: read the unique indexes of %s: %w", table, err)
	}
	p.uniques.Store(table, u)
	return u, nil
}

// uniqueGroups are the column groups of every unique key of the
// statement's table: the model's primary key and declared unique columns
// and indexes, and those the database has besides. An index on a column
// the model does not have, or on an expression, cannot be read by the
// values the statement sends: such a table's upserts without a target
// (every MySQL upsert) are refused rather than recorded wrong.
func (p *Plugin) uniqueGroups(db *gorm.DB, m *model) ([][]*field, error) {
	groups := append([][]*field{m.pk}, m.unique...)
	u, err := p.uniqueIndexes(db, db.Statement.Table)
	if err != nil {
		return nil, err
	}
	if u.exprs {
		return nil, fmt.Errorf("auditgorm: %s: table %s has a unique index on an expression, which an upsert without a target (or any MySQL upsert, or REPLACE) may collide with unseen; it cannot be audited", m.schema.Name, db.Statement.Table)
	}
next:
	for _, cols := range u.cols {
		g := make([]*field, len(cols))
		for i, c := range cols {
			if g[i] = m.byColumn[c]; g[i] == nil {
				return nil, fmt.Errorf("auditgorm: %s: table %s has a unique index on column %s, which the model does not have; an upsert without a target (or any MySQL upsert, or REPLACE) may collide with it unseen, and cannot be audited", m.schema.Name, db.Statement.Table, c)
			}
		}
		for _, h := range groups {
			if sameFields(g, h) {
				continue next
			}
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// sameFields reports whether a and b hold the same fields, in any order.
func sameFields(a, b []*field) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		found := false
		for _, g := range b {
			found = found || f == g
		}
		if !found {
			return false
		}
	}
	return true
}

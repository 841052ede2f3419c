package auditgorm

import (
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog/auditstore"
)

// keyGroup is the columns of one unique key an upsert may collide on.
// coll, on SQLite, holds the collation the key's index compares each
// column by (empty for the primary key and declared keys, which compare
// by the column's own): a read by the key applies it, so that it finds
// the rows the index finds ("Q" under COLLATE NOCASE).
type keyGroup struct {
	fields []*field
	coll   []string
	// cast, on PostgreSQL and MySQL, holds the expression each column's
	// value is compared as (columnCasts: "CAST(? AS numeric(10,2))";
	// empty for the value itself): the column stores a value cut or
	// rounded to its type, and the upsert collides on that value, not on
	// the one sent.
	cast []string
	// apart: another group holds the same columns under another
	// collation. SQLite 3.41 and 3.45 (glebarez's, mattn's; not 3.53)
	// found no row for "c = ? COLLATE A OR c = ? COLLATE B" that the
	// second term matches: this group's column is read as an expression
	// (+c), which keeps the terms apart.
	apart bool
}

// tableUniques are the unique indexes of a table as its database has them,
// whatever the model's tags declare: an index a migration tool made fires
// an upsert as much as one GORM made.
type tableUniques struct {
	indexes []catalogIndex
	partial bool // a partial unique index (SQLite): REPLACE cannot be read by columns
	// unreadable says why an index cannot be read by the values an insert
	// sends (on an expression, on a prefix of a column), "" if none can't.
	unreadable string
	read       time.Time // when the catalog was read
	// casts, on MySQL, are the table's column casts (columnCasts), read
	// with the indexes: one round trip for both.
	casts map[string]string
}

// uniquesMaxAge is how long MySQL's unique indexes, once read, serve
// before they are read again: the bound on how long an index another
// process added goes unseen where no statement shows it (an upsert whose
// rows send no key of the indexes known; the others are refused when
// their count or keys show a collision the reads did not foresee).
const uniquesMaxAge = 100 * time.Millisecond

type catalogIndex struct {
	cols    []string
	coll    []string
	partial bool // unique among the rows its predicate selects only
}

// uniqueIndexes reads the unique indexes of table from the database's
// catalog, once per table name (and again after the plugin saw DDL run
// through GORM: schemaChanged). Only MySQL's ON DUPLICATE KEY UPDATE
// (whatever its target) and SQLite's REPLACE and targetless ON CONFLICT
// fire on an index the statement does not name. PostgreSQL's serve to tell
// whether a join table can hold a pair twice (pairUnique): its unique
// indexes that are checked at once (not deferred) and valid.
func (p *Plugin) uniqueIndexes(db *gorm.DB, table string) (*tableUniques, error) {
	// MySQL's are kept per table (its DDL commits: no transaction takes
	// it back); SQLite's are read each time, cheaply in process, since a
	// transaction's DDL may roll back and another process's is not seen.
	if v, ok := p.uniques.Load(table); ok && p.dialect != auditstore.SQLite {
		if u := v.(*tableUniques); time.Since(u.read) < p.uniquesMaxAge {
			return u, nil
		}
	}
	var q string
	var args []any
	schemaName, name, qualified := strings.Cut(table, ".")
	if !qualified {
		name = table
	}
	switch p.dialect {
	case auditstore.SQLite:
		// The key columns of each unique index, in order; a NULL name is an
		// expression; coll is the collation the index compares by.
		if qualified {
			q = "SELECT il.name, il.partial, ii.name, ii.coll, NULL, NULL, 0 FROM pragma_index_list(?, ?) AS il, pragma_index_xinfo(il.name, ?) AS ii WHERE il.\"unique\" = 1 AND ii.key = 1 ORDER BY il.name, ii.seqno"
			args = []any{name, schemaName, schemaName}
		} else {
			q = "SELECT il.name, il.partial, ii.name, ii.coll, NULL, NULL, 0 FROM pragma_index_list(?) AS il, pragma_index_xinfo(il.name) AS ii WHERE il.\"unique\" = 1 AND ii.key = 1 ORDER BY il.name, ii.seqno"
			args = []any{name}
		}
	case auditstore.MySQL:
		// SUB_PART: the index holds a prefix of the column. After them, by
		// an empty index name, the casts of the table's columns whose
		// stored value may differ from one a Go program sends
		// (columnCasts): in the same round trip, as a join of the two
		// tables took 25 ms here instead of 0.2.
		q = `(SELECT INDEX_NAME, 0, COLUMN_NAME, NULL, SUB_PART, NULL, SEQ_IN_INDEX FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0)
UNION ALL (SELECT '', 0, COLUMN_NAME, NULL, NULL, ` + mysqlCast + `, 0 FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND DATA_TYPE IN ('datetime', 'timestamp', 'time', 'decimal', 'float', 'double'))
ORDER BY 1, 7`
		var sch any
		if qualified {
			sch = schemaName
		}
		args = []any{sch, name, sch, name}
	case auditstore.Postgres:
		// indkey holds the key columns first (indnkeyatts), then those
		// an INCLUDE adds; 0 is an expression.
		q = `SELECT ic.relname, (i.indpred IS NOT NULL)::int, a.attname, NULL::text, NULL::int8, NULL::text, 0
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
CROSS JOIN LATERAL generate_subscripts(i.indkey::int2[], 1) AS k(n)
LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = (i.indkey::int2[])[k.n] AND a.attnum > 0
WHERE i.indrelid = to_regclass(CASE WHEN $1::text IS NULL THEN quote_ident($2) ELSE quote_ident($1) || '.' || quote_ident($2) END)
AND i.indisunique AND i.indimmediate AND i.indisvalid AND k.n < i.indnkeyatts
ORDER BY ic.relname, k.n`
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
	read := time.Now()
	rows, err := db.Statement.ConnPool.QueryContext(db.Statement.Context, q, args...)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: read the unique indexes of %s: %w", table, err)
	}
	defer rows.Close()
	u := &tableUniques{read: read}
	last := ""
	for rows.Next() {
		var (
			index     string
			partial   int
			col, coll *string
			prefix    *int64
			cast      *string
			seq       int64
		)
		if err := rows.Scan(&index, &partial, &col, &coll, &prefix, &cast, &seq); err != nil {
			return nil, fmt.Errorf("auditgorm: read the unique indexes of %s: %w", table, err)
		}
		if index == "" { // a column's cast (MySQL)
			if col != nil && cast != nil {
				if u.casts == nil {
					u.casts = map[string]string{}
				}
				u.casts[strings.ToLower(*col)] = *cast
			}
			continue
		}
		u.partial = u.partial || partial != 0
		switch {
		case col == nil:
			u.unreadable = "a unique index on an expression (" + index + ")"
			continue
		case prefix != nil:
			u.unreadable = "a unique index on a prefix of column " + *col + " (" + index + ")"
			continue
		}
		if index != last || len(u.indexes) == 0 {
			u.indexes = append(u.indexes, catalogIndex{})
			last = index
		}
		ix := &u.indexes[len(u.indexes)-1]
		ix.partial = partial != 0
		ix.cols = append(ix.cols, *col)
		c := ""
		if coll != nil {
			c = *coll
		}
		ix.coll = append(ix.coll, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditgorm: read the unique indexes of %s: %w", table, err)
	}
	if p.dialect != auditstore.SQLite {
		p.uniques.Store(table, u)
	}
	return u, nil
}

// replaceClause is a conflict clause that says REPLACE; notNullReplace is
// NOT NULL's, which writes the column's default for a NULL and deletes no
// row.
var (
	replaceClause  = regexp.MustCompile(`(?i)\bON\s+CONFLICT\s+REPLACE\b`)
	notNullReplace = regexp.MustCompile(`(?i)\bNOT\s+NULL\s+ON\s+CONFLICT\s+REPLACE\b`)
)

// sqliteFact is what the plugin read of a SQLite table's definition or
// indexes (sqliteReplaces, pairUnique), and when.
type sqliteFact struct {
	read time.Time
	yes  bool
}

// sqliteCached returns the fact cache holds for table while it is younger
// than sqliteReplacesMaxAge, else reads it and keeps it, unless a
// transaction that ran DDL reads it (its DDL may roll back). schemaChanged
// forgets the caches.
func (p *Plugin) sqliteCached(db *gorm.DB, cache *tableCache, table string, read func() (bool, error)) (bool, error) {
	if v, ok := cache.Load(table); ok && time.Since(v.(sqliteFact).read) < p.sqliteReplacesMaxAge {
		return v.(sqliteFact).yes, nil
	}
	at := time.Now()
	yes, err := read()
	if err == nil && !p.inDDLTransaction(db) {
		cache.Store(table, sqliteFact{read: at, yes: yes})
	}
	return yes, err
}

// sqliteReplacesMaxAge is how long what sqliteReplaces read of a table
// serves: a statement to read it for every create and update cost SQLite's
// updates 5% (BENCHMARKS.md).
const sqliteReplacesMaxAge = time.Second

// sqliteReplaces reports whether a unique or primary-key constraint of
// the SQLite table says ON CONFLICT REPLACE in its CREATE TABLE: a plain
// INSERT or UPDATE then deletes the rows it collides with on it, as INSERT
// OR REPLACE does, and no index list tells it. What it read serves for
// sqliteReplacesMaxAge, and until DDL runs through GORM (schemaChanged).
func (p *Plugin) sqliteReplaces(db *gorm.DB, table string) (bool, error) {
	return p.sqliteCached(db, &p.sqliteTables, table, func() (bool, error) { return p.readSQLiteReplaces(db, table) })
}

// readSQLiteReplaces reads what sqliteReplaces reports.
func (p *Plugin) readSQLiteReplaces(db *gorm.DB, table string) (bool, error) {
	schemaName, name, qualified := strings.Cut(table, ".")
	if !qualified {
		name = table
	}
	conn, ctx := db.Statement.ConnPool, db.Statement.Context
	definition := func(q string, args ...any) (sql.NullString, error) {
		var ddl sql.NullString
		p.obsOf(db).sentOne()
		err := conn.QueryRowContext(ctx, q, args...).Scan(&ddl)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return ddl, fmt.Errorf("auditgorm: read the definition of %s: %w", table, err)
		}
		return ddl, nil
	}
	const where = " WHERE type = 'table' AND name = ? COLLATE NOCASE"
	var ddl sql.NullString
	var err error
	if qualified {
		ddl, err = definition("SELECT sql FROM "+quoteSQLite(schemaName)+".sqlite_master"+where, name)
	} else {
		// A name without a schema is the temp table's, else main's, as
		// SQLite resolves it; else an attached database's (read below).
		ddl, err = definition("SELECT sql FROM (SELECT 0 AS o, sql FROM temp.sqlite_master"+where+" UNION ALL SELECT 1, sql FROM main.sqlite_master"+where+") ORDER BY o LIMIT 1", name, name)
		if err == nil && !ddl.Valid {
			ddl, err = p.attachedDefinition(db, name, definition)
		}
	}
	if err != nil {
		return false, err
	}
	code := sqlCode(ddl.String)
	return replaceClause.MatchString(notNullReplace.ReplaceAllString(code, "")), nil
}

// attachedDefinition reads the definition of a table that is neither a
// temp nor a main one from the first attached database that has it, in
// the order they were attached, as SQLite resolves its name.
func (p *Plugin) attachedDefinition(db *gorm.DB, name string, definition func(string, ...any) (sql.NullString, error)) (sql.NullString, error) {
	p.obsOf(db).sentOne()
	rows, err := db.Statement.ConnPool.QueryContext(db.Statement.Context, "SELECT name FROM pragma_database_list WHERE seq > 1 ORDER BY seq")
	if err != nil {
		return sql.NullString{}, fmt.Errorf("auditgorm: list the attached databases: %w", err)
	}
	var schemas []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return sql.NullString{}, fmt.Errorf("auditgorm: list the attached databases: %w", err)
		}
		schemas = append(schemas, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sql.NullString{}, fmt.Errorf("auditgorm: list the attached databases: %w", err)
	}
	for _, s := range schemas {
		ddl, err := definition("SELECT sql FROM "+quoteSQLite(s)+".sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", name)
		if err != nil || ddl.Valid {
			return ddl, err
		}
	}
	return sql.NullString{}, nil
}

// sqlCode returns a SQLite statement with its comments and quoted
// literals ('…', "…", `…`, […]) each replaced by a space: the words a
// default, a CHECK's string or a comment holds are not clauses, and a
// comment between a clause's words does not split it.
func sqlCode(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		end := -1
		switch {
		case strings.HasPrefix(q[i:], "--"):
			if end = strings.IndexByte(q[i:], '\n'); end < 0 {
				end = len(q) - i
			}
		case strings.HasPrefix(q[i:], "/*"):
			if end = strings.Index(q[i+2:], "*/"); end < 0 {
				end = len(q) - i
			} else {
				end += 4
			}
		case q[i] == '\'' || q[i] == '"' || q[i] == '`' || q[i] == '[':
			closer := q[i]
			if closer == '[' {
				closer = ']'
			}
			// A doubled quote inside is the quote itself: the literal
			// ends at the first closer not followed by another.
			j := i + 1
			for j < len(q) && (q[j] != closer || j+1 < len(q) && q[j+1] == closer && closer != ']') {
				if q[j] == closer {
					j++
				}
				j++
			}
			end = min(j+1, len(q)) - i
		}
		if end < 0 {
			b.WriteByte(q[i])
			continue
		}
		b.WriteByte(' ')
		i += end - 1
	}
	return b.String()
}

// sqliteUpdateReplaces refuses a plain UPDATE of a SQLite table whose
// unique or primary-key constraint says ON CONFLICT REPLACE when it assigns
// a column of a unique key: it would delete the rows it collides with, as
// UPDATE OR REPLACE does, which nothing it returns tells.
func (p *Plugin) sqliteUpdateReplaces(db *gorm.DB, m *model, set clause.Set) error {
	table := writtenTable(db.Statement)
	replaces, err := p.sqliteReplaces(db, table)
	if err != nil || !replaces {
		return err
	}
	u, err := p.uniqueIndexes(db, table)
	if err != nil {
		return err
	}
	keyed := func(col string) bool {
		for _, f := range m.pk {
			if strings.EqualFold(f.column, col) {
				return true
			}
		}
		for _, ix := range u.indexes {
			for _, c := range ix.cols {
				if strings.EqualFold(c, col) {
					return true
				}
			}
		}
		return u.unreadable != ""
	}
	for _, a := range set {
		if keyed(a.Column.Name) {
			return fmt.Errorf("auditgorm: %s: table %s has a unique constraint ON CONFLICT REPLACE, and this update assigns %s of a unique key: it would delete the rows it collides with, which the statement does not tell, so it cannot be audited; delete those rows first, or update with UPDATE OR ABORT (Clauses(clause.Update{Modifier: \"OR ABORT\"}))", m.schema.Name, table, a.Column.Name)
		}
	}
	return nil
}

// schemaChanged forgets the unique indexes read so far (MySQL's), and what
// SQLite's tables replace, after a statement run through GORM that may
// change them, one that names CREATE, DROP, ALTER or RENAME anywhere
// (migrations, AutoMigrate; after a comment, or among several statements):
// the next statement that needs them reads them again. DDL another process
// runs is seen when what was read is older than uniquesMaxAge (MySQL) or
// sqliteReplacesMaxAge.
func (p *Plugin) schemaChanged(db *gorm.DB) {
	if db.Statement == nil || db.Statement.SQL.Len() == 0 {
		return
	}
	if ddlRE.MatchString(db.Statement.SQL.String()) {
		p.uniques.Clear()
		p.casts.Clear()
		p.sqliteTables.Clear()
		p.sqlitePairs.Clear()
		if _, inTx := db.Statement.ConnPool.(gorm.TxCommitter); inTx {
			// A SQLite transaction's DDL may roll back: what its own
			// statements read of the schema is not kept (sqliteReplaces).
			p.ddlTx.Store(&ddlConn{db.Statement.ConnPool})
		}
	}
}

// ddlConn is the transaction that last ran DDL through GORM.
type ddlConn struct{ pool gorm.ConnPool }

// inDDLTransaction reports whether db's statement runs in the transaction
// that last ran DDL through GORM.
func (p *Plugin) inDDLTransaction(db *gorm.DB) (same bool) {
	c := p.ddlTx.Load()
	if c == nil {
		return false
	}
	defer func() {
		if recover() != nil {
			same = true // incomparable pools: assume the worst, keep nothing
		}
	}()
	return c.pool == db.Statement.ConnPool
}

var ddlRE = regexp.MustCompile(`(?i)\b(?:CREATE|DROP|ALTER|RENAME)\b`)

// uniqueGroups are the column groups of every unique key of the
// statement's table: its primary key and, where the catalog tells them,
// the table's unique indexes as the database has them (an index the tags
// declare that the table lacks fires nothing); else the model's declared
// unique columns and indexes. An index on a column the model does not
// have, on an expression or on a prefix cannot be read by the values the
// statement sends: such a table's upserts without a target (every MySQL
// upsert) are refused rather than recorded wrong.
func (p *Plugin) uniqueGroups(db *gorm.DB, m *model) ([]keyGroup, error) {
	groups := []keyGroup{{fields: m.pk}}
	if p.dialect != auditstore.SQLite && p.dialect != auditstore.MySQL {
		for _, g := range m.unique {
			groups = append(groups, keyGroup{fields: g})
		}
		return groups, nil
	}
	table := writtenTable(db.Statement)
	u, err := p.uniqueIndexes(db, table)
	if err != nil {
		return nil, err
	}
	if u.unreadable != "" {
		return nil, fmt.Errorf("auditgorm: %s: table %s has %s, which an upsert without a target (or any MySQL upsert, or REPLACE) may collide with unseen; it cannot be audited", m.schema.Name, table, u.unreadable)
	}
next:
	for _, ix := range u.indexes {
		g := keyGroup{fields: make([]*field, len(ix.cols))}
		for i, c := range ix.cols {
			if g.fields[i] = m.columnNamed(c); g.fields[i] == nil {
				return nil, fmt.Errorf("auditgorm: %s: table %s has a unique index on column %s, which the model does not have; an upsert without a target (or any MySQL upsert, or REPLACE) may collide with it unseen, and cannot be audited", m.schema.Name, table, c)
			}
		}
		if p.dialect == auditstore.SQLite {
			g.coll = ix.coll
		}
		if sameFields(g.fields, m.pk) && groups[0].coll == nil {
			// The primary key (SQLite's autoindex of a composite or text
			// one, MySQL's PRIMARY): read by its index's collation. Another
			// index on its columns with another collation is a key of its
			// own, below.
			groups[0].coll = inOrderOf(m.pk, g)
			continue
		}
		for _, h := range groups {
			if sameFields(g.fields, h.fields) {
				if slices.Equal(inOrderOf(h.fields, g), h.coll) {
					continue next
				}
				g.apart = true
			}
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// tableCasts are the casts of a table's columns (columnCasts), and when
// the catalog was read.
type tableCasts struct {
	casts map[string]string // by column name, lower case
	read  time.Time
}

// columnCasts gives, by column name (lower case), the SQL expression
// ("?" for the value) a value for a column of table is compared as, so
// that it compares as the column stores it: on PostgreSQL a cast to a
// type with a modifier (numeric(10,2), timestamp(3), varchar(n), which
// cuts trailing spaces), to real, or to a domain (over such a type); on
// MySQL a cast to a time or datetime (at its precision), a decimal, a
// float, and a float or double with a scale rounded to it. MySQL's are
// read with the unique indexes (uniqueIndexes), PostgreSQL's apart, only
// for an upsert on a column that is not an integer, and kept as long
// (uniquesMaxAge).
func (p *Plugin) columnCasts(db *gorm.DB, table string) (map[string]string, error) {
	if p.dialect == auditstore.MySQL {
		u, err := p.uniqueIndexes(db, table)
		if err != nil {
			return nil, err
		}
		return u.casts, nil
	}
	if v, ok := p.casts.Load(table); ok {
		if c := v.(*tableCasts); time.Since(c.read) < p.uniquesMaxAge {
			return c.casts, nil
		}
	}
	var sch any
	schemaName, name, qualified := strings.Cut(table, ".")
	if qualified {
		sch = schemaName
	} else {
		name = table
	}
	const q = `SELECT a.attname, 'CAST(? AS ' || format_type(a.atttypid, a.atttypmod) || ')'
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass(CASE WHEN $1::text IS NULL THEN quote_ident($2) ELSE quote_ident($1) || '.' || quote_ident($2) END)
AND a.attnum > 0 AND NOT a.attisdropped AND (a.atttypmod >= 0 OR a.atttypid = 'float4'::regtype OR t.typtype = 'd')`
	p.obsOf(db).sentOne()
	read := time.Now()
	rows, err := db.Statement.ConnPool.QueryContext(db.Statement.Context, q, sch, name)
	if err != nil {
		return nil, fmt.Errorf("auditgorm: read the column types of %s: %w", table, err)
	}
	defer rows.Close()
	casts := map[string]string{}
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			return nil, fmt.Errorf("auditgorm: read the column types of %s: %w", table, err)
		}
		casts[strings.ToLower(col)] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditgorm: read the column types of %s: %w", table, err)
	}
	p.casts.Store(table, &tableCasts{casts: casts, read: read})
	return casts, nil
}

// forgetTable drops what the plugin read of table's catalog (its unique
// indexes, its column casts), so that the next statement reads it again:
// after a statement showed the catalog had changed, or a read by its
// casts failed (a column's type changed by a tool that is not GORM).
func (p *Plugin) forgetTable(table string) {
	p.uniques.Delete(table)
	p.casts.Delete(table)
}

// mysqlCast is the expression of a MySQL column (information_schema.COLUMNS)
// of the types columnCasts names; NULL for a double without a scale,
// which holds what a Go float64 sends.
const mysqlCast = `CASE WHEN DATA_TYPE IN ('datetime', 'timestamp') THEN CONCAT('CAST(? AS DATETIME(', DATETIME_PRECISION, '))')
WHEN DATA_TYPE = 'time' THEN CONCAT('CAST(? AS TIME(', DATETIME_PRECISION, '))')
WHEN DATA_TYPE = 'decimal' THEN CONCAT('CAST(? AS DECIMAL(', NUMERIC_PRECISION, ',', NUMERIC_SCALE, '))')
WHEN DATA_TYPE = 'float' AND NUMERIC_SCALE IS NOT NULL THEN CONCAT('CAST(ROUND(?, ', NUMERIC_SCALE, ') AS FLOAT)')
WHEN DATA_TYPE = 'float' THEN 'CAST(? AS FLOAT)'
WHEN NUMERIC_SCALE IS NOT NULL THEN CONCAT('ROUND(?, ', NUMERIC_SCALE, ')') END`

// withCasts sets the casts of groups (keyGroup.cast) on PostgreSQL and
// MySQL where a column is not an integer or a boolean (whose values are
// stored as sent): no catalog read for those.
func (p *Plugin) withCasts(db *gorm.DB, m *model, groups []keyGroup) error {
	if p.dialect != auditstore.Postgres && p.dialect != auditstore.MySQL {
		return nil
	}
	var (
		casts map[string]string
		read  bool
	)
	for gi := range groups {
		g := &groups[gi]
		for i, f := range g.fields {
			if f.kind == schema.Int || f.kind == schema.Uint || f.kind == schema.Bool {
				continue
			}
			if !read {
				var err error
				if casts, err = p.columnCasts(db, writtenTable(db.Statement)); err != nil {
					return err
				}
				read = true
			}
			if c := casts[strings.ToLower(f.column)]; c != "" {
				if g.cast == nil {
					g.cast = make([]string, len(g.fields))
				}
				g.cast[i] = c
			}
		}
	}
	return nil
}

// inOrderOf returns g's collations in the order of fields, which hold the
// same fields as g's (nil where g has none).
func inOrderOf(fields []*field, g keyGroup) []string {
	if g.coll == nil {
		return nil
	}
	out := make([]string, len(fields))
	for i, f := range g.fields {
		if j := slices.Index(fields, f); j >= 0 {
			out[j] = g.coll[i]
		}
	}
	return out
}

// collationOf returns the collations of the unique index on exactly the
// fields g (in g's order), nil if none has one of its own.
func (u *tableUniques) collationOf(m *model, g []*field) []string {
	for _, ix := range u.indexes {
		kg := keyGroup{fields: make([]*field, len(ix.cols)), coll: ix.coll}
		for i, c := range ix.cols {
			kg.fields[i] = m.columnNamed(c)
		}
		if sameFields(kg.fields, g) {
			return inOrderOf(g, kg)
		}
	}
	return nil
}

// columnNamed returns the field of the column named name, compared as
// SQLite and MySQL compare column names: without regard to case.
func (m *model) columnNamed(name string) *field {
	if f := m.byColumn[name]; f != nil {
		return f
	}
	for _, f := range m.fields {
		if strings.EqualFold(f.column, name) {
			return f
		}
	}
	return nil
}

// sameFields reports whether a and b hold the same fields, in any order.
func sameFields(a, b []*field) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !slices.Contains(b, f) {
			return false
		}
	}
	return true
}

// keyCond is the condition "the group's columns equal one of tuples",
// each column compared by the group's collation where it has one.
func keyCond(table string, g keyGroup, tuples [][]any) clause.Expression {
	if len(g.cast) > 0 {
		cast := make([][]any, len(tuples))
		for t, tuple := range tuples {
			cast[t] = make([]any, len(tuple))
			for i, v := range tuple {
				cast[t][i] = v
				if i < len(g.cast) && g.cast[i] != "" {
					cast[t][i] = clause.Expr{SQL: g.cast[i], Vars: []any{v}}
				}
			}
		}
		tuples = cast
	}
	names := make([]string, len(g.fields))
	collated := false
	for i, f := range g.fields {
		names[i] = f.column
		collated = collated || (i < len(g.coll) && g.coll[i] != "")
	}
	if !collated {
		return tuplesIn(table, names, tuples)
	}
	col := "?"
	if g.apart {
		col = "+?"
	}
	if len(names) == 1 && len(tuples) > 1 {
		// One column: its collation applies to the whole IN list.
		vals := make([]any, len(tuples))
		for i, t := range tuples {
			vals[i] = t[0]
		}
		return clause.Expr{SQL: col + " COLLATE " + quoteSQLite(g.coll[0]) + " IN ?", Vars: []any{clause.Column{Table: table, Name: names[0]}, vals}}
	}
	ors := make([]clause.Expression, len(tuples))
	for t, tuple := range tuples {
		eqs := make([]clause.Expression, len(names))
		for i, c := range names {
			sql := col + " = ?"
			if i < len(g.coll) && g.coll[i] != "" {
				sql = col + " = ? COLLATE " + quoteSQLite(g.coll[i])
			}
			eqs[i] = clause.Expr{SQL: sql, Vars: []any{clause.Column{Table: table, Name: c}, tuple[i]}}
		}
		ors[t] = clause.And(eqs...)
	}
	return clause.Or(ors...)
}

// quoteSQLite quotes a SQLite identifier: a schema, a collation name.
func quoteSQLite(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

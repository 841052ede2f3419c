// Package auditstore reads, writes and maintains the auditlog_entries table
// on SQLite, PostgreSQL and MariaDB/MySQL through database/sql: versioned
// migrations, multi-row inserts, keyset-paginated queries and history.
package auditstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// Dialect names the SQL dialect of a database.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
)

// ParseDialect accepts a dialect or driver name: "sqlite", "sqlite3",
// "postgres", "postgresql", "pgx", "mysql" or "mariadb".
func ParseDialect(name string) (Dialect, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pgx":
		return Postgres, nil
	case "mysql", "mariadb":
		return MySQL, nil
	}
	return "", fmt.Errorf("auditstore: unsupported dialect %q: use sqlite, postgres or mysql", name)
}

func (d Dialect) valid() error {
	switch d {
	case SQLite, Postgres, MySQL:
		return nil
	}
	return fmt.Errorf("auditstore: unsupported dialect %q: use auditstore.SQLite, Postgres or MySQL", string(d))
}

// placeholder returns the n-th (1-based) bind variable.
func (d Dialect) placeholder(b *strings.Builder, n int) {
	if d == Postgres {
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
		return
	}
	b.WriteByte('?')
}

// Placeholder is bind variable n (from 1) as the dialect writes it: $n on
// PostgreSQL, ? elsewhere.
func (d Dialect) Placeholder(n int) string {
	var b strings.Builder
	d.placeholder(&b, n)
	return b.String()
}

// placeholders is n bind variables separated by commas, numbered from
// first on PostgreSQL.
func (d Dialect) placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		d.placeholder(&b, first+i)
	}
	return b.String()
}

// DBTX is what the store needs of a connection: *sql.DB, *sql.Tx,
// *sql.Conn and GORM's ConnPool all satisfy it.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Table is the name of the entries table.
const Table = "auditlog_entries"

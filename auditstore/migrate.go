package auditstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// A migration is one versioned step of the entries table's schema.
type migration struct {
	version int
	name    string
	up      map[Dialect][]string
}

// migrationFiles holds the statements of each migration for each dialect:
// migrations/<dialect>/NNNN_<what>.sql, one file per version, NNNN the
// version. Migrate runs the statements as they are written, and MigrationSQL
// (`auditlog migrate --print`) shows them as they are written.
//
// Version 1 creates the table and the indexes that serve the real queries,
// newest first by (timestamp, id): one object's history (by object_id for
// integer keys, object_pk for the rest), one model, one actor, one
// correlation id, and the whole list. Where the database has partial
// indexes, an entry only enters the indexes it can be found by, which keeps
// inserts cheap. Version 2 adds the action index: without it, an action that
// few entries have is found by reading the whole table. It is CREATE INDEX
// IF NOT EXISTS, so that an index built by hand beforehand (CREATE INDEX
// CONCURRENTLY on a large PostgreSQL table) is kept; MySQL has no such
// clause, and applyMigrations skips an index that exists. Version 3 adds
// the tables of the Merkle tree that seals the entries (package auditseal):
// its leaves, its stored hashes, its signed checkpoints and the sealer's
// position. Version 4 adds the relay's positions (package auditrelay): one
// row per destination, with the highest entry id relayed and the ids below
// it not yet seen committed. Version 5 saves the sealer's gaps beside its
// position, so that a sealer that starts again still looks into the gaps
// below its position (NULL: a row saved before, whose gaps are rebuilt),
// the identity of each relay's destination (a stream, by its creation),
// so that a relay refuses another destination under the same name, and the
// flushes' prune records, which the sealer signs, so that a leaf marked
// pruned by hand does not pass for one a flush pruned.
//
//go:embed migrations/*/*.sql
var migrationFiles embed.FS

// migrationNames names the versions in order, from version 1; the name is
// recorded with the version.
var migrationNames = []string{
	"create auditlog_entries",
	"index entries by action",
	"create seal tables",
	"create relay state",
	"save seal and relay state",
}

// migrations are read once, when the package is initialised: the files are
// part of the program, so a malformed one is a defect of the build that any
// test of the package reports.
var migrations = func() []migration {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		panic(err)
	}
	return ms
}()

func loadMigrations(fsys fs.FS) ([]migration, error) {
	ms := make([]migration, len(migrationNames))
	for i, name := range migrationNames {
		ms[i] = migration{version: i + 1, name: name, up: map[Dialect][]string{}}
	}
	for _, d := range []Dialect{SQLite, Postgres, MySQL} {
		dir := "migrations/" + string(d)
		files, err := fs.ReadDir(fsys, dir) // sorted by name
		if err != nil {
			return nil, fmt.Errorf("auditstore: migrations: %w", err)
		}
		if len(files) != len(ms) {
			return nil, fmt.Errorf("auditstore: migrations: %s has %d files, want one for each of %d versions", dir, len(files), len(ms))
		}
		for i, f := range files {
			path := dir + "/" + f.Name()
			if !strings.HasPrefix(f.Name(), fmt.Sprintf("%04d_", i+1)) {
				return nil, fmt.Errorf("auditstore: migrations: %s: want version %04d here", path, i+1)
			}
			src, err := fs.ReadFile(fsys, path)
			if err != nil {
				return nil, fmt.Errorf("auditstore: migrations: %w", err)
			}
			stmts, err := splitStatements(string(src))
			if err != nil {
				return nil, fmt.Errorf("auditstore: migrations: %s: %w", path, err)
			}
			if d == MySQL {
				for _, stmt := range stmts {
					if err := mysqlRepeatable(stmt); err != nil {
						return nil, fmt.Errorf("auditstore: migrations: %s: %w", path, err)
					}
				}
			}
			ms[i].up[d] = stmts
		}
	}
	return ms, nil
}

// splitStatements returns the statements of a migration file. The file is
// its statements, each ended by ";" and a newline, separated by one blank
// line: the form in which `auditlog migrate --print` shows statements, so
// that the file appears in its output unchanged.
func splitStatements(src string) ([]string, error) {
	stmts := strings.Split(strings.TrimSuffix(src, ";\n"), ";\n\n")
	if strings.Join(stmts, ";\n\n")+";\n" != src {
		return nil, errors.New(`want statements each ended by ";" and a newline, separated by one blank line`)
	}
	for _, s := range stmts {
		if s == "" || strings.TrimSpace(s) != s || strings.Contains(s, ";\n") {
			return nil, fmt.Errorf("malformed statement %q: want statements each ended by \";\" and a newline, separated by one blank line", s)
		}
	}
	return stmts, nil
}

const migrationsTable = "auditlog_migrations"

// MigrationSQL returns the statements that Migrate runs on an empty
// database, for review or for applying by hand.
func MigrationSQL(d Dialect) ([]string, error) {
	if err := d.valid(); err != nil {
		return nil, err
	}
	out := []string{createMigrationsTable(d)}
	for _, m := range migrations {
		out = append(out, m.up[d]...)
		out = append(out, fmt.Sprintf("INSERT INTO %s (version, name, applied_at) VALUES (%d, '%s', CURRENT_TIMESTAMP)", migrationsTable, m.version, m.name))
	}
	return out, nil
}

func createMigrationsTable(d Dialect) string {
	ts := "TIMESTAMP"
	if d == MySQL {
		ts = "DATETIME(6)"
	}
	return "CREATE TABLE IF NOT EXISTS " + migrationsTable + " (version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at " + ts + " NOT NULL)"
}

// Migrate brings the entries table to the latest version. It is idempotent
// and safe to run concurrently from several processes: it holds a lock for
// the duration (a write transaction on SQLite, an advisory lock on
// PostgreSQL, a named lock on MySQL).
func Migrate(ctx context.Context, db *sql.DB, d Dialect) error {
	if ctx == nil {
		return errNilContext
	}
	if db == nil {
		return errors.New("auditstore: Migrate: db is nil")
	}
	if err := d.valid(); err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("auditstore: migrate: connect: %w", err)
	}
	defer conn.Close()
	switch d {
	case SQLite:
		return migrateSQLite(ctx, conn)
	case Postgres:
		return migratePostgres(ctx, conn, false, DefaultPartitionsAhead)
	default:
		return migrateMySQL(ctx, conn)
	}
}

func migrateSQLite(ctx context.Context, conn *sql.Conn) (err error) {
	// BEGIN IMMEDIATE takes the write lock up front, so a second process waits
	// (busy_timeout) and then sees the migrations already applied.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("auditstore: migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_, rbErr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			err = errors.Join(err, rbErr)
			return
		}
		if _, cErr := conn.ExecContext(ctx, "COMMIT"); cErr != nil {
			err = fmt.Errorf("auditstore: migrate: commit: %w", cErr)
		}
	}()
	return applyMigrations(ctx, conn, SQLite, false)
}

// migratePostgres applies the migrations; with partitioned, migration 1
// creates the partitioned table (MigrateWith on an empty database).
// Without, a table that is partitioned already gets its months up to ahead
// after the current one.
func migratePostgres(ctx context.Context, conn *sql.Conn, partitioned bool, ahead int) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("auditstore: migrate: begin: %w", err)
	}
	// The lock is per database and per schema search path; DDL in PostgreSQL is
	// transactional, so a failed migration leaves nothing behind.
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.auditlog_migrate'))"); err != nil {
		return errors.Join(fmt.Errorf("auditstore: migrate: lock: %w", err), tx.Rollback())
	}
	if err := applyMigrations(ctx, tx, Postgres, partitioned); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if !partitioned {
		kind, err := tableKind(ctx, tx)
		if err == nil && kind == "p" {
			_, _, err = ensurePartitions(ctx, tx, time.Now(), ahead)
		}
		if err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("auditstore: migrate: commit: %w", err)
	}
	return nil
}

func migrateMySQL(ctx context.Context, conn *sql.Conn) (err error) {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(CONCAT('auditlog_migrate.', DATABASE()), 60)").Scan(&got); err != nil {
		return fmt.Errorf("auditstore: migrate: lock: %w", err)
	}
	if got.Int64 != 1 {
		return errors.New("auditstore: migrate: another process held the migration lock for 60s; try again")
	}
	defer func() {
		var released sql.NullInt64
		if rErr := conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(CONCAT('auditlog_migrate.', DATABASE()))").Scan(&released); rErr != nil {
			err = errors.Join(err, fmt.Errorf("auditstore: migrate: unlock: %w", rErr))
		}
	}()
	return applyMigrations(ctx, conn, MySQL, false)
}

type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// applyMigrations applies the migrations not yet recorded. With
// partitioned (PostgreSQL), migration 1 creates the partitioned table
// (partitionedTableSQL) in place of the file's.
func applyMigrations(ctx context.Context, db execQuerier, d Dialect, partitioned bool) error {
	if _, err := db.ExecContext(ctx, createMigrationsTable(d)); err != nil {
		return fmt.Errorf("auditstore: migrate: create %s: %w", migrationsTable, err)
	}
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		// On MySQL a migration may have stopped half way, its version
		// unrecorded: every statement is one that can run again
		// (mysqlRepeatable), and the version is recorded only after all of
		// them succeeded.
		stmts := m.up[d]
		if partitioned && m.version == 1 {
			stmts = partitionedTableSQL
		}
		for _, stmt := range stmts {
			if query, args, ok := mysqlExisting(stmt); ok && d == MySQL {
				exists, err := countsAny(ctx, db, query, args)
				if err != nil {
					return fmt.Errorf("auditstore: migration %d (%s): %w", m.version, m.name, err)
				}
				if exists {
					continue
				}
			}
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("auditstore: migration %d (%s): %w", m.version, m.name, err)
			}
		}
		var b strings.Builder
		b.WriteString("INSERT INTO " + migrationsTable + " (version, name, applied_at) VALUES (")
		d.placeholder(&b, 1)
		b.WriteString(", ")
		d.placeholder(&b, 2)
		b.WriteString(", ")
		d.placeholder(&b, 3)
		b.WriteString(")")
		if _, err := db.ExecContext(ctx, b.String(), m.version, m.name, encodeTime(d, time.Now())); err != nil {
			return fmt.Errorf("auditstore: record migration %d: %w", m.version, err)
		}
	}
	return nil
}

// mysqlRepeatable accepts the statements that a MySQL migration may hold.
// DDL on MySQL and MariaDB is not transactional, so a migration that failed
// half way leaves its first statements applied; the next Migrate runs the
// migration again from its start, and each statement must then do nothing
// where it was done: CREATE TABLE IF NOT EXISTS, or a CREATE TABLE, CREATE
// INDEX or ALTER TABLE … ADD COLUMN that applyMigrations skips where the
// table, index or column exists (MySQL has no CREATE INDEX IF NOT EXISTS,
// nor ADD COLUMN IF NOT EXISTS, which MariaDB has). A statement of another kind needs a look-up
// of its own in mysqlExisting first.
func mysqlRepeatable(stmt string) error {
	if strings.HasPrefix(stmt, "CREATE TABLE IF NOT EXISTS ") {
		return nil
	}
	if _, _, ok := mysqlExisting(stmt); ok {
		return nil
	}
	first, _, _ := strings.Cut(stmt, "\n")
	return fmt.Errorf("%q: a MySQL migration may only hold CREATE TABLE, CREATE INDEX name ON table and ALTER TABLE table ADD COLUMN name, which a run after a failed one can repeat", first)
}

// mysqlExisting returns the catalog look-up that counts the table or the
// index that a CREATE TABLE name or CREATE INDEX name ON table statement
// creates.
func mysqlExisting(stmt string) (query string, args []any, ok bool) {
	f := strings.Fields(stmt)
	switch {
	case len(f) >= 3 && f[0] == "CREATE" && f[1] == "TABLE" && f[2] != "IF":
		table, _, _ := strings.Cut(f[2], "(")
		return "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", []any{table}, true
	case len(f) >= 5 && f[0] == "CREATE" && f[1] == "INDEX" && f[3] == "ON":
		table, _, _ := strings.Cut(f[4], "(")
		return "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?", []any{table, f[2]}, true
	case len(f) >= 6 && f[0] == "ALTER" && f[1] == "TABLE" && f[3] == "ADD" && f[4] == "COLUMN":
		return "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?", []any{f[2], f[5]}, true
	}
	return "", nil, false
}

// countsAny reports whether mysqlExisting's look-up counts anything.
func countsAny(ctx context.Context, db execQuerier, query string, args []any) (bool, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("look up %v: %w", args, err)
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return false, fmt.Errorf("look up %v: %w", args, err)
		}
	}
	return n > 0, rows.Err()
}

func appliedVersions(ctx context.Context, db execQuerier) (map[int]bool, error) {
	rows, err := db.QueryContext(ctx, "SELECT version FROM "+migrationsTable)
	if err != nil {
		return nil, fmt.Errorf("auditstore: read %s: %w", migrationsTable, err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("auditstore: read %s: %w", migrationsTable, err)
		}
		out[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditstore: read %s: %w", migrationsTable, err)
	}
	return out, nil
}

// LatestVersion is the schema version that Migrate brings a database to.
func LatestVersion() int { return migrations[len(migrations)-1].version }

// ErrNotMigrated is wrapped by CheckMigrated's error for a database whose
// audit tables are missing or older than this program's.
var ErrNotMigrated = errors.New("auditstore: the audit tables are not migrated")

// CheckMigrated reports whether db holds the audit tables at the version
// Migrate brings them to, with an error wrapping ErrNotMigrated that says
// to migrate where it does not: a command on a database without them would
// fail on its first query with the database's own words ("relation
// auditlog_entries does not exist"), and a server would answer every page
// with an error. Tables made without Migrate's record (auditlog_migrations)
// pass if auditlog_entries is there, and so do tables whose record the
// user may not read (an auditor's role that may read the entries alone).
func CheckMigrated(ctx context.Context, db DBTX, d Dialect) error {
	if ctx == nil {
		return errNilContext
	}
	if err := d.valid(); err != nil {
		return err
	}
	has := func(table string) (bool, error) { return tableExists(ctx, db, d, table) }
	recorded, err := has(migrationsTable)
	if err != nil {
		return err
	}
	if !recorded {
		switch entries, err := has(Table); {
		case err != nil:
			return err
		case !entries:
			return fmt.Errorf("%w: the database has no %s table: migrate it first (auditlog migrate, or auditgorm.Migrate)", ErrNotMigrated, Table)
		}
		return nil
	}
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		// A user that may read the entries and not the record (an
		// auditor's read-only role): the entries table must do.
		entries, herr := has(Table)
		if herr != nil || !entries {
			return err
		}
		return nil
	}
	for _, m := range migrations {
		if !applied[m.version] {
			return fmt.Errorf("%w: the audit tables lack version %d (%s) of %d: migrate them (auditlog migrate, or auditgorm.Migrate)", ErrNotMigrated, m.version, m.name, LatestVersion())
		}
	}
	return nil
}

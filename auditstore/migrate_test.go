package auditstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// releasedSQL returns the statements that `auditlog migrate --print` showed
// for the named database at schema version 2, before the migrations were
// kept as files: what existing installations ran.
func releasedSQL(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "migrate-v2-"+name+".sql"))
	if err != nil {
		t.Fatal(err)
	}
	stmts := strings.Split(strings.TrimSuffix(string(b), ";\n\n"), ";\n\n")
	if len(stmts) < 3 {
		t.Fatalf("testdata for %s has %d statements", name, len(stmts))
	}
	return stmts
}

// throughVersion returns the statements up to and including the one that
// records version v.
func throughVersion(t *testing.T, stmts []string, v int) []string {
	t.Helper()
	record := fmt.Sprintf("INSERT INTO auditlog_migrations (version, name, applied_at) VALUES (%d, ", v)
	for i, s := range stmts {
		if strings.HasPrefix(s, record) {
			return stmts[:i+1]
		}
	}
	t.Fatalf("no statement records version %d", v)
	return nil
}

func execAll(t *testing.T, db *sql.DB, stmts []string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

type migrationRow struct{ version, name, appliedAt string }

func migrationRows(t *testing.T, db *sql.DB) []migrationRow {
	t.Helper()
	// applied_at as the database's own text, so that a row rewritten with the
	// same time would still compare equal only if it was not touched.
	rows, err := db.Query("SELECT CAST(version AS CHAR(20)), name, CAST(applied_at AS CHAR(40)) FROM auditlog_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.version, &r.name, &r.appliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// schemaOf describes the tables, columns and indexes of the database, in a
// form that compares equal across two isolated databases of the same kind.
func schemaOf(t *testing.T, name string, db *sql.DB) string {
	t.Helper()
	var queries []string
	var schema string
	switch name {
	case "sqlite":
		queries = []string{"SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"}
	case "postgres":
		if err := db.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		queries = []string{
			`SELECT concat_ws(' ', table_name, column_name, ordinal_position, data_type, character_maximum_length,
				datetime_precision, is_nullable, column_default, is_identity, identity_generation)
			FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
			"SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname",
		}
	case "mysql":
		var out []string
		for _, table := range []string{"auditlog_entries", "auditlog_migrations"} {
			var n, create string
			if err := db.QueryRow("SHOW CREATE TABLE "+table).Scan(&n, &create); err != nil {
				t.Fatal(err)
			}
			out = append(out, regexp.MustCompile(` AUTO_INCREMENT=\d+`).ReplaceAllString(create, ""))
		}
		return strings.Join(out, "\n")
	}
	var out []string
	for _, q := range queries {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			if schema != "" {
				s = strings.ReplaceAll(s, schema+".", "")
			}
			out = append(out, s)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(out, "\n")
}

// A database that earlier releases migrated, to version 1 or to version 2,
// is recognised at its version: Migrate applies only the later migrations,
// leaves the recorded ones and the entries as they were, and ends with the
// schema that Migrate gives an empty database.
func TestMigrateUpgradesReleasedDatabases(t *testing.T) {
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			open := func() (*sql.DB, auditstore.Dialect) {
				gdb := testdb.OpenEmpty(t, name)
				db, err := gdb.DB()
				if err != nil {
					t.Fatal(err)
				}
				return db, dialectOf(t, gdb.Dialector.Name())
			}
			fresh, d := open()
			if err := auditstore.Migrate(ctx, fresh, d); err != nil {
				t.Fatal(err)
			}
			want := schemaOf(t, name, fresh)
			if !strings.Contains(want, "auditlog_entries_action_idx") {
				t.Fatalf("fresh schema lacks the action index:\n%s", want)
			}
			released := releasedSQL(t, name)
			for v := 1; v <= 2; v++ {
				t.Run(fmt.Sprintf("version_%d", v), func(t *testing.T) {
					db, d := open()
					execAll(t, db, throughVersion(t, released, v))
					execAll(t, db, []string{
						"INSERT INTO auditlog_entries (timestamp, action, model, object_pk, object_repr) VALUES ('2026-01-01 00:00:00', 1, 'books', '1', 'Dune')",
					})
					before := migrationRows(t, db)
					if len(before) != v {
						t.Fatalf("%d versions recorded by the released SQL, want %d", len(before), v)
					}
					schemaBefore := schemaOf(t, name, db)
					for i := 0; i < 2; i++ {
						if err := auditstore.Migrate(ctx, db, d); err != nil {
							t.Fatalf("run %d: %v", i+1, err)
						}
					}
					after := migrationRows(t, db)
					if len(after) != auditstore.LatestVersion() || !slices.Equal(after[:v], before) {
						t.Fatalf("versions recorded: before %v, after %v", before, after)
					}
					if got := schemaOf(t, name, db); got != want {
						t.Fatalf("schema after upgrade:\n%s\nwant, as Migrate makes it:\n%s", got, want)
					}
					if v == auditstore.LatestVersion() && schemaOf(t, name, db) != schemaBefore {
						t.Fatal("Migrate changed a database at the latest version")
					}
					var n int
					if err := db.QueryRow("SELECT COUNT(*) FROM auditlog_entries WHERE object_repr = 'Dune'").Scan(&n); err != nil || n != 1 {
						t.Fatalf("%d entries (%v) after upgrade, want 1", n, err)
					}
				})
			}
		})
	}
}

// DDL on MariaDB/MySQL is not transactional: a migration that stopped half
// way (a lost connection, a killed process, a full disk) leaves its first
// statements applied and its version unrecorded. The next Migrate completes
// it. Every such point is tried: for each migration and each k, a database
// at the version before gets the migration's first k statements by hand.
func TestMigrateResumesHalfFailedMigrationOnMySQL(t *testing.T) {
	if !slices.Contains(testdb.Names(), "mysql") {
		t.Skip("needs " + testdb.MySQLEnv)
	}
	ctx := context.Background()
	stmts, err := auditstore.MigrationSQL(auditstore.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	// Each migration's statements, then the one that records its version.
	setup, stmts := stmts[:1], stmts[1:]
	var steps [][]string
	for len(stmts) > 0 {
		i := slices.IndexFunc(stmts, func(s string) bool { return strings.HasPrefix(s, "INSERT INTO auditlog_migrations ") })
		if i < 1 {
			t.Fatalf("no migration statements before %q", stmts)
		}
		steps = append(steps, stmts[:i+1])
		stmts = stmts[i+1:]
	}
	if len(steps) != auditstore.LatestVersion() {
		t.Fatalf("%d migrations in MigrationSQL, want %d", len(steps), auditstore.LatestVersion())
	}
	fresh, err := testdb.OpenEmpty(t, "mysql").DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := auditstore.Migrate(ctx, fresh, auditstore.MySQL); err != nil {
		t.Fatal(err)
	}
	want := schemaOf(t, "mysql", fresh)
	for v, step := range steps {
		run := step[:len(step)-1]
		for k := 1; k <= len(run); k++ {
			t.Run(fmt.Sprintf("version_%d/stopped_after_%d_of_%d", v+1, k, len(run)), func(t *testing.T) {
				t.Parallel()
				db, err := testdb.OpenEmpty(t, "mysql").DB()
				if err != nil {
					t.Fatal(err)
				}
				execAll(t, db, setup)
				for _, done := range steps[:v] {
					execAll(t, db, done)
				}
				execAll(t, db, run[:k])
				if err := auditstore.Migrate(ctx, db, auditstore.MySQL); err != nil {
					t.Fatalf("Migrate after version %d stopped after %q: %v", v+1, run[k-1], err)
				}
				if rows := migrationRows(t, db); len(rows) != auditstore.LatestVersion() {
					t.Fatalf("versions recorded: %v", rows)
				}
				if got := schemaOf(t, "mysql", db); got != want {
					t.Fatalf("schema after resuming:\n%s\nwant, as Migrate makes it:\n%s", got, want)
				}
			})
		}
	}
}

// CheckMigrated tells a database without the audit tables, or with older
// ones, by an error that says to migrate, and passes one Migrate made (or
// tables made by hand, without Migrate's record).
func TestCheckMigrated(t *testing.T) {
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			gdb := testdb.OpenEmpty(t, name)
			db, err := gdb.DB()
			if err != nil {
				t.Fatal(err)
			}
			d := dialectOf(t, gdb.Dialector.Name())
			if err := auditstore.CheckMigrated(ctx, db, d); !errors.Is(err, auditstore.ErrNotMigrated) || !strings.Contains(err.Error(), "no auditlog_entries table") {
				t.Fatalf("empty database: %v", err)
			}
			execAll(t, db, throughVersion(t, releasedSQL(t, name), 2))
			if err := auditstore.CheckMigrated(ctx, db, d); !errors.Is(err, auditstore.ErrNotMigrated) || !strings.Contains(err.Error(), "lack version 3 (create seal tables) of") {
				t.Fatalf("database at version 2: %v", err)
			}
			if err := auditstore.Migrate(ctx, db, d); err != nil {
				t.Fatal(err)
			}
			if err := auditstore.CheckMigrated(ctx, db, d); err != nil {
				t.Fatalf("migrated: %v", err)
			}
			execAll(t, db, []string{"DROP TABLE auditlog_migrations"})
			if err := auditstore.CheckMigrated(ctx, db, d); err != nil {
				t.Fatalf("tables without Migrate's record: %v", err)
			}
		})
	}
}

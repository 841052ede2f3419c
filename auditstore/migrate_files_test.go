package auditstore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	_ "github.com/glebarez/go-sqlite"
)

// fileStatements returns the statements of the dialect's migration files on
// disk, in version order.
func fileStatements(t *testing.T, d Dialect) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", string(d), "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no migration files for %s", d)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Split(strings.TrimSuffix(string(b), ";\n"), ";\n\n")...)
	}
	return out
}

// bookkeeping reports whether a statement reads or writes the versions
// table rather than the schema.
func bookkeeping(stmt string) bool { return strings.Contains(stmt, migrationsTable) }

// MigrationSQL shows the statements of the migration files, and no others
// but the versions table's.
func TestMigrationSQLIsTheFiles(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres, MySQL} {
		stmts, err := MigrationSQL(d)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.DeleteFunc(stmts, bookkeeping)
		if want := fileStatements(t, d); !slices.Equal(got, want) {
			t.Fatalf("%s: MigrationSQL shows\n%q\nthe files hold\n%q", d, got, want)
		}
	}
}

type recorder struct {
	execQuerier
	execs []string
}

func (r *recorder) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r.execs = append(r.execs, query)
	return r.execQuerier.ExecContext(ctx, query, args...)
}

// Migrate runs the statements of the files as they are.
func TestMigrateRunsTheFiles(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := &recorder{execQuerier: db}
	if err := applyMigrations(ctx, r, SQLite, false); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.DeleteFunc(r.execs, bookkeeping), fileStatements(t, SQLite); !slices.Equal(got, want) {
		t.Fatalf("Migrate ran\n%q\nthe files hold\n%q", got, want)
	}
}

// A migration file that is missing, out of place or not in the form that
// `migrate --print` shows is refused, rather than run differently from how
// it is shown.
func TestLoadMigrationsRefusesMalformedFiles(t *testing.T) {
	good := func() fstest.MapFS {
		fsys := fstest.MapFS{}
		for _, d := range []Dialect{SQLite, Postgres, MySQL} {
			fsys["migrations/"+string(d)+"/0001_create.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE IF NOT EXISTS a (\n\tid INTEGER\n);\n\nCREATE INDEX a_idx ON a (id);\n")}
			fsys["migrations/"+string(d)+"/0002_index.sql"] = &fstest.MapFile{Data: []byte("CREATE INDEX b_idx ON a (id);\n")}
			fsys["migrations/"+string(d)+"/0003_more.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE c (\n\tid INTEGER\n);\n")}
			fsys["migrations/"+string(d)+"/0004_more.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE d (\n\tid INTEGER\n);\n")}
			fsys["migrations/"+string(d)+"/0005_more.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE d ADD COLUMN e TEXT;\n")}
		}
		return fsys
	}
	fsys := good()
	// The same statement is fine where DDL is transactional.
	fsys["migrations/sqlite/0002_index.sql"].Data = []byte("CREATE INDEX b_idx ON a (id);\n\nALTER TABLE a ADD COLUMN b INTEGER;\n")
	ms, err := loadMigrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(migrationNames) || ms[0].version != 1 || ms[0].name != migrationNames[0] || len(ms[0].up[MySQL]) != 2 || ms[0].up[MySQL][1] != "CREATE INDEX a_idx ON a (id)" {
		t.Fatalf("loaded %+v", ms)
	}
	for what, change := range map[string]func(fstest.MapFS){
		"missing version": func(f fstest.MapFS) { delete(f, "migrations/postgres/0002_index.sql") },
		"extra version": func(f fstest.MapFS) {
			f["migrations/sqlite/0006_more.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;\n")}
		},
		"misnumbered": func(f fstest.MapFS) {
			f["migrations/mysql/0006_index.sql"] = f["migrations/mysql/0002_index.sql"]
			delete(f, "migrations/mysql/0002_index.sql")
		},
		"no final newline": func(f fstest.MapFS) {
			f["migrations/sqlite/0002_index.sql"].Data = []byte("CREATE INDEX b_idx ON a (id);")
		},
		"no blank line": func(f fstest.MapFS) {
			f["migrations/sqlite/0002_index.sql"].Data = []byte("CREATE INDEX b_idx ON a (id);\nCREATE INDEX c_idx ON a (id);\n")
		},
		"two blank lines": func(f fstest.MapFS) {
			f["migrations/sqlite/0002_index.sql"].Data = []byte("CREATE INDEX b_idx ON a (id);\n\n\nCREATE INDEX c_idx ON a (id);\n")
		},
		"CRLF line endings": func(f fstest.MapFS) {
			f["migrations/sqlite/0002_index.sql"].Data = []byte("CREATE INDEX b_idx ON a (id);\r\n")
		},
		"empty": func(f fstest.MapFS) { f["migrations/sqlite/0002_index.sql"].Data = nil },
		"MySQL statement that a run after a failed one cannot repeat": func(f fstest.MapFS) {
			f["migrations/mysql/0002_index.sql"].Data = []byte("CREATE INDEX b_idx ON a (id);\n\nALTER TABLE a DROP COLUMN id;\n")
		},
	} {
		fsys := good()
		change(fsys)
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: loaded", what)
		}
	}
}

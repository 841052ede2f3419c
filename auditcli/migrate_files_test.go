package auditcli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditstore"
)

// `auditlog migrate --print` shows the migration files that Migrate runs,
// byte for byte and in version order, each followed by the statement that
// records its version; only the versions table's statements come between.
func TestMigratePrintShowsMigrationFiles(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		files, err := filepath.Glob(filepath.Join("..", "auditstore", "migrations", d, "*.sql"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != auditstore.LatestVersion() {
			t.Fatalf("%s: %d migration files, want one for each of %d versions", d, len(files), auditstore.LatestVersion())
		}
		r := run(t, "", false, "migrate", "--print", "--dialect", d)
		if r.code != 0 {
			t.Fatalf("%s: %+v", d, r)
		}
		rest := r.stdout
		for i, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			at := strings.Index(rest, string(b))
			if at < 0 {
				t.Fatalf("%s: migrate --print does not show %s as it is:\n%s", d, f, r.stdout)
			}
			for _, stmt := range strings.Split(strings.TrimSuffix(rest[:at], ";\n\n"), ";\n\n") {
				if stmt != "" && !strings.Contains(stmt, "auditlog_migrations") {
					t.Fatalf("%s: migrate --print shows a statement that is in no file before %s:\n%s", d, f, stmt)
				}
			}
			rest = rest[at+len(b):]
			record := fmt.Sprintf("\nINSERT INTO auditlog_migrations (version, name, applied_at) VALUES (%d, ", i+1)
			if !strings.HasPrefix(rest, record) {
				t.Fatalf("%s: %s is not followed by the statement recording version %d:\n%s", d, f, i+1, rest)
			}
			rest = rest[1:]
		}
		if stmts := strings.Split(strings.TrimSuffix(rest, ";\n\n"), ";\n\n"); len(stmts) != 1 {
			t.Fatalf("%s: migrate --print shows statements after the last file:\n%s", d, rest)
		}
	}
}

// migrate on an SQLite path that does not exist creates the database and
// says so, so that a mistyped path does not pass for the application's
// database; on an existing file it says nothing of the kind.
func TestMigrateSaysWhenItCreatesTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "typo.db")
	r := run(t, "", false, "migrate", "--db", path)
	if r.code != 0 || !strings.Contains(r.stdout, "typo.db did not exist: created a new SQLite database there") {
		t.Fatalf("first migrate: %+v", r)
	}
	r = run(t, "", false, "migrate", "--db", path)
	if r.code != 0 || strings.Contains(r.stdout, "created") || !strings.Contains(r.stdout, "auditlog_entries is at version") {
		t.Fatalf("second migrate: %+v", r)
	}
}

package auditcli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditcli"
)

// Entries changed by hand so that they do not decode: export writes every
// entry, those marked unreadable, keeps its file and exits 1 naming them;
// history shows them as unreadable and exits 1; the state at a time and a
// revert that would need them refuse.
func TestUnreadableEntries(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t) // entries 1-6: books and authors 1
	target, err := auditcli.ParseDSN("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := target.Open(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Entry 3 is a books entry of 2026-01-01.
	if _, err := db.Exec(`UPDATE auditlog_entries SET changes = 'not json', action = 9 WHERE id = 3`); err != nil {
		t.Fatal(err)
	}

	r := run(t, "", false, "export", "--db", path)
	if r.code != 1 || strings.Count(r.stdout, "\n") != 6 || !strings.Contains(r.stdout, `"unreadable":"action: 9 is not one of`) ||
		!strings.Contains(r.stderr, "entries could not be read as stored: 1 (ids 3)") {
		t.Errorf("export: %+v", r)
	}
	out := filepath.Join(t.TempDir(), "out.csv")
	r = run(t, "", false, "export", "--db", path, "--format", "csv", "--output", out)
	body, _ := os.ReadFile(out)
	if r.code != 1 || !strings.Contains(r.stderr, "Exported 6 entries") || !strings.Contains(r.stderr, "(ids 3)") ||
		strings.Count(string(body), "\n") != 7 || !strings.Contains(string(body), "changes: invalid character") {
		t.Errorf("export to a file: %+v\n%s", r, body)
	}

	r = run(t, "", false, "history", "--db", path, "books", "1")
	if r.code != 1 || !strings.Contains(r.stdout, "unreadable") || !strings.Contains(r.stdout, "UNREADABLE entry 3: action: 9") ||
		strings.Count(r.stdout, "\n") != 4 || !strings.Contains(r.stderr, "(ids 3), shown as unreadable") {
		t.Errorf("history: %+v", r)
	}
	r = run(t, "", false, "history", "--db", path, "--as-of", "2026-01-06", "books", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "entry 3 of the object") {
		t.Errorf("history --as-of: %+v", r)
	}
	// Another model's history is untouched.
	if r = run(t, "", false, "history", "--db", path, "authors", "1"); r.code != 0 {
		t.Errorf("history of authors: %+v", r)
	}

	r = run(t, "", true, "revert", "--db", path, "--yes", "3")
	if r.code != 1 || !strings.Contains(r.stderr, "entry 3 could not be read as stored") || !strings.Contains(r.stderr, "nothing was written") {
		t.Errorf("revert: %+v", r)
	}
}

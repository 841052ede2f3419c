package lines_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-auditlog/auditlog/internal/lines"
)

func TestEndsOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		name, text  string
		open, known bool
	}{
		{"empty", "", false, true},
		{"whole lines", "a\nb\n", false, true},
		{"cut", "a\nb", true, true},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if open, known := lines.EndsOpen(f); open != c.open || known != c.known {
			t.Errorf("%s: %v, %v", c.name, open, known)
		}
		f.Close()
		// Write-only: it cannot tell.
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if open, known := lines.EndsOpen(w); c.text != "" && (open || known) {
			t.Errorf("%s, write-only: %v, %v", c.name, open, known)
		}
		w.Close()
	}
}

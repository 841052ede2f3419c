package auditcli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An SQLite target that opens a database in memory (mode=memory,
// vfs=memdb) migrated nothing and said the file was at the latest
// version; a plain path :memory: opened SQLite's database in memory,
// where a plain path is taken literally.
func TestSQLiteTargetsInMemory(t *testing.T) {
	dir := t.TempDir()
	for _, db := range []string{"file:" + dir + "/a.db?mode=memory", "file:" + dir + "/b.db?cache=shared&mode=Memory", "file:" + dir + "/c.db?vfs=memdb",
		"file:" + dir + "/d.db?mode=memory%00", "file:" + dir + "/e.db?mode%00x=memory", "file:" + dir + "/f.db?mode=%zz"} {
		r := run(t, "", false, "migrate", "--db", db)
		if r.code != 2 || !strings.Contains(r.stderr, "in memory") && !strings.Contains(r.stderr, "NUL") {
			t.Errorf("migrate --db %s: %+v", db, r)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("files made: %v, %v", entries, err)
	}
	t.Chdir(dir)
	r := run(t, "", false, "migrate", "--db", "sqlite::memory:")
	if r.code != 0 {
		t.Fatalf("migrate --db sqlite::memory: %+v", r)
	}
	if st, err := os.Stat(filepath.Join(dir, ":memory:")); err != nil || st.Size() == 0 {
		t.Errorf("no file named :memory: (%v)", err)
	}
}

package testdb_test

import (
	"path/filepath"
	"testing"

	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// The SQLite driver of this run applies every recommended setting and the
// extra pragmas, whichever driver it is.
func TestSQLiteSettings(t *testing.T) {
	d := testdb.SQLiteDriver(t)
	db := testdb.OpenSQLiteFile(t, filepath.Join(t.TempDir(), "settings.db"), nil, "secure_delete(1)")
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	version, err := sqlitedriver.Version(sqlDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("driver %s (%s), SQLite %s", d.Name, d.Module, version)
	// One connection, so every pragma is read where the DSN set it.
	sqlDB.SetMaxOpenConns(1)
	for _, c := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "10000"},
		{"foreign_keys", "1"},
		{"synchronous", "2"}, // FULL: a commit is durable
		{"secure_delete", "1"},
	} {
		var got string
		if err := db.Raw("PRAGMA " + c.pragma).Row().Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", c.pragma, err)
		}
		if got != c.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", d.Name, c.pragma, got, c.want)
		}
	}
}

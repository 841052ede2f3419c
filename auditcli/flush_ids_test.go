package auditcli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// With the entries' id sequence caching ids per session, an entry written
// while flush asked took an id below the highest counted, and was deleted
// with them ("Deleted 3 entries, 1 more than confirmed", exit 0). The
// flush is refused before it asks, with what to do.
func TestFlushRefusesIDsHandedOutOfOrder(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	t.Parallel()
	ctx := context.Background()
	gdb, dsn := testdb.OpenWithDSN(t, "postgres")
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := auditstore.Migrate(ctx, db, auditstore.Postgres); err != nil {
		t.Fatal(err)
	}
	s, err := auditstore.New(db, auditstore.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, []auditlog.Entry{{Model: "books", ObjectPK: "1", ObjectRepr: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ALTER SEQUENCE auditlog_entries_id_seq CACHE 100"); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", false, "flush", "--db", dsn, "--model", "books", "--yes")
	if r.code == 0 || !strings.Contains(r.stderr, "CACHE 1") || r.stdout != "" {
		t.Fatalf("flush over cached ids: %+v", r)
	}
	if n, err := s.Count(ctx, auditstore.Filter{}); err != nil || n != 1 {
		t.Fatalf("%d entries left, %v", n, err)
	}
	// A truncate is pinned to no id: it goes on.
	if r := run(t, "", false, "flush", "--db", dsn, "--truncate", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "Emptied") {
		t.Fatalf("flush --truncate over cached ids: %+v", r)
	}
}

// A flush that fails deletes nothing and says so once, in its error: it
// printed "Deleted 0 entries." beside it.
func TestFlushThatFailsPrintsNoCount(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ro.db")
	if r := run(t, "", false, "migrate", "--db", path); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	db, err := testdb.OpenSQLiteFile(t, path, nil).DB()
	if err != nil {
		t.Fatal(err)
	}
	s, err := auditstore.New(db, auditstore.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(context.Background(), []auditlog.Entry{{Model: "books", ObjectPK: "1", ObjectRepr: "x"}}); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", false, "flush", "--db", "file:"+path+"?mode=ro", "--yes")
	if r.code == 0 || r.stdout != "" || r.stderr == "" {
		t.Fatalf("flush of a read-only database: %+v", r)
	}
}

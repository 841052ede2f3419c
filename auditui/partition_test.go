package auditui_test

import (
	"context"
	"os"
	"testing"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TestPagesOnPartitionedTable renders the golden pages from a PostgreSQL
// entries table partitioned by month and from a plain one holding the
// same entries: the same HTML. (PostgreSQL's JSONB orders and spaces the
// keys of JSON values its own way, so its pages are compared with each
// other, not with SQLite's golden files.)
func TestPagesOnPartitionedTable(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	t.Parallel()
	gdb := testdb.OpenEmpty(t, "postgres")
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, auditstore.MigrateOptions{Partition: auditstore.PartitionMonthly}); err != nil {
		t.Fatal(err)
	}
	part, err := auditstore.New(db, auditstore.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := part.Partitioned(ctx); err != nil || !ok {
		t.Fatalf("partitioned: %v, %v", ok, err)
	}
	fill(t, part)
	plain := fixtureOn(t, "postgres")
	if ok, err := plain.Partitioned(ctx); err != nil || ok {
		t.Fatalf("the plain table is partitioned: %v, %v", ok, err)
	}
	hPart := newUI(t, part, auditui.Config{Prefix: "/audit", PageSize: 3})
	hPlain := newUI(t, plain, auditui.Config{Prefix: "/audit", PageSize: 3})
	for _, target := range []string{
		"/audit/", "/audit/?model=books", "/audit/?since=2026-03-01T10:00&until=2026-03-01T12:00", "/audit/?q=Dun",
		"/audit/entries/2", "/audit/entries/3", "/audit/history?obj=books:1&obj=authors:7", "/audit/actor?actor=2",
		"/audit/export?format=jsonl", "/audit/entries/999",
	} {
		a, b := get(hPart, "GET", target), get(hPlain, "GET", target)
		if a.Code != b.Code || a.Body.String() != b.Body.String() {
			t.Errorf("%s: partitioned %d, plain %d\n%s\n---\n%s", target, a.Code, b.Code, a.Body, b.Body)
		}
	}
}

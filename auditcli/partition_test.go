package auditcli_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// migrate --partition monthly converts a table that holds entries; a
// second run changes nothing; flush works on the partitioned table.
func TestMigratePartitionMonthly(t *testing.T) {
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
	s, err := auditstore.New(db, auditstore.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	var es []auditlog.Entry
	for i := range 10 {
		es = append(es, auditlog.Entry{Timestamp: time.Date(2025, 1+time.Month(i), 1, 0, 0, 0, 0, time.UTC), Model: "books", ObjectPK: "1", ObjectRepr: "x"})
	}
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := run(t, "", false, "migrate", "--db", dsn, "--partition", "monthly", "--ahead", "2")
		if r.code != 0 || !strings.Contains(r.stdout, "partitioned by month: 3 partitions") || !strings.Contains(r.stdout, ", and a default") {
			t.Fatalf("migrate --partition monthly: %+v", r)
		}
	}
	if r := run(t, "", false, "migrate", "--db", dsn); r.code != 0 || !strings.Contains(r.stdout, "partitioned by month") {
		t.Fatalf("migrate: %+v", r)
	}
	if ok, err := s.Partitioned(ctx); err != nil || !ok {
		t.Fatalf("partitioned %v, %v", ok, err)
	}
	r := run(t, "", false, "flush", "--db", dsn, "--before", "2025-06-01", "--yes")
	if r.code != 0 || r.stdout != "Deleted 5 entries.\n" {
		t.Fatalf("flush: %+v", r)
	}
}

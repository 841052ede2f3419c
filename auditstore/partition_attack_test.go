package auditstore_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditstore"
)

// TestPartitionConvertsExtremeDates: a table holding an entry dated in the
// year 9999 is not converted (the old table would take every month until
// then); dated in the years 1 and 1950 instead, it is converted with every
// entry and id kept,
// a second MigrateWith and a plain Migrate keep it partitioned, new
// entries get higher ids, and a flush by date takes exactly the old ones.
func TestPartitionConvertsExtremeDates(t *testing.T) {
	postgresOnly(t)
	t.Parallel()
	ctx := context.Background()
	db := rawDB(t, "postgres", true)
	s := pgStore(t, db)
	now := time.Now().UTC()
	insertAt(t, s, "m", time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(1900, 2, 3, 0, 0, 0, 0, time.UTC), now,
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	before := entryRows(t, db)
	err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, monthly(2))
	if err == nil || !strings.Contains(err.Error(), "9999-12-31T23:59:59Z") {
		t.Fatalf("converting with an entry dated 9999: %v", err)
	}
	if ok, err := s.Partitioned(ctx); err != nil || ok {
		t.Fatalf("partitioned %v, %v after a refused conversion", ok, err)
	}
	if after := entryRows(t, db); !reflect.DeepEqual(after, before) {
		t.Fatal("the entries changed in a refused conversion")
	}
	if _, err := db.Exec("UPDATE auditlog_entries SET timestamp = '1950-01-01' WHERE timestamp > now() + interval '1 year'"); err != nil {
		t.Fatal(err)
	}
	before = entryRows(t, db)
	for range 2 {
		if err := auditstore.MigrateWith(ctx, db, auditstore.Postgres, monthly(2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := auditstore.Migrate(ctx, db, auditstore.Postgres); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Partitions(ctx)
	if err != nil || len(ps) != 5 {
		t.Fatalf("partitions: %+v, %v; want the old table, 3 months and the default", ps, err)
	}
	if ok, err := s.Partitioned(ctx); err != nil || !ok {
		t.Fatalf("partitioned %v, %v", ok, err)
	}
	if after := entryRows(t, db); !reflect.DeepEqual(after, before) {
		t.Fatalf("entries after the conversion differ: %d, %d before", len(after), len(before))
	}
	insertAt(t, s, "n", now, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)) // the default partition
	got := ids(t, db, "SELECT id FROM auditlog_entries ORDER BY id")
	if len(got) != 6 || got[4] <= got[3] {
		t.Fatalf("ids %v", got)
	}
	cut := auditstore.Filter{Until: now.AddDate(-1, 0, 0)}
	n, maxID, err := s.CountMax(ctx, cut)
	if err != nil || n != 3 {
		t.Fatalf("count %d, %v; %v", n, err, lines(t, db, "SELECT id || ' ' || timestamp::text FROM auditlog_entries ORDER BY id"))
	}
	res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: cut, MaxID: maxID})
	if err != nil || res.Deleted != 3 {
		t.Fatalf("flush: %+v, %v", res, err)
	}
	if left, _ := s.Count(ctx, auditstore.Filter{}); left != 3 {
		t.Fatalf("%d entries left, want 3", left)
	}
}

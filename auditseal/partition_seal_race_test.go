package auditseal_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A sealer's first round between two partition drops of a flush begun on an
// unsealed partitioned log: the row-by-row flush looks again before each
// batch (TestFirstSealBetweenFlushBatches); the partition drops did not,
// and dropped sealed entries unmarked (the untouched log failed Verify).
// Each drop looks again now.
func TestFirstSealBetweenPartitionDrops(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	ctx := context.Background()
	gdb := testdb.OpenEmpty(t, "postgres")
	f := open(t, gdb)
	if err := auditstore.MigrateWith(ctx, f.db, f.d, auditstore.MigrateOptions{Partition: auditstore.PartitionMonthly}); err != nil {
		t.Fatal(err)
	}
	for m := 1; m <= 3; m++ {
		aexec(t, f, fmt.Sprintf("CREATE TABLE auditlog_entries_p2025_%02d PARTITION OF auditlog_entries FOR VALUES FROM ('2025-%02d-01 00:00Z') TO ('2025-%02d-01 00:00Z')", m, m, m+1))
	}
	s, err := auditstore.New(f.db, f.d)
	if err != nil {
		t.Fatal(err)
	}
	var es []auditlog.Entry
	for m := 1; m <= 3; m++ {
		for d := 1; d <= 4; d++ {
			es = append(es, auditlog.Entry{Timestamp: time.Date(2025, time.Month(m), d*3, 0, 0, 0, 0, time.UTC), Action: auditlog.ActionCreate, Model: "m", ObjectPK: fmt.Sprint(len(es)), ObjectRepr: "x"})
		}
	}
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	cut := auditstore.Filter{Until: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)}
	n, maxID, err := s.CountMax(ctx, cut)
	if err != nil || n != 12 {
		t.Fatalf("count %d, %v", n, err)
	}
	sealedOnce := false
	res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: cut, MaxID: maxID, Progress: func(int64) {
		if !sealedOnce {
			sealedOnce = true
			f.round(t) // the sealer's first round, between two partition drops
		}
	}})
	if err != nil || res.Deleted != 12 {
		t.Fatalf("flush: %+v %v", res, err)
	}
	if rep := f.verify(t); !rep.OK() {
		t.Fatalf("the untampered log does not verify (flush %+v):\n%s", res, problems(rep))
	}
}

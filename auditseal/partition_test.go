package auditseal_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A flush that drops whole partitions of a sealed log marks their leaves
// pruned, with the same time and reason as the entries it deletes row by
// row: the log verifies, and Verify names the one flush.
func TestPartitionedFlushKeepsTheLogVerifiable(t *testing.T) {
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
	es = append(es, auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionCreate, Model: "m", ObjectPK: "new", ObjectRepr: "x"})
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	f.round(t)
	cut := auditstore.Filter{Until: time.Date(2025, 3, 7, 0, 0, 0, 0, time.UTC)}
	n, maxID, err := s.CountMax(ctx, cut)
	if err != nil || n != 10 {
		t.Fatalf("count %d, %v", n, err)
	}
	res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: cut, MaxID: maxID, BatchSize: 1, Reason: "test flush"})
	if err != nil || res.Deleted != 10 || res.Partitions != 2 {
		t.Fatalf("flush: %+v, %v", res, err)
	}
	rep := f.verify(t)
	if !rep.OK() || len(rep.Pruned) != 1 || rep.Pruned[0].By != "test flush" || rep.Pruned[0].Leaves != 10 {
		t.Fatalf("after the flush: %+v\n%s", rep, problems(rep))
	}
	// Nothing declares id unique across partitions: a copy of a sealed
	// entry under its id, dated elsewhere, is still caught.
	aexec(t, f, "INSERT INTO auditlog_entries SELECT id, timestamp + interval '1 second', action, model, object_pk, object_id, object_repr, changes, serialized_data, additional_data, actor_id, actor_name, remote_addr, remote_port, 'forged' FROM auditlog_entries WHERE model = 'm' AND object_pk = 'new'")
	if rep := f.verify(t); rep.OK() {
		t.Fatal("a second entry under a sealed entry's id went unnoticed")
	}
	aexec(t, f, "DELETE FROM auditlog_entries WHERE cid = 'forged'")
	// A partition dropped by hand is deletion, not pruning.
	aexec(t, f, "DROP TABLE auditlog_entries_p2025_03")
	if rep := f.verify(t); len(rep.Problems) != 2 || rep.Problems[0].Kind != auditseal.EntryDeleted || rep.Problems[1].Kind != auditseal.EntryDeleted {
		t.Fatalf("after a partition dropped by hand: %s", problems(rep))
	}
}

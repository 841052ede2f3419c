package auditseal_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A sealed flush whose batch meets an entry deleted meanwhile by someone
// else marked that entry's leaf as pruned by the flush (so Verify passed a
// deletion the flush did not make), recorded more leaves than it deleted,
// and stopped, leaving the rest of what it counted. Its batch now holds
// the rows it marks, and goes on.
func TestSealedFlushMarksOnlyWhatItDeletes(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	ctx := context.Background()
	f := open(t, testdb.Open(t, "postgres"))
	f.insert(t, nil, "a", 10)
	f.round(t)
	s, err := auditstore.New(f.db, f.d)
	if err != nil {
		t.Fatal(err)
	}
	n, maxID, err := s.CountMax(ctx, auditstore.Filter{})
	if err != nil || n != 10 {
		t.Fatalf("count %d %v", n, err)
	}
	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec("DELETE FROM auditlog_entries WHERE id = (SELECT MIN(id) + 1 FROM auditlog_entries)"); err != nil {
		t.Fatal(err)
	}
	type out struct {
		res auditstore.FlushResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := s.Flush(ctx, auditstore.FlushOptions{MaxID: maxID, BatchSize: 3, Reason: "retention"})
		done <- out{res, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting int
		if err := f.db.QueryRow("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND (query LIKE 'DELETE FROM auditlog_entries WHERE id IN%' OR query LIKE 'SELECT id FROM auditlog_entries%')").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the flush never waited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	o := <-done
	left, _ := s.Count(ctx, auditstore.Filter{})
	var marked int
	if err := f.db.QueryRow("SELECT COUNT(*) FROM auditlog_seal_leaves WHERE pruned_at IS NOT NULL").Scan(&marked); err != nil {
		t.Fatal(err)
	}
	rep := f.verify(t)
	t.Logf("flush %+v %v; entries left %d; leaves marked pruned %d; verify ok=%v problems=%q", o.res, o.err, left, marked, rep.OK(), problems(rep))
	if left != 0 || int64(marked) != o.res.Deleted {
		t.Fatalf("flush deleted %d, marked %d leaves pruned (one deleted by another transaction), and left %d of the %d counted entries", o.res.Deleted, marked, left, n)
	}
}

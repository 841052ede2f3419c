package auditstore_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A batch that comes back short because one of its rows was deleted by
// someone else meanwhile ended the flush: the counted entries after it
// were left, though they match the filter and are below MaxID, and the
// command said the others had deleted them. A short batch ends it only
// where nothing is left.
func TestFlushGoesOnAfterAShortBatch(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	gdb := testdb.Open(t, "postgres")
	db, _ := gdb.DB()
	s := pgStore(t, db)
	cut := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	var es []auditlog.Entry
	for i := range 10 {
		es = append(es, auditlog.Entry{Timestamp: cut.Add(-time.Duration(100-i) * time.Minute), Model: "m", ObjectPK: "1", ObjectRepr: "x"})
	}
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	f := auditstore.Filter{Until: cut}
	n, maxID, err := s.CountMax(ctx, f)
	if err != nil || n != 10 {
		t.Fatalf("count %d %v", n, err)
	}
	// Someone else deletes the second oldest entry, in a transaction that
	// commits while the flush's first batch waits for its row.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var victim int64
	if err := tx.QueryRow("DELETE FROM auditlog_entries WHERE id = (SELECT id FROM auditlog_entries ORDER BY timestamp, id OFFSET 1 LIMIT 1) RETURNING id").Scan(&victim); err != nil {
		t.Fatal(err)
	}
	type out struct {
		res auditstore.FlushResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: f, MaxID: maxID, BatchSize: 3})
		done <- out{res, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting int
		if err := db.QueryRow("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM auditlog_entries WHERE id IN%'").Scan(&waiting); err != nil {
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
	left, _ := s.Count(ctx, f)
	t.Logf("counted %d, deleted by someone else 1 (id %d), flush deleted %d (err %v), left matching the filter %d", n, victim, o.res.Deleted, o.err, left)
	if o.err != nil || left != 0 {
		t.Fatalf("the flush stopped after a short batch: %d counted entries left undeleted; CLI would say %d were deleted by someone else", left, n-o.res.Deleted)
	}
}

// A table that keeps its rows (a rule or trigger that skips deletes) ends
// the flush with an error: a short batch goes on while entries match, and
// one that deletes none of them would go on for ever.
func TestFlushOfATableThatKeepsItsRows(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		keep := map[string]string{
			"sqlite":   "CREATE TRIGGER keep_entries BEFORE DELETE ON auditlog_entries BEGIN SELECT RAISE(IGNORE); END",
			"postgres": "CREATE RULE keep_entries AS ON DELETE TO auditlog_entries DO INSTEAD NOTHING",
		}[db.Dialector.Name()]
		if keep == "" {
			t.Skip("MySQL has no way to skip a delete without an error")
		}
		ctx := context.Background()
		s := storeOf(t, db)
		if err := s.Insert(ctx, []auditlog.Entry{{Model: "m", ObjectPK: "1", ObjectRepr: "x"}, {Model: "m", ObjectPK: "2", ObjectRepr: "x"}}); err != nil {
			t.Fatal(err)
		}
		if err := db.Exec(keep).Error; err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		res, err := s.Flush(cctx, auditstore.FlushOptions{BatchSize: 5})
		if err == nil || cctx.Err() != nil || res.Deleted != 0 {
			t.Fatalf("flush of a table that keeps its rows: %+v, %v (context: %v); want an error at once", res, err, cctx.Err())
		}
	})
}

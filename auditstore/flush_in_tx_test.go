package auditstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A store over a caller's REPEATABLE READ transaction on MySQL: the DELETE
// is a current read, and the look for entries left after a short batch was
// a snapshot read, which still saw the rows another connection deleted
// after the snapshot: the flush tried for ever. It is a locking read there
// now, which sees what the DELETE sees.
func TestFlushInACallersTransactionOnMySQL(t *testing.T) {
	t.Parallel()
	if !slices.Contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	ctx := context.Background()
	gdb := testdb.Open(t, "mysql")
	db, _ := gdb.DB()
	cut := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	s0, _ := auditstore.New(db, auditstore.MySQL)
	var es []auditlog.Entry
	for i := range 5 {
		es = append(es, auditlog.Entry{Timestamp: cut.Add(-time.Duration(100-i) * time.Minute), Model: "m", ObjectPK: "1", ObjectRepr: "x"})
	}
	if err := s0.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRow("SELECT COUNT(*) FROM auditlog_entries").Scan(&n); err != nil { // the caller reads first
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM auditlog_entries"); err != nil { // someone else prunes, commits
		t.Fatal(err)
	}
	s, _ := auditstore.New(tx, auditstore.MySQL)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	batches := 0
	res, err := s.Flush(cctx, auditstore.FlushOptions{Filter: auditstore.Filter{Until: cut}, BatchSize: 3, Progress: func(int64) { batches++ }})
	t.Logf("counted %d in tx; flush: deleted %d, err %v", n, res.Deleted, err)
	if err != nil {
		t.Fatalf("flush did not end on its own: %v", err)
	}
}

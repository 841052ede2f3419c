package auditstore_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A transaction that inserted an entry before a flush's count and commits
// after it: its entry has an id below the highest one counted. CountMax
// waits for it to end, so that the count includes its entry and the flush
// deletes exactly what was counted. Before, the count left it out and the
// flush pinned to the highest id deleted it uncounted.
func TestCountMaxWaitsForOpenWriters(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s, tx, inTx := openWriter(t, db)
		old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		entry := func(pk string) []auditlog.Entry {
			return []auditlog.Entry{{Timestamp: old, Model: "late", ObjectPK: pk, ObjectRepr: "x"}}
		}
		if err := inTx.Insert(ctx, entry("1")); err != nil { // the lower id, committed last
			t.Fatal(err)
		}
		if err := s.Insert(ctx, entry("2")); err != nil {
			t.Fatal(err)
		}
		f := auditstore.Filter{Model: "late"}
		type counted struct{ n, maxID int64 }
		done := make(chan counted, 1)
		errs := make(chan error, 1)
		go func() {
			n, maxID, err := s.CountMax(ctx, f)
			if err != nil {
				errs <- err
				return
			}
			done <- counted{n, maxID}
		}()
		select {
		case c := <-done:
			t.Fatalf("CountMax returned %+v while a transaction writing entries was open", c)
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(600 * time.Millisecond):
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var c counted
		select {
		case c = <-done:
		case err := <-errs:
			t.Fatal(err)
		}
		if c.n != 2 {
			t.Fatalf("CountMax counted %d entries, want 2 (the late commit's too)", c.n)
		}
		res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: f, MaxID: c.maxID})
		if err != nil || res.Deleted != c.n {
			t.Fatalf("flush deleted %d of the %d counted: %v", res.Deleted, c.n, err)
		}
	})
}

// A transaction writing entries that stays open makes CountMax refuse with
// ErrUnsettled after its wait, instead of a count the flush would not keep.
func TestCountMaxRefusesWhileAWriterStaysOpen(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s, tx, inTx := openWriter(t, db)
		auditstore.SetSettleWithin(s, 700*time.Millisecond)
		if err := inTx.Insert(ctx, []auditlog.Entry{{Model: "open", ObjectPK: "1", ObjectRepr: "x"}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CountMax(ctx, auditstore.Filter{}); !errors.Is(err, auditstore.ErrUnsettled) {
			t.Fatalf("CountMax with a writer open: %v, want ErrUnsettled", err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CountMax(ctx, auditstore.Filter{}); err != nil {
			t.Fatalf("CountMax once the writer ended: %v", err)
		}
	})
}

// openWriter returns a store over db and, in a transaction left open, a
// store over it: a writer of entries CountMax must wait for. It skips
// SQLite, which serialises its writers (an open write transaction's entries
// get ids above every committed one).
func openWriter(t *testing.T, db *gorm.DB) (s *auditstore.Store, tx *sql.Tx, inTx *auditstore.Store) {
	t.Helper()
	if db.Dialector.Name() == "sqlite" {
		t.Skip("SQLite serialises its writers: an open write transaction's entries get ids above every committed one")
	}
	sqlDB, _ := db.DB()
	d := dialectOf(t, db.Dialector.Name())
	s, err := auditstore.New(sqlDB, d)
	if err != nil {
		t.Fatal(err)
	}
	if tx, err = sqlDB.BeginTx(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	if inTx, err = auditstore.New(tx, d); err != nil {
		t.Fatal(err)
	}
	return s, tx, inTx
}

package auditstore_test

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// settleStores are the connections a store may count over: the pool, one
// connection of it (whose session settings must survive the count), and
// GORM's PrepareStmt pool through auditgorm.NewStore.
var settleStores = []struct {
	name string
	open func(t *testing.T, db *gorm.DB) *auditstore.Store
}{
	{"pool", func(t *testing.T, db *gorm.DB) *auditstore.Store {
		sqlDB, _ := db.DB()
		return newStore(t, sqlDB, db)
	}},
	{"conn", func(t *testing.T, db *gorm.DB) *auditstore.Store {
		sqlDB, _ := db.DB()
		conn, err := sqlDB.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if db.Dialector.Name() == "mysql" {
			if _, err := conn.ExecContext(context.Background(), "SET SESSION lock_wait_timeout = 30"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				var v int
				if err := conn.QueryRowContext(context.Background(), "SELECT @@SESSION.lock_wait_timeout").Scan(&v); err != nil || v != 30 {
					t.Errorf("the connection's lock_wait_timeout after the count: %d, %v; want 30", v, err)
				}
			})
		}
		return newStore(t, conn, db)
	}},
	{"preparestmt", func(t *testing.T, db *gorm.DB) *auditstore.Store {
		s, err := auditgorm.NewStore(db.Session(&gorm.Session{PrepareStmt: true}))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

func newStore(t *testing.T, conn auditstore.DBTX, db *gorm.DB) *auditstore.Store {
	t.Helper()
	s, err := auditstore.New(conn, dialectOf(t, db.Dialector.Name()))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A transaction that inserted an entry before a flush's count and commits
// after it: its entry has an id below the highest one counted. CountMax
// waits for it to end, so that the count includes its entry and the flush
// deletes exactly what was counted. Before, the count left it out and the
// flush pinned to the highest id deleted it uncounted. On PostgreSQL the
// wait holds no other write back.
func TestCountMaxWaitsForOpenWriters(t *testing.T) {
	t.Parallel()
	for _, kind := range settleStores {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
				ctx := context.Background()
				tx, inTx := openWriter(t, db)
				s := kind.open(t, db)
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
				if db.Dialector.Name() == "postgres" {
					// Another writer goes on while the count waits.
					sqlDB, _ := db.DB()
					other := []auditlog.Entry{{Model: "other", ObjectPK: "3", ObjectRepr: "x"}}
					if err := newStore(t, sqlDB, db).Insert(ctx, other); err != nil {
						t.Fatal(err)
					}
				}
				// Past the first of MySQL's one-second tries.
				select {
				case c := <-done:
					t.Fatalf("CountMax returned %+v while a transaction writing entries was open", c)
				case err := <-errs:
					t.Fatal(err)
				case <-time.After(1500 * time.Millisecond):
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
		})
	}
}

// A transaction writing entries that stays open makes CountMax refuse with
// ErrUnsettled after its wait, instead of a count the flush would not keep.
func TestCountMaxRefusesWhileAWriterStaysOpen(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		tx, inTx := openWriter(t, db)
		sqlDB, _ := db.DB()
		s := newStore(t, sqlDB, db)
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

// On PostgreSQL a VACUUM or ANALYZE of the entries table (SHARE UPDATE
// EXCLUSIVE) writes no entries: the count does not wait for it.
func TestCountMaxIgnoresMaintenance(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		sqlDB := onlyOn(t, db, "postgres", "PostgreSQL's maintenance lock")
		ctx := context.Background()
		s := newStore(t, sqlDB, db)
		auditstore.SetSettleWithin(s, 700*time.Millisecond)
		tx, err := sqlDB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.ExecContext(ctx, "LOCK TABLE "+auditstore.Table+" IN SHARE UPDATE EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CountMax(ctx, auditstore.Filter{}); err != nil {
			t.Fatalf("CountMax during a maintenance lock: %v", err)
		}
	})
}

// onlyOn skips t unless db is the named dialect (why: what the test is
// about), and returns db's pool.
func onlyOn(t *testing.T, db *gorm.DB, dialect, why string) *sql.DB {
	t.Helper()
	if db.Dialector.Name() != dialect {
		t.Skip(why)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	return sqlDB
}

// openWriter returns a transaction left open and a store over it: a writer
// of entries CountMax must wait for. It skips SQLite, which serialises its
// writers (an open write transaction's entries get ids above every
// committed one).
func openWriter(t *testing.T, db *gorm.DB) (*sql.Tx, *auditstore.Store) {
	t.Helper()
	if db.Dialector.Name() == "sqlite" {
		t.Skip("SQLite serialises its writers: an open write transaction's entries get ids above every committed one")
	}
	sqlDB, _ := db.DB()
	tx, err := sqlDB.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx, newStore(t, tx, db)
}

// On MySQL the count's LOCK TABLES would commit a transaction open on the
// store's connection: over such a connection the count is plain, and the
// transaction is still the caller's to roll back.
func TestCountMaxLeavesAConnectionsTransactionOpen(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		sqlDB := onlyOn(t, db, "mysql", "MySQL's LOCK TABLES")
		ctx := context.Background()
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		s := newStore(t, conn, db)
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(ctx, []auditlog.Entry{{Model: "uncommitted", ObjectPK: "1", ObjectRepr: "x"}}); err != nil {
			t.Fatal(err)
		}
		if n, _, err := s.CountMax(ctx, auditstore.Filter{Model: "uncommitted"}); err != nil || n != 1 {
			t.Fatalf("CountMax in the connection's transaction: %d, %v; want 1", n, err)
		}
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		if n, err := newStore(t, sqlDB, db).Count(ctx, auditstore.Filter{Model: "uncommitted"}); err != nil || n != 0 {
			t.Fatalf("%d entries after the rollback (%v): the count committed the caller's transaction", n, err)
		}
	})
}

// A sequence that hands each session a block of ids (CACHE 100) gives an
// entry written after a count an id below the highest counted: a flush up
// to that id deleted it, more than was confirmed. The count is refused
// with what to do.
func TestCountMaxRefusesIDsHandedOutOfOrder(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "postgres")
	ctx := context.Background()
	sqlDB, _ := db.DB()
	if err := auditstore.Migrate(ctx, sqlDB, auditstore.Postgres); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, sqlDB, db)
	if err := s.Insert(ctx, []auditlog.Entry{{Model: "m", ObjectPK: "1", ObjectRepr: "x"}}); err != nil {
		t.Fatal(err)
	}
	var seq string
	if err := sqlDB.QueryRowContext(ctx, "SELECT pg_get_serial_sequence('auditlog_entries', 'id')").Scan(&seq); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cache int
		ok    bool
	}{{100, false}, {1, true}} {
		if _, err := sqlDB.ExecContext(ctx, "ALTER SEQUENCE "+seq+" CACHE "+strconv.Itoa(c.cache)); err != nil {
			t.Fatal(err)
		}
		n, _, err := s.CountMax(ctx, auditstore.Filter{})
		switch {
		case c.ok && (err != nil || n != 1):
			t.Errorf("CACHE %d: %d, %v", c.cache, n, err)
		case !c.ok && (!errors.Is(err, auditstore.ErrIDsOutOfOrder) || !strings.Contains(err.Error(), "CACHE 1")):
			t.Errorf("CACHE %d: %d, %v; want ErrIDsOutOfOrder", c.cache, n, err)
		}
	}
	// A sequence no column owns, the column's default taking ids from it.
	for _, q := range []string{
		"ALTER TABLE auditlog_entries ALTER COLUMN id DROP IDENTITY IF EXISTS",
		"ALTER TABLE auditlog_entries ALTER COLUMN id DROP DEFAULT",
		"CREATE SEQUENCE other_ids START 100 CACHE 50",
		"ALTER TABLE auditlog_entries ALTER COLUMN id SET DEFAULT nextval('other_ids')",
	} {
		if _, err := sqlDB.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, _, err := s.CountMax(ctx, auditstore.Filter{}); !errors.Is(err, auditstore.ErrIDsOutOfOrder) || !strings.Contains(err.Error(), "other_ids") {
		t.Errorf("a default's sequence of CACHE 50: %v", err)
	}
}

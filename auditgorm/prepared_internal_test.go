package auditgorm

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TestPreparedBudgets: a pool prepares at most budgets[k] texts of each
// kind, each budget apart, no text of many arguments unless it is a
// batch's, none that failed preparedTries times, and no text but a batch's
// before its second run.
func TestPreparedBudgets(t *testing.T) {
	ps := &preparing{}
	c := &stmtCache{wanted: map[string]textKind{}, seen: map[string]struct{}{}, tries: map[string]int{}, txStmts: map[txKey]*sql.Stmt{}}
	// Run twice, as a text must be to be noted.
	want := func(text string, n int, k textKind) {
		ps.want(c, text, n, k)
		ps.want(c, text, n, k)
	}
	ps.want(c, "once", 1, kindOwn)
	ps.want(c, "once write", 1, kindWrite)
	ps.want(c, "once batch", 1000, kindBatch)
	if len(c.wanted) != 1 || c.wanted["once batch"] != kindBatch {
		t.Fatalf("wanted %v after one run of each, want only the batch's text", c.wanted)
	}
	c.wanted = map[string]textKind{}
	count := func(k textKind) int32 {
		n := int32(0)
		for _, wk := range c.wanted {
			if wk == k {
				n++
			}
		}
		return n
	}
	for k := range kinds {
		args := 1
		if k == kindBatch {
			args = 1000
		}
		for i := range budgets[k] + 10 {
			want(fmt.Sprintf("%d %d", k, i), args, k)
		}
	}
	for k := range kinds {
		if got := count(k); got != budgets[k] {
			t.Fatalf("%d texts of kind %d wanted, want %d", got, k, budgets[k])
		}
	}
	c.wanted = map[string]textKind{}
	want("many", maxPreparedArgs+1, kindOwn)
	want("many write", maxPreparedArgs+1, kindWrite)
	c.tries["failed"] = preparedTries
	want("failed", 1, kindOwn)
	want("few", maxPreparedArgs, kindOwn)
	if len(c.wanted) != 1 || !ps.wanted.Load() {
		t.Fatalf("wanted %v, want only the text of %d arguments", c.wanted, maxPreparedArgs)
	}
	// Prepared texts take their budget's places, and only theirs.
	c.wanted = map[string]textKind{}
	c.prepared[kindWrite].Store(budgets[kindWrite])
	want("one more write", 1, kindWrite)
	want("own", 1, kindOwn)
	want("batch", 1000, kindBatch)
	if len(c.wanted) != 2 || c.wanted["own"] != kindOwn || c.wanted["batch"] != kindBatch {
		t.Fatalf("wanted %v, want only the plugin's own text and the batch's", c.wanted)
	}
	// What is remembered of texts run once, or failed, is bounded.
	for i := range 3 * maxRemembered {
		ps.want(c, fmt.Sprintf("one-off %d", i), 1, kindOwn)
	}
	if len(c.seen) > maxRemembered {
		t.Fatalf("%d texts remembered as run once", len(c.seen))
	}
}

// toldTx is a wrapper's transaction that asks to be told of prepared runs;
// quietTx one that does not.
type toldTx struct{ quietTx }

func (toldTx) RanPrepared(context.Context, string) {}

type quietTx struct{ *sql.Tx }

func (quietTx) GetDBConn() (*sql.DB, error) { return nil, nil }

// TestPreparesOn: statements are prepared only where no wrapper is gone
// around unawares: on a *sql.Tx, GORM's PrepareStmt transaction over one,
// and a wrapper's transaction that asks to be told (RanPrepared).
func TestPreparesOn(t *testing.T) {
	t.Parallel()
	sqlDB, err := testdb.Open(t, "sqlite").DB()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sqlDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, c := range []struct {
		name string
		conn gorm.ConnPool
		want bool
	}{
		{"sql.Tx", tx, true},
		{"PrepareStmt over sql.Tx", &gorm.PreparedStmtTX{Tx: tx}, true},
		{"wrapper told", toldTx{quietTx{tx}}, true},
		{"wrapper not told", quietTx{tx}, false},
		{"PrepareStmt over a wrapper told", &gorm.PreparedStmtTX{Tx: toldTx{quietTx{tx}}}, false},
		{"no transaction", sqlDB, false},
	} {
		if got := preparesOn(c.conn); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A pool's SQLite library is asked its limit of bind variables with the
// first texts it prepares, and batches are cut to it from then on.
func TestMaxArgsAskedOnce(t *testing.T) {
	t.Parallel()
	db := testdb.OpenSQLiteFile(t, t.TempDir()+"/v.db", &gorm.Config{})
	pool, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	ps := &preparing{}
	c := ps.cacheOf(pool)
	if got := (preparedConn{c: c}).MaxArgs(); got != oldMaxVariables {
		t.Fatalf("MaxArgs before the library was asked: %d", got)
	}
	ps.want(c, "SELECT 1", 0, kindBatch)
	ps.prepareWanted(context.Background())
	if got := (preparedConn{c: c}).MaxArgs(); got != newMaxVariables {
		t.Fatalf("MaxArgs: %d", got) // every library the drivers bundle is 3.32 or later
	}
}

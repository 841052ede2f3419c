package auditgorm

import (
	"database/sql"
	"fmt"
	"testing"
)

// TestPreparedBudgets: a pool prepares at most budgets[k] texts of each
// kind, each budget apart, no text of many arguments unless it is a
// batch's, and none that failed preparedTries times.
func TestPreparedBudgets(t *testing.T) {
	ps := &preparing{}
	c := &stmtCache{wanted: map[string]textKind{}, tries: map[string]int{}, txStmts: map[txKey]*sql.Stmt{}}
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
			ps.want(c, fmt.Sprintf("%d %d", k, i), args, k)
		}
	}
	for k := range kinds {
		if got := count(k); got != budgets[k] {
			t.Fatalf("%d texts of kind %d wanted, want %d", got, k, budgets[k])
		}
	}
	c.wanted = map[string]textKind{}
	ps.want(c, "many", maxPreparedArgs+1, kindOwn)
	ps.want(c, "many write", maxPreparedArgs+1, kindWrite)
	c.tries["failed"] = preparedTries
	ps.want(c, "failed", 1, kindOwn)
	ps.want(c, "few", maxPreparedArgs, kindOwn)
	if len(c.wanted) != 1 || !ps.wanted.Load() {
		t.Fatalf("wanted %v, want only the text of %d arguments", c.wanted, maxPreparedArgs)
	}
	// Prepared texts take their budget's places, and only theirs.
	c.wanted = map[string]textKind{}
	c.prepared[kindWrite].Store(budgets[kindWrite])
	ps.want(c, "one more write", 1, kindWrite)
	ps.want(c, "own", 1, kindOwn)
	ps.want(c, "batch", 1000, kindBatch)
	if len(c.wanted) != 2 || c.wanted["own"] != kindOwn || c.wanted["batch"] != kindBatch {
		t.Fatalf("wanted %v, want only the plugin's own text and the batch's", c.wanted)
	}
}

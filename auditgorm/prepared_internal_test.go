package auditgorm

import (
	"database/sql"
	"fmt"
	"testing"
)

// TestPreparedBudgets: a pool prepares at most maxPrepared texts of few
// arguments and maxPreparedBatches batch texts, each budget apart, no text
// of many arguments unless it repeats, and none that failed preparedTries
// times.
func TestPreparedBudgets(t *testing.T) {
	ps := &preparing{}
	c := &stmtCache{wanted: map[string]bool{}, tries: map[string]int{}, txStmts: map[txKey]*sql.Stmt{}}
	count := func(batch bool) int {
		n := 0
		for _, b := range c.wanted {
			if b == batch {
				n++
			}
		}
		return n
	}
	for i := range maxPrepared + 10 {
		ps.want(c, fmt.Sprintf("SELECT %d", i), 1, false)
	}
	for i := range maxPreparedBatches + 10 {
		ps.want(c, fmt.Sprintf("INSERT %d", i), 1000, true)
	}
	if got := count(false); got != maxPrepared {
		t.Fatalf("%d texts of few arguments wanted, want %d", got, maxPrepared)
	}
	if got := count(true); got != maxPreparedBatches {
		t.Fatalf("%d batch texts wanted, want %d", got, maxPreparedBatches)
	}
	c.wanted = map[string]bool{}
	ps.want(c, "many", maxPreparedArgs+1, false)
	c.tries["failed"] = preparedTries
	ps.want(c, "failed", 1, false)
	ps.want(c, "few", maxPreparedArgs, false)
	if len(c.wanted) != 1 || !ps.wanted.Load() {
		t.Fatalf("wanted %v, want only the text of %d arguments", c.wanted, maxPreparedArgs)
	}
	// Prepared texts take their budget's places.
	c.wanted = map[string]bool{}
	c.count.Store(maxPrepared)
	ps.want(c, "one more", 1, false)
	ps.want(c, "batch", 1000, true)
	if len(c.wanted) != 1 || !c.wanted["batch"] {
		t.Fatalf("wanted %v, want only the batch text", c.wanted)
	}
}

//go:build !auditlog_mattn

package auditgorm

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// A library whose limit is lower than its version's default is asked, not
// guessed from the version: its pool's MaxArgs is 999, so batches are cut
// to it from the start (auditstore's fallback is for a connection alone).
func TestMaxArgsOfALoweredLibrary(t *testing.T) {
	t.Parallel()
	db, err := driver.Open("file:"+filepath.Join(t.TempDir(), "x.db"), func(c *sqlite3.Conn) error {
		c.Limit(sqlite3.LIMIT_VARIABLE_NUMBER, 999)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Ping(); err != nil { // an idle connection to ask on
		t.Fatal(err)
	}
	ps := &preparing{}
	c := ps.cacheOf(db)
	ps.want(c, "SELECT 1", 0, kindBatch)
	ps.prepareWanted(context.Background())
	if got := c.maxArgs.Load(); got != oldMaxVariables {
		t.Fatalf("MaxArgs of a library limited to 999 variables: %d", got)
	}
}

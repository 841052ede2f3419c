//go:build !auditlog_mattn

package auditgorm_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
)

// A library whose limit of bind variables is lower than its version's
// default (a build with SQLITE_MAX_VARIABLE_NUMBER=999, or a connection
// that lowered it) has its batches cut to that limit: nothing fails. (The
// ncruces driver links in only without the mattn tag, which registers the
// same database/sql name.)
func TestLoweredVariableLimit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.db")
	sqlDB, err := driver.Open("file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_txlock=immediate", func(c *sqlite3.Conn) error {
		c.Limit(sqlite3.LIMIT_VARIABLE_NUMBER, 999)
		return nil
	})
	must(t, err)
	t.Cleanup(func() { _ = sqlDB.Close() })
	db, err := gorm.Open(gormlite.OpenDB(sqlDB), &gorm.Config{})
	must(t, err)
	must(t, auditgorm.Migrate(context.Background(), db))
	reg := setup(t, db, &Counter{})
	must(t, reg.Register(&Counter{}))
	for i := 0; i < 6; i++ { // the statements are prepared after the first writes
		rows := make([]Counter, 300)
		if err := db.Create(&rows).Error; err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		must(t, db.Create(&Counter{N: i}).Error)
	}
	expectCount(t, db, 6*301)
}

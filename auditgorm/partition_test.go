package auditgorm_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// On a table partitioned by month, every write path's entries get their
// ids from the parent's identity, the entries written by the write's own
// statement (WITH … INSERT INTO auditlog_entries … RETURNING) included, and
// land in the current month's partition.
func TestPartitionedEntriesTable(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	ctx := context.Background()
	db := testdb.OpenEmpty(t, "postgres")
	sqlDB, err := db.DB()
	must(t, err)
	must(t, auditstore.MigrateWith(ctx, sqlDB, auditstore.Postgres, auditstore.MigrateOptions{Partition: auditstore.PartitionMonthly}))
	var statements atomic.Int64
	auditgorm.SetTestHookSQLEntries(func(int64, int) { statements.Add(1) })
	defer auditgorm.SetTestHookSQLEntries(nil)
	reg := setup(t, db, &Counter{})
	must(t, reg.Register(&Counter{}))
	cs := []Counter{{N: 1}, {N: 2}, {N: 3}}
	must(t, db.Create(&cs).Error)
	must(t, db.Create(&Counter{N: 4}).Error)
	must(t, db.Model(&Counter{}).Where("n < ?", 3).Update("n", 10).Error)
	must(t, db.Delete(&Counter{}, cs[2].ID).Error)
	if statements.Load() == 0 {
		t.Fatal("no entry was written by the write's own statement")
	}
	es := expectCount(t, db, 4+2+1)
	for i, e := range es {
		if e.ID != int64(i+1) {
			t.Fatalf("entry %d has id %d", i, e.ID)
		}
	}
	var other int
	must(t, db.Raw("SELECT COUNT(*) FROM auditlog_entries WHERE tableoid <> to_regclass('auditlog_entries_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM'))").Scan(&other).Error)
	if other != 0 {
		t.Fatalf("%d entries outside the current month's partition", other)
	}
}

package auditgorm_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TestNestedAssociationsInGORMTransaction: the join rows GORM saves after
// the owner's write, in GORM's default transaction, are captured without a
// savepoint of their own (the owner's statement fails with them and its
// transaction is rolled back); in a caller's transaction they keep it. A
// failed capture of a join row leaves neither the row nor the owner's
// change, in both.
func TestNestedAssociationsInGORMTransaction(t *testing.T) {
	for _, kind := range testdb.Names() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, kind)
			reg := auditlog.NewRegistry()
			must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
			must(t, db.AutoMigrate(&Touched{}, &TouchedTag{}))
			must(t, reg.Register(&Touched{}, auditlog.Exclude("Hits"), auditlog.M2M("Tags")))
			x := Touched{Name: "x"}
			must(t, db.Create(&x).Error)
			tags := []TouchedTag{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
			must(t, db.Create(&tags).Error)
			var savepoints atomic.Int64
			counter.BeforeStatement(func(_ context.Context, q string) {
				if strings.HasPrefix(q, "SAVEPOINT") {
					savepoints.Add(1)
				}
			})
			defer counter.BeforeStatement(nil)
			links := func() int64 {
				var n int64
				must(t, db.Table("touched_links").Count(&n).Error)
				return n
			}
			// In GORM's default transaction: no savepoint.
			must(t, db.Model(&x).Association("Tags").Append(&tags[0]))
			if n := savepoints.Load(); n != 0 {
				t.Errorf("%d savepoints in GORM's transaction", n)
			}
			// In a caller's transaction, on SQLite: the savepoint stays.
			must(t, db.Transaction(func(tx *gorm.DB) error {
				return tx.Model(&x).Association("Tags").Append(&tags[1])
			}))
			if n := savepoints.Load(); kind == "sqlite" && n == 0 {
				t.Error("no savepoint in the caller's transaction")
			}
			if links() != 2 {
				t.Fatalf("%d links, want 2", links())
			}
			// The entries table gone: the join row's capture fails, and
			// nothing of the statement stays, in GORM's transaction and in
			// a caller's that commits after the error.
			must(t, db.Exec("ALTER TABLE auditlog_entries RENAME TO auditlog_entries_away").Error)
			errGORM := db.Model(&x).Association("Tags").Append(&tags[2])
			afterGORM := links()
			// In a caller's transaction that commits after the error:
			// SQLite rolls back to the savepoint, PostgreSQL aborts the
			// transaction (its COMMIT fails); MariaDB keeps the join row, a
			// refusal after the write that DESIGN.md lists as not covered.
			var errCaller error
			errCommit := db.Transaction(func(tx *gorm.DB) error {
				errCaller = tx.Model(&x).Association("Tags").Append(&tags[3])
				return nil // the caller logs the error and commits
			})
			must(t, db.Exec("ALTER TABLE auditlog_entries_away RENAME TO auditlog_entries").Error)
			if errGORM == nil || errCaller == nil || (kind == "postgres") != (errCommit != nil) {
				t.Fatalf("appends without an entries table: %v, %v, commit %v", errGORM, errCaller, errCommit)
			}
			if afterGORM != 2 {
				t.Errorf("%d links after the failed append in GORM's transaction, want 2", afterGORM)
			}
			if n := links(); n != 2 && kind != "mysql" {
				t.Errorf("%d links after the failed append in the caller's transaction, want 2", n)
			}
		})
	}
}

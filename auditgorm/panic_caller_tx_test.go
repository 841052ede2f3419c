package auditgorm_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Fuse's String panics on the name "boom": after the write, on the row
// read back.
type Fuse struct {
	ID   uint
	Name string
}

func (f Fuse) String() string {
	if f.Name == "boom" {
		panic("fuse")
	}
	return f.Name
}

// A capture that panics after its write, in the caller's transaction,
// where the caller recovers and commits: the write is not committed
// without its entry (SQLite: the capture's savepoint is rolled back;
// PostgreSQL: the transaction is aborted, so its COMMIT rolls back).
// MariaDB has neither, and the README says so.
func TestPanicRecoveredInACallersTransaction(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "mysql" {
			t.Skip("MariaDB: a write refused or panicking after it ran stays in the caller's transaction (README)")
		}
		reg := setup(t, db, &Fuse{})
		must(t, reg.Register(&Fuse{}))
		f := Fuse{Name: "ok"}
		must(t, db.Create(&f).Error)
		_ = db.Transaction(func(tx *gorm.DB) error {
			func() {
				defer func() { _ = recover() }()
				_ = tx.Model(&Fuse{ID: f.ID}).Update("name", "boom").Error
			}()
			return nil
		})
		var got Fuse
		must(t, db.First(&got, f.ID).Error)
		if n := len(entries(t, db)); got.Name == "boom" && n == 1 {
			t.Fatalf("the update was committed without its entry")
		}
	})
}

// Extra data that does not encode (a NaN) fails the write before it runs,
// so that not even a caller's MariaDB transaction holds the write: it ran,
// then failed on its entry.
func TestExtraDataThatDoesNotEncodeFailsBeforeTheWrite(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Fuse{})
		must(t, reg.Register(&Fuse{}))
		f := Fuse{Name: "a"}
		must(t, db.Create(&f).Error)
		bad := auditlog.WithExtra(context.Background(), map[string]any{"ratio": math.NaN()})
		tx := db.Begin()
		if err := tx.WithContext(bad).Model(&Fuse{ID: f.ID}).Update("name", "b").Error; err == nil || !strings.Contains(err.Error(), "NaN") {
			t.Fatalf("update with a NaN in its extra data: %v", err)
		}
		if err := tx.WithContext(bad).Create(&Fuse{Name: "c"}).Error; err == nil {
			t.Fatal("create with a NaN in its extra data")
		}
		if err := tx.WithContext(bad).Delete(&Fuse{ID: f.ID}).Error; err == nil {
			t.Fatal("delete with a NaN in its extra data")
		}
		if db.Dialector.Name() != "postgres" { // PostgreSQL's transaction failed with the write
			must(t, tx.Commit().Error)
		} else {
			tx.Rollback()
		}
		var rows []Fuse
		must(t, db.Order("id").Find(&rows).Error)
		if len(rows) != 1 || rows[0].Name != "a" || len(entries(t, db)) != 1 {
			t.Fatalf("rows %+v, %d entries", rows, len(entries(t, db)))
		}
	})
}

package auditgorm_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type ZMove struct {
	ID        uint
	G         int
	N         int
	DeletedAt gorm.DeletedAt
}

// TestBulkWriteWhileAMatchedRowsKeyMoves: on PostgreSQL, a bulk update (or
// soft delete) that waited for a row whose key another transaction
// changed skipped that row silently: its read locked the row as it is now,
// and the update, joining on the key as it was, found nothing. Plain
// PostgreSQL updates the row. The statement now fails whole, with an error
// that says so, instead of writing less than it was asked.
func TestBulkWriteWhileAMatchedRowsKeyMoves(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	for _, name := range []string{"update", "soft delete", "update, separate read", "update of the key", "only row"} {
		t.Run(name, func(t *testing.T) {
			db := testdb.Open(t, "postgres")
			reg := auditlog.NewRegistry()
			must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, SeparatePreSelect: name == "update, separate read"})))
			must(t, reg.Register(&ZMove{}))
			must(t, db.AutoMigrate(&ZMove{}))
			if name == "only row" {
				must(t, db.Create(&ZMove{ID: 1}).Error)
			} else {
				must(t, db.Create(&[]ZMove{{ID: 1}, {ID: 2}}).Error)
			}
			other := db.Begin()
			defer other.Rollback()
			must(t, other.Model(&ZMove{}).Where("id = ?", 1).Update("id", 101).Error) // holds the row's lock
			done := make(chan *gorm.DB, 1)
			go func() {
				switch name {
				case "soft delete":
					done <- db.Where("g = ?", 0).Delete(&ZMove{})
				case "update of the key":
					// Entries left to the client (a key change).
					done <- db.Model(&ZMove{}).Where("g = ?", 0).Updates(map[string]any{"id": gorm.Expr("id + 1000"), "n": 5})
				default:
					done <- db.Model(&ZMove{}).Where("g = ?", 0).Update("n", 5)
				}
			}()
			time.Sleep(300 * time.Millisecond) // the write waits for the lock
			must(t, other.Commit().Error)
			r := <-done
			t.Logf("rows affected %d, error %v", r.RowsAffected, r.Error)
			var live int64
			must(t, db.Model(&ZMove{}).Where("n = 5").Count(&live).Error)
			var deleted int64
			must(t, db.Unscoped().Model(&ZMove{}).Where("deleted_at IS NOT NULL").Count(&deleted).Error)
			switch {
			case r.Error == nil && r.RowsAffected == 2 && (live == 2 || deleted == 2), name == "only row" && r.Error == nil && live == 1:
				// As without auditing.
			case errors.Is(r.Error, auditgorm.ErrConcurrentKeyChange) && live == 0 && deleted == 0:
				// Refused whole.
			default:
				t.Fatalf("rows affected %d, error %v; %d rows updated, %d deleted", r.RowsAffected, r.Error, live, deleted)
			}
			checkEntriesMatch(t, db)
		})
	}
}

// checkEntriesMatch: the update and delete entries are as many as the rows
// the table shows changed, and the key's move.
func checkEntriesMatch(t *testing.T, db *gorm.DB) {
	t.Helper()
	var changed int64
	must(t, db.Unscoped().Model(&ZMove{}).Where("n = 5 OR deleted_at IS NOT NULL").Count(&changed).Error)
	var es int64
	must(t, db.Table("auditlog_entries").Where("action <> ?", int(auditlog.ActionCreate)).Count(&es).Error)
	if es != changed+1 {
		t.Errorf("%d entries for %d rows changed and a key moved", es, changed)
	}
}

// NullFirst's first column may be null: the update that reads its rows
// back tells a row from none by its key, never null.
type NullFirst struct {
	Note *string
	ID   uint
	N    int
}

// TestKeyUpdateOfRowsWithANullFirstColumn: on PostgreSQL an update whose
// entries are left to the client (a key change) returns its rows after
// the check of their count, with a row of nulls where none were updated;
// a row whose first column is null is a row.
func TestKeyUpdateOfRowsWithANullFirstColumn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &NullFirst{})
		must(t, reg.Register(&NullFirst{}))
		must(t, db.Create(&[]NullFirst{{ID: 1}, {ID: 2}}).Error)
		r := db.Model(&NullFirst{}).Where("n = ?", 0).Updates(map[string]any{"id": gorm.Expr("id + 100"), "n": 1})
		must(t, r.Error)
		if r.RowsAffected != 2 {
			t.Errorf("rows affected %d", r.RowsAffected)
		}
		expectCount(t, db, 4)
		must(t, db.Model(&NullFirst{}).Where("n = ?", 5).Update("n", 6).Error) // none
		expectCount(t, db, 4)
	})
}

// TestOneObjectUpdateWhileItsKeyMoves: an update of one object (its key
// as the condition) whose row's key another transaction changed matches
// nothing, with PostgreSQL alone as with the plugin: no error, no entry.
func TestOneObjectUpdateWhileItsKeyMoves(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	db := testdb.Open(t, "postgres")
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
	must(t, reg.Register(&ZMove{}))
	must(t, db.AutoMigrate(&ZMove{}))
	must(t, db.Create(&ZMove{ID: 1}).Error)
	other := db.Begin()
	defer other.Rollback()
	must(t, other.Model(&ZMove{}).Where("id = ?", 1).Update("id", 101).Error)
	done := make(chan *gorm.DB, 1)
	go func() { done <- db.Model(&ZMove{ID: 1}).Update("n", 5) }()
	time.Sleep(300 * time.Millisecond)
	must(t, other.Commit().Error)
	r := <-done
	if r.Error != nil || r.RowsAffected != 0 {
		t.Fatalf("rows affected %d, error %v", r.RowsAffected, r.Error)
	}
	checkEntriesMatch(t, db)
}

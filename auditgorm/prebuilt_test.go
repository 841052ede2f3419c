package auditgorm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A create whose SQL was built before the plugin saw it (Raw(…).Create) is
// refused with an error, as such updates and deletes are: its rows are
// not the object's. It panicked inside GORM's transaction, which was never
// rolled back: the connection stayed in use, SQLite stayed locked.
func TestPrebuiltCreateIsRefused(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Counter{})
		must(t, reg.Register(&Counter{}))
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Raw(INSERT).Create panicked: %v", r)
				}
			}()
			err = db.Raw("INSERT INTO counters (n) VALUES (?)", 7).Create(&Counter{N: 1}).Error
		}()
		if err == nil || !strings.Contains(err.Error(), "built before auditing could read it") {
			t.Errorf("Raw(INSERT).Create: %v", err)
		}
		leaksNothing(t, db, func(db *gorm.DB) error { return db.Create(&Counter{N: 2}).Error })
		expectCount(t, db, 1) // the create after it
		var n int64
		must(t, db.Model(&Counter{}).Count(&n).Error)
		if n != 1 {
			t.Errorf("%d rows, want the one created after the refusal", n)
		}
	})
}

// A panic inside the capture (here the model's String method, user code
// the plugin calls for the entry's repr after the write) in GORM's default
// transaction rolls that transaction back before it goes on: GORM's
// commit-or-rollback callback never runs after a panic, so the connection
// stayed in use, holding its locks (on SQLite the database's), and the
// row was left in an open transaction.
func TestPanicInCaptureRollsBackGORMsTransaction(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Fragile{})
		must(t, reg.Register(&Fragile{}))
		for range 3 {
			func() {
				defer func() {
					if r := recover(); r != "boom" {
						t.Errorf("recovered %v, want the String method's panic", r)
					}
				}()
				_ = db.Create(&Fragile{Name: "boom"}).Error
			}()
		}
		leaksNothing(t, db, func(db *gorm.DB) error { return db.Create(&Fragile{Name: "ok"}).Error })
		var n int64
		must(t, db.Model(&Fragile{}).Count(&n).Error)
		if n != 1 {
			t.Errorf("%d rows, want 1: the panicking creates are rolled back", n)
		}
		expectCount(t, db, 1)
	})
}

// leaksNothing checks that no connection is left in use and that the next
// write, write, goes through in time.
func leaksNothing(t *testing.T, db *gorm.DB, write func(*gorm.DB) error) {
	t.Helper()
	sqlDB, err := db.DB()
	must(t, err)
	// The rollback after a panic may end just after it: wait for the
	// connection, up to a bound that only a leak reaches.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for sqlDB.Stats().InUse != 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if st := sqlDB.Stats(); st.InUse != 0 {
		t.Errorf("%d connections still in use", st.InUse)
	}
	if err := write(db.WithContext(ctx)); err != nil {
		t.Errorf("the next write: %v", err)
	}
}

// Fragile's String method panics for the name "boom".
type Fragile struct {
	ID   uint
	Name string
}

func (f Fragile) String() string {
	if f.Name == "boom" {
		panic("boom")
	}
	return f.Name
}

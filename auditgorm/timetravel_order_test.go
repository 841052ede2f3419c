package auditgorm_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// An object's states follow its entries in id order, the order its writes
// held its row, whatever the clocks that dated them: two application
// servers whose clocks differ by ten seconds made the later write's entry
// the earlier, and time travel showed the first value as the current one.
func TestStatesFollowTheEntriesWhateverTheClocks(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		var skew atomic.Int64
		skew.Store(int64(10 * time.Second))
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})))
		must(t, db.AutoMigrate(&Ctr{}))
		must(t, reg.Register(&Ctr{}))
		ctx := context.Background()
		c := Ctr{ID: 1, N: 1}
		must(t, db.Create(&c).Error) // a server ten seconds ahead
		skew.Store(0)
		must(t, db.Model(&c).Update("n", 2).Error) // a server on time, after it
		got := Ctr{ID: 1}
		if _, err := auditgorm.AsOf(ctx, db, &got, time.Now().Add(time.Minute)); err != nil || got.N != 2 {
			t.Fatalf("AsOf a minute on: n=%d (%v), the table holds 2", got.N, err)
		}
		tl, err := auditgorm.Timeline(ctx, db, &Ctr{ID: 1})
		must(t, err)
		if last := tl[len(tl)-1]; string(last.Values["n"]) != "2" {
			t.Fatalf("the timeline's last state: n=%s, the table holds 2", last.Values["n"])
		}
	})
}

// Shelved has a soft delete.
type Shelved struct {
	ID        uint
	Code      string
	DeletedAt gorm.DeletedAt
}

// An object left soft deleted by an update (the revert of a revival) or a
// create (the restore of a row that was soft deleted when it was hard
// deleted) is deleted in time travel, as after a soft delete: only delete
// entries counted, and such an object was shown live.
func TestSoftDeletedByAnUpdateOrACreate(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Shelved{})
		must(t, reg.Register(&Shelved{}))
		ctx := context.Background()
		check := func(what string, id uint) {
			t.Helper()
			var row Shelved
			must(t, db.Unscoped().First(&row, id).Error)
			if !row.DeletedAt.Valid {
				t.Fatalf("%s: the row is live", what)
			}
			_, err := auditgorm.AsOf(ctx, db, &Shelved{ID: id}, time.Now().Add(time.Minute))
			var de *auditgorm.DeletedError
			if !errors.As(err, &de) || !de.Soft {
				t.Errorf("%s: AsOf of a soft-deleted row: %v", what, err)
			}
			tl, err := auditgorm.Timeline(ctx, db, &Shelved{ID: id})
			must(t, err)
			if last := tl[len(tl)-1]; !last.Deleted {
				t.Errorf("%s: the timeline's last state is live", what)
			}
		}
		a := Shelved{Code: "a"}
		must(t, db.Create(&a).Error)
		must(t, db.Delete(&a).Error)
		must(t, db.Unscoped().Model(&Shelved{}).Where("id = ?", a.ID).Update("deleted_at", nil).Error)
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		check("the revert of a revival", a.ID)
		b := Shelved{Code: "b"}
		must(t, db.Create(&b).Error)
		must(t, db.Delete(&b).Error)
		must(t, db.Unscoped().Delete(&Shelved{ID: b.ID}).Error)
		must(t, auditgorm.Restore(ctx, db, &Shelved{ID: b.ID}, auditgorm.RevertOptions{}))
		check("the restore of a row soft deleted before its hard delete", b.ID)
	})
}

// An object with a composite key that moved to another key is no longer
// at its old one, and the object moved there since is not shown with its
// values: time travel followed single keys only, and showed the line
// moved from (1,1) to (1,2) as still at (1,1), with the key (1,2).
func TestCompositeKeyMoves(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Line{})
		must(t, reg.Register(&Line{}))
		ctx := context.Background()
		must(t, db.Create(&Line{OrderID: 1, LineNo: 1, Qty: 5}).Error)
		must(t, db.Model(&Line{}).Where("order_id = ? AND line_no = ?", 1, 1).Update("line_no", 3).Error)
		later := time.Now().Add(time.Minute)
		_, err := auditgorm.AsOf(ctx, db, &Line{OrderID: 1, LineNo: 1}, later)
		var moved *auditgorm.KeyChangedError
		if !errors.As(err, &moved) || moved.To != "[1,3]" {
			t.Fatalf("AsOf (1,1) after it moved to (1,3): %v", err)
		}
		// Another line moves to (1,1): its values, never the first's.
		must(t, db.Create(&Line{OrderID: 1, LineNo: 2, Qty: 9}).Error)
		must(t, db.Model(&Line{}).Where("order_id = ? AND line_no = ?", 1, 2).Update("line_no", 1).Error)
		got := Line{OrderID: 1, LineNo: 1}
		if _, err := auditgorm.AsOf(ctx, db, &got, time.Now().Add(time.Minute)); err == nil && got.Qty == 5 {
			t.Fatalf("AsOf (1,1) now shows the first line's quantity: %+v", got)
		}
	})
}

// PayCard is masked when its entries are written, and unmasked later.
type PayCard struct {
	ID     uint
	Number string
}

// A value recorded under a mask no longer in force is unknown ("masked")
// in every state: a deleted object's and a timeline's too, not only a
// live AsOf's, which showed the masked text as the value.
func TestValuesRecordedMaskedAreUnknownInEveryState(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &PayCard{})
		must(t, reg.Register(&PayCard{}, auditlog.Mask("Number")))
		ctx := context.Background()
		c := PayCard{Number: "4222222222222222"}
		must(t, db.Create(&c).Error)
		must(t, db.Delete(&PayCard{ID: c.ID}).Error)
		must(t, reg.Reregister(&PayCard{})) // unmasked since
		st, err := auditgorm.AsOf(ctx, db, &PayCard{ID: c.ID}, time.Now().Add(time.Minute))
		var de *auditgorm.DeletedError
		if !errors.As(err, &de) {
			t.Fatalf("AsOf of a deleted card: %v", err)
		}
		if v, ok := st.Values["number"]; ok || st.Unknown["number"] != auditgorm.UnknownMasked {
			t.Fatalf("the deleted state's number: %s (unknown: %q)", v, st.Unknown["number"])
		}
		tl, err := auditgorm.Timeline(ctx, db, &PayCard{ID: c.ID})
		must(t, err)
		for _, st := range tl {
			if v, ok := st.Values["number"]; ok {
				t.Fatalf("a timeline state's number: %s", v)
			}
		}
	})
}

package auditgorm_test

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A revert acts on the object its entry recorded, followed through the
// key changes after it, not on whatever row holds the key the entry
// names. Before, object A's update (key 5) reverted after A moved to 7 and
// a new B took 5 wrote A's old value into B, without a conflict, as B held
// the value the entry left. Reverted now, the update is undone on A, with
// a conflict on the key unless forced; a create recorded under 5 after the
// entry, or a hard delete of A, ends A at 5 (ErrCannotRevert, ErrConflict).
// A correlation that moved the key and changed the object is undone
// newest first: the key back, then the change on the object at 5 again.
func TestRevertFollowsTheObjectNotItsOldKey(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		row := func(id uint) TTPlain {
			var p TTPlain
			must(t, db.First(&p, id).Error)
			return p
		}

		must(t, db.Create(&TTPlain{ID: 5, Name: "A", N: 1}).Error)
		must(t, db.Model(&TTPlain{ID: 5}).Update("n", 2).Error)
		upd := lastEntry(t, db)
		must(t, db.Model(&TTPlain{}).Where("id = ?", 5).Update("id", 7).Error)
		must(t, db.Create(&TTPlain{ID: 5, Name: "B", N: 2}).Error)
		// A is followed to 7: its key changed since, a conflict; B, at A's
		// old key, holds the value the entry left and is not A.
		err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{})
		if !errors.Is(err, auditgorm.ErrConflict) {
			t.Fatalf("revert of A's update after A moved: %v, want a conflict on the key", err)
		}
		must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Force: true}))
		if a, b := row(7), row(5); a.Name != "A" || a.N != 1 || b.Name != "B" || b.N != 2 {
			t.Fatalf("forced revert of A's update: A %+v, B %+v; want A's n back to 1, B as it was", a, b)
		}

		// An object that left its key without an entry (SQL outside
		// GORM), then another created there: which is the entry's object
		// cannot be told.
		must(t, db.Create(&TTPlain{ID: 30, Name: "E", N: 1}).Error)
		must(t, db.Model(&TTPlain{ID: 30}).Update("n", 2).Error)
		upd = lastEntry(t, db)
		must(t, db.Exec("UPDATE tt_plains SET id = 31 WHERE id = 30").Error)
		must(t, db.Create(&TTPlain{ID: 30, Name: "F", N: 2}).Error)
		err = auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Force: true})
		if !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Fatalf("revert with another object created at the key since: %v, want ErrCannotRevert", err)
		}
		if f := row(30); f.Name != "F" || f.N != 2 {
			t.Fatalf("F was written: %+v", f)
		}

		// A fresh object D: update it, move it, then revert the move and
		// the update as one correlation, newest first.
		ctxD := auditlog.WithCorrelationID(ctx, "d-job")
		must(t, db.Create(&TTPlain{ID: 20, Name: "D", N: 1}).Error)
		must(t, db.WithContext(ctxD).Model(&TTPlain{ID: 20}).Update("n", 5).Error)
		must(t, db.WithContext(ctxD).Model(&TTPlain{}).Where("id = ?", 20).Update("id", 21).Error)
		must(t, auditgorm.RevertCorrelation(ctx, db, "d-job", auditgorm.RevertOptions{}))
		if d := row(20); d.Name != "D" || d.N != 1 {
			t.Fatalf("D after the correlation's revert: %+v, want back at 20 with n 1", d)
		}

		// Moved and forced: the revert acts on the object at its key now.
		must(t, db.Model(&TTPlain{ID: 20}).Update("n", 6).Error)
		upd = lastEntry(t, db)
		must(t, db.Model(&TTPlain{}).Where("id = ?", 20).Update("id", 22).Error)
		must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Force: true}))
		if d := row(22); d.N != 1 {
			t.Fatalf("forced revert of D's update after D moved to 22: %+v, want n 1", d)
		}

		// Hard deleted since: nothing to revert on, forced or not.
		must(t, db.Model(&TTPlain{ID: 22}).Update("n", 7).Error)
		upd = lastEntry(t, db)
		must(t, db.Delete(&TTPlain{ID: 22}).Error)
		if err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrConflict) {
			t.Fatalf("revert of an update of an object deleted since: %v, want a conflict", err)
		}
		if err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Force: true}); !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Fatalf("forced revert of an update of an object deleted since: %v, want ErrCannotRevert", err)
		}
	})
}

// Forced, a revert with nothing to act on is an error, never a success
// that wrote nothing: a create whose object is gone, a delete whose key a
// row holds.
func TestForcedRevertWithNothingToActOn(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		p := TTPlain{Name: "a", N: 1}
		must(t, db.Create(&p).Error)
		cr := lastEntry(t, db)
		must(t, db.Delete(&TTPlain{ID: p.ID}).Error)
		if err := auditgorm.Revert(ctx, db, cr.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrConflict) {
			t.Fatalf("revert of a create whose object is gone: %v, want a conflict", err)
		}
		if err := auditgorm.Revert(ctx, db, cr.ID, auditgorm.RevertOptions{Force: true}); !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Fatalf("forced revert of a create whose object is gone: %v, want ErrCannotRevert", err)
		}

		must(t, db.Create(&TTPlain{ID: 5, Name: "first", N: 1}).Error)
		must(t, db.Delete(&TTPlain{ID: 5}).Error)
		del := lastEntry(t, db)
		must(t, db.Create(&TTPlain{ID: 5, Name: "second", N: 2}).Error)
		n := len(entries(t, db))
		if err := auditgorm.Revert(ctx, db, del.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrConflict) {
			t.Fatalf("revert of a delete whose key a row holds: %v, want a conflict", err)
		}
		if err := auditgorm.Revert(ctx, db, del.ID, auditgorm.RevertOptions{Force: true}); !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Fatalf("forced revert of a delete whose key a row holds: %v, want ErrCannotRevert", err)
		}
		if len(entries(t, db)) != n {
			t.Fatal("the refused reverts wrote entries")
		}
	})
}

// A field masked when its entries were written and unmasked since: their
// values are the mask's text, not the row's. A revert or a restore would
// write the mask text into the row, and AsOf showed it as the value; now
// they refuse (ErrCannotRevert; Restore takes the value in
// RevertOptions.Values), and AsOf lists the field as masked.
func TestValuesRecordedMaskedAreNotWrittenBack(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		must(t, reg.Register(&TTPlain{}, auditlog.Mask("Name")))
		ctx := context.Background()
		p := TTPlain{Name: "4111111111111111", N: 1}
		must(t, db.Create(&p).Error)
		must(t, db.Model(&p).Update("name", "5555444433332222").Error)
		upd := lastEntry(t, db)
		must(t, db.Create(&TTPlain{ID: 50, Name: "4000000000000002", N: 1}).Error)
		must(t, db.Delete(&TTPlain{ID: 50}).Error)
		must(t, reg.Register(&TTPlain{})) // unmasked since

		err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Force: true})
		if !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Fatalf("revert of a value recorded masked: %v, want ErrCannotRevert", err)
		}
		var got TTPlain
		must(t, db.First(&got, p.ID).Error)
		if got.Name != "5555444433332222" {
			t.Fatalf("the refused revert wrote %q", got.Name)
		}
		old := TTPlain{ID: p.ID}
		st, err := auditgorm.AsOf(ctx, db, &old, upd.Timestamp.Add(-1))
		if err != nil || old.Name != "" || st.Unknown["name"] != auditgorm.UnknownMasked {
			t.Fatalf("AsOf before the update: name %q, unknown %v, %v; want it unknown, masked", old.Name, st.Unknown, err)
		}

		err = auditgorm.Restore(ctx, db, &TTPlain{ID: 50}, auditgorm.RevertOptions{})
		if !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Fatalf("restore of a value recorded masked: %v, want ErrCannotRevert", err)
		}
		must(t, auditgorm.Restore(ctx, db, &TTPlain{ID: 50}, auditgorm.RevertOptions{Values: map[string]any{"Name": "4000000000000002"}}))
		got = TTPlain{}
		must(t, db.First(&got, 50).Error)
		if got.Name != "4000000000000002" || got.N != 1 {
			t.Fatalf("restored %+v", got)
		}
	})
}

type RVEvoV1 struct {
	ID     uint
	Name   string `gorm:"size:32"`
	Legacy string `gorm:"size:32"`
}

func (RVEvoV1) TableName() string { return "rv_evos" }

type RVEvoV2 struct {
	ID   uint
	Name string `gorm:"size:32"`
}

func (RVEvoV2) TableName() string { return "rv_evos" }

type RVNullV1 struct {
	ID   uint
	Name string `gorm:"size:32"`
}

func (RVNullV1) TableName() string { return "rv_nulls" }

type RVNull struct {
	ID    uint
	Name  string `gorm:"size:32"`
	Extra string `gorm:"size:32"`
}

func (RVNull) TableName() string { return "rv_nulls" }

// Restore puts back what the delete entry recorded, exactly: a column the
// model no longer has cannot be put back (it was dropped silently), and a
// column the entry does not name was null (it became "", the Go zero
// value, which the database never held).
func TestRestoreIsWhatTheDeleteRecorded(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		reg := setup(t, db, &RVEvoV1{}, &RVNullV1{})
		must(t, reg.Register(&RVEvoV1{}))
		must(t, db.Create(&RVEvoV1{ID: 1, Name: "n", Legacy: "kept"}).Error)
		must(t, db.Delete(&RVEvoV1{ID: 1}).Error)
		reg.Unregister(&RVEvoV1{})
		must(t, reg.Register(&RVEvoV2{}))
		if err := auditgorm.Restore(ctx, db, &RVEvoV2{ID: 1}, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Fatalf("restore of a column the model lost: %v, want ErrCannotRevert", err)
		}

		must(t, db.Create(&RVNullV1{ID: 1, Name: "n"}).Error) // not audited yet
		must(t, db.AutoMigrate(&RVNull{}))                    // extra: NULL in row 1
		must(t, reg.Register(&RVNull{}))
		must(t, db.Delete(&RVNull{ID: 1}).Error)
		must(t, auditgorm.Restore(ctx, db, &RVNull{ID: 1}, auditgorm.RevertOptions{}))
		var null bool
		must(t, db.Raw("SELECT extra IS NULL FROM rv_nulls WHERE id = 1").Scan(&null).Error)
		if !null {
			t.Fatalf("restored extra is not NULL; the restore's entry: %s", lastEntry(t, db).Changes)
		}
	})
}

// AsOf and Timeline need the model registered: its masked and excluded
// fields are the registration's to say (an unregistered model's showed a
// masked field's text as its value).
func TestAsOfNeedsTheModelRegistered(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := ttSetup(t, db)
		ctx := context.Background()
		it := TTItem{Code: "a", Secret: "4111111111111111", Internal: 7}
		must(t, db.Create(&it).Error)
		at := ttInstant()
		reg.Unregister(&TTItem{})
		got := TTItem{ID: it.ID}
		if _, err := auditgorm.AsOf(ctx, db, &got, at); err == nil || got.Secret != "" {
			t.Fatalf("AsOf of an unregistered model: %v, secret %q; want an error", err, got.Secret)
		}
		if _, err := auditgorm.Timeline(ctx, db, &TTItem{ID: it.ID}); err == nil {
			t.Fatal("Timeline of an unregistered model: no error")
		}
	})
}

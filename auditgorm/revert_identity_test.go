package auditgorm_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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
		must(t, reg.Reregister(&TTPlain{})) // unmasked since

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

// A job that changes an object and then hard deletes it (or creates one
// and deletes it) is reverted newest first: the delete is undone first
// (the row inserted again, its entry naming the delete it reverts), and
// the object's earlier changes are undone on it. The revert's own entries
// count: a first version of the object-following met the job's delete and
// called the object gone. An update reverted after the object was deleted
// and restored is undone on the restored object.
func TestRevertOfAJobThatDeletes(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		must(t, db.Create(&TTPlain{ID: 5, Name: "A", N: 1}).Error)
		job := auditlog.WithCorrelationID(ctx, "upd-del")
		must(t, db.WithContext(job).Model(&TTPlain{ID: 5}).Update("n", 2).Error)
		must(t, db.WithContext(job).Delete(&TTPlain{ID: 5}).Error)
		must(t, auditgorm.RevertCorrelation(ctx, db, "upd-del", auditgorm.RevertOptions{}))
		var p TTPlain
		must(t, db.First(&p, 5).Error)
		if p.N != 1 {
			t.Fatalf("after the job's revert: %+v, want n 1", p)
		}

		job = auditlog.WithCorrelationID(ctx, "cr-del")
		must(t, db.WithContext(job).Create(&TTPlain{ID: 6, Name: "tmp", N: 1}).Error)
		must(t, db.WithContext(job).Delete(&TTPlain{ID: 6}).Error)
		must(t, auditgorm.RevertCorrelation(ctx, db, "cr-del", auditgorm.RevertOptions{}))
		var n int64
		must(t, db.Model(&TTPlain{}).Where("id = ?", 6).Count(&n).Error)
		if n != 0 {
			t.Fatal("the job's created row is left after its revert")
		}

		must(t, db.Model(&TTPlain{ID: 5}).Update("n", 3).Error)
		upd := lastEntry(t, db)
		must(t, db.Delete(&TTPlain{ID: 5}).Error)
		must(t, auditgorm.Restore(ctx, db, &TTPlain{ID: 5}, auditgorm.RevertOptions{}))
		must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}))
		p = TTPlain{}
		must(t, db.First(&p, 5).Error)
		if p.N != 1 {
			t.Fatalf("update reverted across a delete and its restore: %+v, want n 1", p)
		}
	})
}

// The entries of one object are followed in the order of their ids, not
// their times: a job that swapped two keys on a server whose clock was
// ahead is reverted from one whose clock is right. By time, the revert's
// own moves came before the job's, were not seen, and the revert refused
// (forced, it moved the wrong object).
func TestRevertWhateverTheClocks(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		base := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		var skew, tick time.Duration
		now := func() time.Time { tick += time.Millisecond; return base.Add(skew + tick) }
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Now: now})))
		must(t, db.AutoMigrate(&TTPlain{}))
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		must(t, db.Create(&TTPlain{ID: 5, Name: "A", N: 1}).Error)
		must(t, db.Create(&TTPlain{ID: 7, Name: "B", N: 1}).Error)
		skew = 2 * time.Second
		job := auditlog.WithCorrelationID(ctx, "swap")
		must(t, db.WithContext(job).Model(&TTPlain{}).Where("id = ?", 5).Update("id", 99).Error)
		must(t, db.WithContext(job).Model(&TTPlain{}).Where("id = ?", 7).Update("id", 5).Error)
		must(t, db.WithContext(job).Model(&TTPlain{}).Where("id = ?", 99).Update("id", 7).Error)
		skew = 0
		must(t, auditgorm.RevertCorrelation(ctx, db, "swap", auditgorm.RevertOptions{}))
		var all []TTPlain
		must(t, db.Order("id").Find(&all).Error)
		if len(all) != 2 || all[0].ID != 5 || all[0].Name != "A" || all[1].ID != 7 || all[1].Name != "B" {
			t.Fatalf("after the swap's revert: %+v, want A at 5, B at 7", all)
		}
	})
}

// A value is taken as recorded masked only where the mask could have made
// it of another value: under a mask that leaves short values clear, "new"
// is new's own text and reverts as any value. Under the default mask, "*"
// is also the text of every one-character value: a revert asks for it in
// RevertOptions.Values.
func TestValuesThatOnlyLookMasked(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		reg.SetMask(func(s string) string {
			if len(s) <= 4 {
				return s
			}
			return strings.Repeat("#", len(s)-4) + s[len(s)-4:]
		})
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		p := TTPlain{Name: "new", N: 1}
		must(t, db.Create(&p).Error)
		must(t, db.Model(&p).Update("name", "done").Error)
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		must(t, db.Delete(&TTPlain{ID: p.ID}).Error)
		must(t, auditgorm.Restore(ctx, db, &TTPlain{ID: p.ID}, auditgorm.RevertOptions{}))
	})
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		q := TTPlain{Name: "*", N: 1}
		must(t, db.Create(&q).Error)
		must(t, db.Model(&q).Update("name", "admin").Error)
		upd := lastEntry(t, db)
		if err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Fatalf("revert of \"*\" under the default mask: %v, want ErrCannotRevert asking for the value", err)
		}
		must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Values: map[string]any{"Name": "*"}}))
		var got TTPlain
		must(t, db.First(&got, q.ID).Error)
		if got.Name != "*" {
			t.Fatalf("reverted with the value given: %+v", got)
		}
	})
}

type RVStatusV1 struct {
	ID   uint
	Name string `gorm:"size:32"`
}

func (RVStatusV1) TableName() string { return "rv_statuses" }

type RVStatus struct {
	ID     uint
	Name   string `gorm:"size:32"`
	Status string `gorm:"size:16;not null;default:active"`
}

func (RVStatus) TableName() string { return "rv_statuses" }

// A column added after the delete (NOT NULL with a default) is not named
// by the delete entry: the restore leaves it to its default, as the
// database gave it to the rows it had.
func TestRestoreOfAColumnAddedSince(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		reg := setup(t, db, &RVStatusV1{})
		must(t, reg.Register(&RVStatusV1{}))
		must(t, db.Create(&RVStatusV1{ID: 1, Name: "n"}).Error)
		must(t, db.Delete(&RVStatusV1{ID: 1}).Error)
		reg.Unregister(&RVStatusV1{})
		must(t, db.AutoMigrate(&RVStatus{}))
		must(t, reg.Register(&RVStatus{}))
		must(t, auditgorm.Restore(ctx, db, &RVStatus{ID: 1}, auditgorm.RevertOptions{}))
		var got RVStatus
		must(t, db.First(&got, 1).Error)
		if got.Name != "n" || got.Status != "active" {
			t.Fatalf("restored %+v, want the name recorded and the status's default", got)
		}
	})
}

// A create is taken as the object brought back only where it restores the
// delete: its additional data names the delete and it recorded every value
// the delete did. An application's create of another object that names
// the delete in its extra data (auditlog.WithExtra) made an old update's
// revert act on that object.
func TestRevertIsNotFooledByAForgedRestore(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		must(t, db.Create(&TTPlain{ID: 5, Name: "A", N: 1}).Error)
		must(t, db.Model(&TTPlain{ID: 5}).Update("n", 2).Error)
		upd := lastEntry(t, db)
		must(t, db.Delete(&TTPlain{ID: 5}).Error)
		del := lastEntry(t, db)
		forged := auditlog.WithExtra(ctx, map[string]any{"reverted_entry": del.ID})
		must(t, db.WithContext(forged).Create(&TTPlain{ID: 5, Name: "B", N: 2}).Error)
		if err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}); err == nil {
			t.Fatal("a revert acted on another object whose create names the delete")
		}
		var b TTPlain
		must(t, db.First(&b, 5).Error)
		if b.Name != "B" || b.N != 2 {
			t.Fatalf("B was written: %+v", b)
		}
	})
}

// A delete's revert brings the object back only where that delete keeps
// it away: once the object was restored (and moved, or changed and
// deleted again), reverting the old delete inserted a second copy, or the
// old values over the later delete's.
func TestRevertOfADeleteRestoredSince(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		must(t, db.Create(&TTPlain{ID: 5, Name: "A", N: 1}).Error)
		must(t, db.Delete(&TTPlain{ID: 5}).Error)
		del := lastEntry(t, db)
		must(t, auditgorm.Restore(ctx, db, &TTPlain{ID: 5}, auditgorm.RevertOptions{}))
		must(t, db.Model(&TTPlain{}).Where("id = ?", 5).Update("id", 7).Error)
		for _, force := range []bool{false, true} {
			if err := auditgorm.Revert(ctx, db, del.ID, auditgorm.RevertOptions{Force: force}); err == nil {
				t.Fatalf("revert (forced: %v) of a delete restored and moved since: no error", force)
			}
		}
		must(t, db.Model(&TTPlain{ID: 7}).Update("n", 9).Error)
		must(t, db.Delete(&TTPlain{ID: 7}).Error)
		if err := auditgorm.Revert(ctx, db, del.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrConflict) {
			t.Fatalf("revert of the older delete: %v, want a conflict", err)
		}
		var n int64
		must(t, db.Model(&TTPlain{}).Count(&n).Error)
		if n != 0 {
			t.Fatalf("%d rows after the refused reverts", n)
		}
		// The latest delete is the one to revert.
		must(t, auditgorm.Restore(ctx, db, &TTPlain{ID: 7}, auditgorm.RevertOptions{}))
		var a TTPlain
		must(t, db.First(&a, 7).Error)
		if a.N != 9 {
			t.Fatalf("restored %+v, want n 9", a)
		}
	})
}

// A job is undone by entry id, newest first, whatever the clocks that
// stamped its entries: its update on a server whose clock was ahead, then
// its delete, were undone update first, which found the object deleted.
func TestRevertOfAJobWhateverTheClocks(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		base := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		var skew, tick time.Duration
		now := func() time.Time { tick += time.Millisecond; return base.Add(skew + tick) }
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Now: now})))
		must(t, db.AutoMigrate(&TTPlain{}))
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		must(t, db.Create(&TTPlain{ID: 5, Name: "A", N: 1}).Error)
		job := auditlog.WithCorrelationID(ctx, "skewed")
		skew = 2 * time.Second
		must(t, db.WithContext(job).Model(&TTPlain{ID: 5}).Update("n", 2).Error)
		skew = 0
		must(t, db.WithContext(job).Delete(&TTPlain{ID: 5}).Error)
		must(t, auditgorm.RevertCorrelation(ctx, db, "skewed", auditgorm.RevertOptions{}))
		var a TTPlain
		must(t, db.First(&a, 5).Error)
		if a.N != 1 {
			t.Fatalf("after the job's revert: %+v, want n 1", a)
		}
	})
}

// Another transaction moves the object and creates another at its key
// after the revert read the object's entries and before it locks the row:
// the entries are read again under the lock, and the revert refuses, or
// one of the two loses a deadlock; the other object is never written.
func TestRevertWhileTheObjectMoves(t *testing.T) {
	t.Parallel()
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, name)
			reg := setup(t, db, &TTPlain{})
			must(t, reg.Register(&TTPlain{}))
			ctx := context.Background()
			must(t, db.Create(&TTPlain{ID: 5, Name: "A", N: 1}).Error)
			must(t, db.Model(&TTPlain{ID: 5}).Update("n", 2).Error)
			upd := lastEntry(t, db)
			var (
				once  sync.Once
				other func() error
			)
			// The revert's locking read runs as GORM's Rows (the plugin's
			// reads), or as its Find where the row does not build its struct.
			move := func(tx *gorm.DB) {
				if _, locked := tx.Statement.Clauses["FOR"]; !locked || tx.Statement.Table != "tt_plains" || tx.Statement.Context.Value(raceKey{}) == nil {
					return
				}
				once.Do(func() {
					other = otherTransaction(t, db, name, func(tx *gorm.DB) error {
						if err := tx.Model(&TTPlain{}).Where("id = ?", 5).Update("id", 7).Error; err != nil {
							return err
						}
						return tx.Create(&TTPlain{ID: 5, Name: "B", N: 2}).Error
					})
				})
			}
			must(t, db.Callback().Query().Before("gorm:query").Register("test:move", move))
			must(t, db.Callback().Row().Before("gorm:row").Register("test:move", move))
			err := auditgorm.Revert(context.WithValue(ctx, raceKey{}, true), db, upd.ID, auditgorm.RevertOptions{})
			if other == nil {
				t.Fatalf("the revert read no row under lock: %v", err)
			}
			oerr := other()
			t.Logf("revert: %v; other transaction: %v", err, oerr)
			if err == nil && oerr == nil {
				t.Fatal("both the revert and the move committed")
			}
			var rows []TTPlain
			must(t, db.Order("id").Find(&rows).Error)
			for _, r := range rows {
				if r.Name == "B" && r.N != 2 {
					t.Fatalf("B was written: %+v", rows)
				}
			}
		})
	}
}

// RevertOptions.Values gives only what the entries cannot tell: a value
// given to a revert that needed none (the entry records the field) was
// passed over, and the field reverted to the recorded value.
func TestRevertRefusesValuesItDoesNotNeed(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()
		p := TTPlain{Name: "old", N: 1}
		must(t, db.Create(&p).Error)
		must(t, db.Model(&p).Update("name", "new").Error)
		upd := lastEntry(t, db)
		for _, values := range []map[string]any{{"Name": "given"}, {"Nmae": "typo"}} {
			if err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Values: values}); !errors.Is(err, auditgorm.ErrCannotRevert) {
				t.Fatalf("revert with Values %v: %v, want ErrCannotRevert", values, err)
			}
		}
		var got TTPlain
		must(t, db.First(&got, p.ID).Error)
		if got.Name != "new" {
			t.Fatalf("a refused revert wrote %q", got.Name)
		}
	})
}

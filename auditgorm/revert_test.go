package auditgorm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TTPlain has no soft delete: reverting its create deletes the row.
type TTPlain struct {
	ID   uint
	Name string `gorm:"size:32"`
	N    int
}

func lastEntry(t *testing.T, db *gorm.DB) auditlog.Entry {
	t.Helper()
	es := entries(t, db)
	if len(es) == 0 {
		t.Fatal("no entries")
	}
	return es[len(es)-1]
}

func revertedEntry(t *testing.T, e auditlog.Entry) int64 {
	t.Helper()
	var extra struct {
		Reverted int64 `json:"reverted_entry"`
	}
	if err := json.Unmarshal(e.AdditionalData, &extra); err != nil {
		t.Fatalf("entry %d additional data %s: %v", e.ID, e.AdditionalData, err)
	}
	return extra.Reverted
}

func TestRevertUpdate(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ttSetup(t, db)
		ctx := context.Background()
		note := "x"
		it := TTItem{Code: "a", N: 1, Price: "1.25", Note: &note}
		must(t, db.Create(&it).Error)
		must(t, db.Model(&it).Updates(map[string]any{"n": 2, "note": nil, "price": "3.50"}).Error)
		upd := lastEntry(t, db)

		// Clean: every field back, one entry of its own naming the entry.
		must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}))
		var got TTItem
		must(t, db.First(&got, it.ID).Error)
		if got.N != 1 || got.Note == nil || *got.Note != "x" || !strings.HasPrefix(got.Price, "1.25") {
			t.Fatalf("after the revert: %+v", got)
		}
		rev := lastEntry(t, db)
		if rev.Action != auditlog.ActionUpdate || revertedEntry(t, rev) != upd.ID || len(rev.Changes) != 3 {
			t.Fatalf("the revert's entry: %+v", rev)
		}

		// Conflicting: n changed since the entry; nothing is written.
		must(t, db.Model(&it).Update("n", 5).Error)
		upd = lastEntry(t, db)
		must(t, db.Model(&it).Update("n", 6).Error)
		before := len(entries(t, db))
		err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{})
		var ce *auditgorm.ConflictError
		if !errors.As(err, &ce) || !errors.Is(err, auditgorm.ErrConflict) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Field != "n" || ce.Conflicts[0].Current != "6" || ce.Conflicts[0].Recorded != "5" {
			t.Fatalf("conflicting revert: %v", err)
		}
		if n := len(entries(t, db)); n != before {
			t.Fatalf("a refused revert wrote %d entries", n-before)
		}
		must(t, db.First(&got, it.ID).Error)
		if got.N != 6 {
			t.Fatalf("a refused revert changed n to %d", got.N)
		}
		// Forced: n goes back to the entry's old value.
		must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Force: true}))
		must(t, db.First(&got, it.ID).Error)
		if got.N != 1 {
			t.Fatalf("forced revert: n = %d", got.N)
		}
		if c := lastEntry(t, db).Changes["n"]; string(c.Old) != "6" || string(c.New) != "1" {
			t.Fatalf("forced revert's entry: %v", lastEntry(t, db).Changes)
		}

		// A masked field cannot be reverted, forced or not.
		must(t, db.Model(&it).Update("secret", "new").Error)
		if err := auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{Force: true}); !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Fatalf("revert of a masked change: %v", err)
		}
		if err := auditgorm.Revert(ctx, db, 1<<40, auditgorm.RevertOptions{}); err == nil {
			t.Fatal("revert of a missing entry succeeded")
		}
	})
}

func TestRevertCreateAndRestore(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := ttSetup(t, db)
		must(t, db.AutoMigrate(&TTPlain{}))
		must(t, reg.Register(&TTPlain{}))
		ctx := context.Background()

		// Reverting a create deletes: soft for a soft-delete model.
		it := TTItem{Code: "c", N: 3}
		must(t, db.Create(&it).Error)
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		var n int64
		must(t, db.Model(&TTItem{}).Where("id = ?", it.ID).Count(&n).Error)
		if n != 0 || lastEntry(t, db).Action != auditlog.ActionDelete {
			t.Fatalf("after reverting the create: %d rows, last entry %+v", n, lastEntry(t, db))
		}
		// Restoring it clears deleted_at.
		must(t, auditgorm.Restore(ctx, db, &TTItem{ID: it.ID}, auditgorm.RevertOptions{}))
		var got TTItem
		must(t, db.First(&got, it.ID).Error)
		if got.Code != "c" || got.N != 3 {
			t.Fatalf("restored: %+v", got)
		}

		// A hard delete: restored from the delete entry's values; excluded
		// and masked fields must be given.
		must(t, db.Unscoped().Delete(&TTItem{ID: it.ID}).Error)
		err := auditgorm.Restore(ctx, db, &TTItem{ID: it.ID}, auditgorm.RevertOptions{})
		if !errors.Is(err, auditgorm.ErrCannotRevert) || !strings.Contains(err.Error(), "Secret") || !strings.Contains(err.Error(), "Internal") {
			t.Fatalf("restore without the unknown fields: %v", err)
		}
		must(t, auditgorm.Restore(ctx, db, &TTItem{ID: it.ID}, auditgorm.RevertOptions{Values: map[string]any{"Secret": "s", "internal": 4}}))
		got = TTItem{}
		must(t, db.First(&got, it.ID).Error)
		if got.Code != "c" || got.N != 3 || got.Secret != "s" || got.Internal != 4 {
			t.Fatalf("restored after a hard delete: %+v", got)
		}
		if e := lastEntry(t, db); e.Action != auditlog.ActionCreate || e.ObjectPK != fmt.Sprint(it.ID) {
			t.Fatalf("the restore's entry: %+v", e)
		}
		if err := auditgorm.Restore(ctx, db, &TTItem{ID: it.ID}, auditgorm.RevertOptions{}); err == nil {
			t.Fatal("restore of an object whose latest entry is not a delete succeeded")
		}

		// Without soft delete: reverting the create deletes the row; a
		// conflicting create (changed since) is refused.
		p := TTPlain{Name: "p", N: 1}
		must(t, db.Create(&p).Error)
		create := lastEntry(t, db)
		must(t, db.Model(&p).Update("n", 2).Error)
		if err := auditgorm.Revert(ctx, db, create.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrConflict) {
			t.Fatalf("revert of a changed create: %v", err)
		}
		must(t, auditgorm.Revert(ctx, db, create.ID, auditgorm.RevertOptions{Force: true}))
		must(t, db.Unscoped().Model(&TTPlain{}).Where("id = ?", p.ID).Count(&n).Error)
		if n != 0 {
			t.Fatal("the reverted create's row is still there")
		}
		// Reverting that delete brings it back as the delete left it.
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		var back TTPlain
		must(t, db.First(&back, p.ID).Error)
		if back.Name != "p" || back.N != 2 {
			t.Fatalf("reverted delete: %+v", back)
		}
	})
}

func TestRevertM2M(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ttSetup(t, db)
		ctx := context.Background()
		it := TTItem{Code: "m"}
		must(t, db.Create(&it).Error)
		must(t, db.Model(&it).Association("Tags").Append(&TTTag{ID: 1}, &TTTag{ID: 2}))
		add := lastEntry(t, db)
		must(t, db.Model(&it).Association("Tags").Delete(&TTTag{ID: 1}))
		remove := lastEntry(t, db)
		tags := func() string {
			var ts []TTTag
			must(t, db.Model(&TTItem{ID: it.ID}).Association("Tags").Find(&ts))
			var ids []string
			for _, tg := range ts {
				ids = append(ids, fmt.Sprint(tg.ID))
			}
			return strings.Join(ids, ",")
		}
		// Undoing the add conflicts: tag 1 is no longer linked.
		if err := auditgorm.Revert(ctx, db, add.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrConflict) {
			t.Fatalf("undoing an add partly undone since: %v", err)
		}
		if got := tags(); got != "2" {
			t.Fatalf("a refused revert changed the tags: %s", got)
		}
		// Undoing the remove links tag 1 again, then the add unlinks both.
		must(t, auditgorm.Revert(ctx, db, remove.ID, auditgorm.RevertOptions{}))
		if got := tags(); got != "1,2" {
			t.Fatalf("after undoing the remove: %s", got)
		}
		if c := lastEntry(t, db).Changes["tags"]; c.M2M == nil || c.M2M.Operation != auditlog.M2MAdd || strings.Join(c.M2M.Keys, ",") != "1" {
			t.Fatalf("the revert's entry: %+v", lastEntry(t, db))
		}
		must(t, auditgorm.Revert(ctx, db, add.ID, auditgorm.RevertOptions{}))
		if got := tags(); got != "" {
			t.Fatalf("after undoing the add: %s", got)
		}
	})
}

// RevertCorrelation undoes a whole job: a 1,000-row bulk update, an
// update, a create and many-to-many changes recorded on both sides.
func TestRevertCorrelation(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RItem{}, &RTag{}, &RKey{}) // checkReplay reads all three
		must(t, reg.Register(&RItem{}, auditlog.M2M("Tags")))
		must(t, reg.Register(&RTag{}, auditlog.M2M("Items")))
		items := make([]RItem, 1000)
		for i := range items {
			items[i] = RItem{Code: fmt.Sprintf("k%d", i), N: i % 7}
		}
		must(t, db.CreateInBatches(&items, 200).Error)
		tag := RTag{Name: "t"}
		must(t, db.Create(&tag).Error)
		must(t, db.Model(&items[0]).Association("Tags").Append(&tag))
		snapshot := func() string {
			var rows []RItem
			must(t, db.Unscoped().Preload("Tags").Order("id").Find(&rows).Error)
			var b strings.Builder
			for _, r := range rows {
				note := "-"
				if r.Note != nil {
					note = *r.Note
				}
				fmt.Fprintf(&b, "%d %s %d %s %v %d;", r.ID, r.Code, r.N, note, r.DeletedAt.Valid, len(r.Tags))
			}
			return b.String()
		}
		want := snapshot()

		ctx := auditlog.WithCorrelationID(context.Background(), "job-1")
		job := db.WithContext(ctx)
		must(t, job.Model(&RItem{}).Where("n < ?", 5).Updates(map[string]any{"n": gorm.Expr("n + 10"), "note": "bulk"}).Error)
		must(t, db.First(&items[1], items[1].ID).Error) // its version, for the optimistic lock
		must(t, job.Model(&items[1]).Update("code", "renamed").Error)
		must(t, job.Create(&RItem{Code: "new"}).Error)
		must(t, job.Model(&items[0]).Association("Tags").Clear())
		must(t, job.Model(&items[2]).Association("Tags").Append(&tag))
		must(t, job.Delete(&items[3]).Error)
		if snapshot() == want {
			t.Fatal("the job changed nothing")
		}

		// A conflict anywhere refuses the whole job.
		must(t, db.First(&items[1], items[1].ID).Error)
		must(t, db.Model(&items[1]).Update("code", "edited").Error)
		before := len(entries(t, db))
		if err := auditgorm.RevertCorrelation(context.Background(), db, "job-1", auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrConflict) {
			t.Fatalf("a job changed since: %v", err)
		}
		if len(entries(t, db)) != before {
			t.Fatal("a refused job revert wrote entries")
		}
		must(t, db.First(&items[1], items[1].ID).Error)
		must(t, db.Model(&items[1]).Update("code", "renamed").Error)

		must(t, auditgorm.RevertCorrelation(context.Background(), db, "job-1", auditgorm.RevertOptions{}))
		got := snapshot()
		// The created item is deleted (soft): the only difference.
		if !strings.HasPrefix(got, want) || !strings.Contains(got[len(want):], " new 0 - true 0;") {
			t.Fatalf("after reverting the job:\n%s\nwant\n%s + the new item soft-deleted", got[:min(len(got), 300)], want[:min(len(want), 300)])
		}
		if err := auditgorm.RevertCorrelation(context.Background(), db, "no-such-job", auditgorm.RevertOptions{}); err == nil {
			t.Fatal("reverting an unknown correlation id succeeded")
		}
		checkReplay(t, db)
	})
}

// An entry that names key 0 (logged by hand) is not taken for any row.
func TestRevertZeroKey(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &TTPlain{})
	must(t, reg.Register(&TTPlain{}))
	ctx := context.Background()
	must(t, db.Create(&TTPlain{Name: "real", N: 1}).Error)
	ch, err := auditlog.NewChange(0, 1)
	must(t, err)
	must(t, auditgorm.Log(ctx, db, auditgorm.Record{Action: auditlog.ActionUpdate, Model: "tt_plains", PK: "0", Changes: auditlog.Changes{"n": ch}}))
	err = auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{Force: true})
	if !errors.Is(err, auditgorm.ErrCannotRevert) {
		t.Fatalf("revert of an entry of key 0: %v", err)
	}
	var got TTPlain
	must(t, db.First(&got).Error)
	if got.N != 1 {
		t.Fatalf("the revert wrote to another row: %+v", got)
	}
}

// A field excluded since the entry was written is never compared, shown
// or written back: its clear value appears in no error.
func TestRevertFieldExcludedSince(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &TTPlain{})
	must(t, reg.Register(&TTPlain{}))
	ctx := context.Background()
	p := TTPlain{Name: "open", N: 1}
	must(t, db.Create(&p).Error)
	must(t, db.Model(&p).Update("name", "public").Error)
	upd := lastEntry(t, db)
	must(t, reg.Reregister(&TTPlain{}, auditlog.Exclude("Name")))
	must(t, db.Model(&p).Update("name", "s3cret-now").Error)
	for _, force := range []bool{false, true} {
		err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{Force: force})
		if !errors.Is(err, auditgorm.ErrCannotRevert) || strings.Contains(err.Error(), "s3cret-now") {
			t.Fatalf("force %v: %v", force, err)
		}
	}
	var got TTPlain
	must(t, db.First(&got, p.ID).Error)
	if got.Name != "s3cret-now" {
		t.Fatalf("the revert wrote an excluded field: %+v", got)
	}
}

// Card is keyed by a number the entries mask.
type Card struct {
	Number string `gorm:"primaryKey;size:32"`
	Limit  int
}

// An entry of an object whose key is masked names no row (its key is the
// masked text): it cannot be reverted, forced or not, rather than taken
// for a deleted object.
func TestRevertMaskedKey(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &Card{})
	must(t, reg.Register(&Card{}, auditlog.Mask("Number")))
	c := Card{Number: "4111111111111111", Limit: 10}
	must(t, db.Create(&c).Error)
	must(t, db.Model(&c).Update("limit", 20).Error)
	must(t, db.Delete(&c).Error)
	es := expectCount(t, db, 3)
	for _, e := range es {
		for _, force := range []bool{false, true} {
			err := auditgorm.Revert(context.Background(), db, e.ID, auditgorm.RevertOptions{Force: force})
			if !errors.Is(err, auditgorm.ErrCannotRevert) || !strings.Contains(err.Error(), "masked") {
				t.Fatalf("revert of the %s entry (force %v): %v", e.Action, force, err)
			}
		}
	}
	expectCount(t, db, 3) // nothing written
}

// Purse holds cards, whose keys the entries mask.
type Purse struct {
	ID    uint
	Cards []Card `gorm:"many2many:purse_cards"`
}

// A many-to-many change names the related objects by their masked keys,
// which are no rows' keys: it cannot be reverted, forced or not, rather
// than refused as changed since, or forced into doing nothing.
func TestRevertMaskedRelatedKeys(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &Purse{}, &Card{})
	must(t, reg.Register(&Card{}, auditlog.Mask("Number")))
	must(t, reg.Register(&Purse{}, auditlog.M2M("Cards")))
	c := Card{Number: "4111111111111111", Limit: 10}
	must(t, db.Create(&c).Error)
	p := Purse{}
	must(t, db.Create(&p).Error)
	must(t, db.Model(&p).Association("Cards").Append(&c))
	es := expectCount(t, db, 3)
	for _, force := range []bool{false, true} {
		err := auditgorm.Revert(context.Background(), db, es[2].ID, auditgorm.RevertOptions{Force: force})
		if !errors.Is(err, auditgorm.ErrCannotRevert) || !strings.Contains(err.Error(), "masked") {
			t.Fatalf("revert of the append (force %v): %v", force, err)
		}
	}
	expectCount(t, db, 3)
}

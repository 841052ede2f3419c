package auditgorm_test

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RevNull struct {
	ID    uint
	Name  string
	Note  string
	Price int
}

// TestRevertWhereAColumnIsNull: a column a non-pointer field reads as its
// zero value ("" for NULL) was compared through the Go struct, so the
// revert of an entry that recorded the column as null (a create that
// omitted it, an update that set it to NULL) was refused as changed
// since, though nothing had changed. The current values are read as the
// capture reads them, from the row's columns.
func TestRevertWhereAColumnIsNull(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RevNull{})
		must(t, reg.Register(&RevNull{}))
		ctx := context.Background()

		// A create that left name NULL: its revert deletes the row.
		o := RevNull{Note: "n", Price: 1}
		must(t, db.Omit("Name").Create(&o).Error)
		created := lastEntry(t, db)
		must(t, auditgorm.Revert(ctx, db, created.ID, auditgorm.RevertOptions{}))
		var n int64
		must(t, db.Model(&RevNull{}).Where("id = ?", o.ID).Count(&n).Error)
		if n != 0 {
			t.Fatalf("the revert of the create left the row")
		}

		// An update that set a column NULL: its revert writes the old
		// value back.
		p := RevNull{Name: "a", Note: "b", Price: 2}
		must(t, db.Create(&p).Error)
		must(t, db.Model(&p).Update("note", gorm.Expr("NULL")).Error)
		upd := lastEntry(t, db)
		if c, ok := upd.Changes["note"]; !ok || string(c.New) != "null" {
			t.Fatalf("the update recorded %s", upd.Changes)
		}
		must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}))
		var back RevNull
		must(t, db.First(&back, p.ID).Error)
		if back.Note != "b" {
			t.Errorf("after the revert: %+v", back)
		}

		// And a column that holds "" where the entry recorded null is a
		// change since, which the Go struct could not tell.
		q := RevNull{Name: "c", Note: "d", Price: 3}
		must(t, db.Create(&q).Error)
		must(t, db.Model(&q).Update("note", gorm.Expr("NULL")).Error)
		upd = lastEntry(t, db)
		must(t, db.Model(&q).Update("note", "").Error)
		err := auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{})
		var conflict *auditgorm.ConflictError
		if !errors.As(err, &conflict) {
			t.Errorf("the revert of an update to null, the column \"\" since: %v", err)
		}
	})
}

type RevGob struct {
	ID    uint
	Tags  map[string]int `gorm:"serializer:gob;type:bytes"`
	Price int
}

// TestRevertBesideAGobField: a field GORM stores through its gob
// serializer is recorded as the bytes stored; compared through the Go
// struct, it made the revert of the create, and of any update of the
// object, a conflict.
func TestRevertBesideAGobField(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RevGob{})
		must(t, reg.Register(&RevGob{}))
		ctx := context.Background()
		o := RevGob{Tags: map[string]int{"a": 1}, Price: 1}
		must(t, db.Create(&o).Error)
		created := lastEntry(t, db)
		must(t, db.Model(&o).Update("price", 2).Error)
		upd := lastEntry(t, db)
		must(t, auditgorm.Revert(ctx, db, upd.ID, auditgorm.RevertOptions{}))
		var back RevGob
		must(t, db.First(&back, o.ID).Error)
		if back.Price != 1 || back.Tags["a"] != 1 {
			t.Fatalf("after the revert of the update: %+v", back)
		}
		// The gob field itself: its old value goes back, decoded from the
		// bytes recorded.
		must(t, db.Model(&o).Select("tags").Updates(RevGob{Tags: map[string]int{"b": 2}}).Error)
		tags := lastEntry(t, db)
		must(t, db.Model(&o).Select("tags").Updates(RevGob{Tags: map[string]int{"x": 1, "y": 2, "z": 3}}).Error)
		three := lastEntry(t, db)
		must(t, db.Model(&o).Select("tags").Updates(RevGob{Tags: map[string]int{"c": 3}}).Error)
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		back = RevGob{}
		must(t, db.First(&back, o.ID).Error)
		if len(back.Tags) != 3 || back.Tags["z"] != 3 {
			t.Fatalf("after the revert of the tags: %+v", back)
		}
		must(t, auditgorm.RevertEntries(ctx, db, []int64{tags.ID, three.ID}, auditgorm.RevertOptions{Force: true}))
		back = RevGob{}
		must(t, db.First(&back, o.ID).Error)
		if len(back.Tags) != 1 || back.Tags["a"] != 1 {
			t.Fatalf("after the revert of the tags: %+v", back)
		}
		// Time travel reads it too.
		var then RevGob
		then.ID = o.ID
		st, err := auditgorm.AsOfEntry(ctx, db, &then, three.ID)
		must(t, err)
		if len(st.Unknown) != 0 || len(then.Tags) != 3 || then.Tags["y"] != 2 {
			t.Errorf("as of entry %d: %+v, unknown %v", three.ID, then, st.Unknown)
		}
		must(t, auditgorm.Revert(ctx, db, created.ID, auditgorm.RevertOptions{Force: true}))
		var n int64
		must(t, db.Model(&RevGob{}).Where("id = ?", o.ID).Count(&n).Error)
		if n != 0 {
			t.Errorf("the revert of the create left the row")
		}
	})
}

type RevBoolTwo struct {
	ID   uint
	Flag bool
}

// TestRevertOfABooleanColumnHoldingTwo: a boolean column holding 2
// (SQLite, MariaDB) is recorded as 2, and the revert of 1 → 2 failed with
// GORM's scan error ("couldn't convert 2 into type bool"): the revert read
// the row into the model's struct with GORM's scan. The struct is made from
// the row as the capture reads it.
func TestRevertOfABooleanColumnHoldingTwo(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "postgres" {
			t.Skip("a boolean column holds true and false only")
		}
		reg := setup(t, db, &RevBoolTwo{})
		must(t, reg.Register(&RevBoolTwo{}))
		r := RevBoolTwo{Flag: true}
		must(t, db.Create(&r).Error)
		must(t, db.Model(&r).Update("flag", gorm.Expr("flag + 1")).Error)
		es := expectCount(t, db, 2)
		must(t, auditgorm.Revert(context.Background(), db, es[1].ID, auditgorm.RevertOptions{}))
		var n int
		must(t, db.Raw("SELECT flag FROM rev_bool_twos WHERE id = ?", r.ID).Row().Scan(&n))
		if n != 1 {
			t.Errorf("flag is %d after the revert, want 1", n)
		}
	})
}

package auditgorm_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// TestRevertM2MJoinedByOtherColumns: a many-to-many relation joined by
// other columns than the primary keys (foreignKey:Code, References:Slug)
// was reverted with related objects that held only their keys: undoing an
// add reported success and left the link, with no entry; undoing a remove
// was refused. The related rows are read first.
func TestRevertM2MJoinedByOtherColumns(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		db.Config.DisableForeignKeyConstraintWhenMigrating = true
		reg := setup(t, db, &CodedUser{}, &CodedRole{})
		must(t, reg.Register(&CodedUser{}, auditlog.M2M("Roles")))
		ctx := context.Background()
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		must(t, quiet.Create(&CodedUser{ID: 1, Code: "u-a"}).Error)
		must(t, quiet.Create(&CodedRole{ID: 10, Slug: "admin"}).Error)
		links := func() int64 {
			var n int64
			must(t, quiet.Table("coded_user_roles").Where("user_code = ? AND role_slug = ?", "u-a", "admin").Count(&n).Error)
			return n
		}
		u := CodedUser{ID: 1, Code: "u-a"}
		must(t, db.Model(&u).Association("Roles").Append(&CodedRole{ID: 10, Slug: "admin"}))
		add := lastEntry(t, db)
		must(t, db.Model(&u).Association("Roles").Delete(&CodedRole{ID: 10, Slug: "admin"}))
		rm := lastEntry(t, db)
		must(t, auditgorm.Revert(ctx, db, rm.ID, auditgorm.RevertOptions{}))
		if n := links(); n != 1 {
			t.Fatalf("after the revert of the remove, %d links", n)
		}
		back := lastEntry(t, db)
		if c := back.Changes["roles"]; c.M2M == nil || c.M2M.Operation != "add" {
			t.Errorf("the revert of the remove recorded %s", back.Changes)
		}
		must(t, auditgorm.Revert(ctx, db, add.ID, auditgorm.RevertOptions{Force: true}))
		if n := links(); n != 0 {
			t.Errorf("after the revert of the add, %d links", n)
		}
		gone := lastEntry(t, db)
		if c := gone.Changes["roles"]; c.M2M == nil || c.M2M.Operation != "remove" {
			t.Errorf("the revert of the add recorded %s", gone.Changes)
		}
	})
}

type RevNum struct {
	ID    uint
	Price string `gorm:"type:numeric"`
	N     int
}

// TestRevertDecimalOfAnotherScale: PostgreSQL's numeric without a scale
// keeps 2 and 2.00 apart as text; an update from one to the other records
// nothing (one value), and the revert of the update before it was then
// refused as changed since.
func TestRevertDecimalOfAnotherScale(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RevNum{})
		must(t, reg.Register(&RevNum{}))
		o := RevNum{Price: "1", N: 1}
		must(t, db.Create(&o).Error)
		must(t, db.Model(&o).Updates(map[string]any{"price": "2", "n": 2}).Error)
		upd := lastEntry(t, db)
		must(t, db.Model(&o).Update("price", "2.00").Error)
		expectCount(t, db, 2)
		must(t, auditgorm.Revert(context.Background(), db, upd.ID, auditgorm.RevertOptions{}))
		var back RevNum
		must(t, db.First(&back, o.ID).Error)
		if back.N != 1 {
			t.Errorf("after the revert: %+v", back)
		}
	})
}

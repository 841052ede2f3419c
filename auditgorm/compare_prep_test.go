package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

func TestCrM2MPrepared(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RvOwner{}, &RvTag{})
		must(t, reg.Register(&RvOwner{}, auditlog.M2M("Tags")))
		ps := db.Session(&gorm.Session{PrepareStmt: true})
		o := RvOwner{Name: "a", Tags: []RvTag{{Code: "x"}}}
		must(t, ps.Create(&o).Error)
		for i := 0; i < 2; i++ {
			must(t, ps.Transaction(func(tx *gorm.DB) error {
				return tx.Model(&o).Association("Tags").Append(&RvTag{Code: "y"}, &RvTag{Code: "z"})
			}))
		}
		must(t, ps.Model(&o).Association("Tags").Replace(&RvTag{Code: "x"}, &RvTag{Code: "w"}))
		expectLog(t, m2mLog(t, db, 0),
			"RvOwner(1) tags add [RvTag(x)]",
			"RvOwner(1) tags add [RvTag(y),RvTag(z)]",
			"RvOwner(1) tags add [RvTag(w)]",
			"RvOwner(1) tags remove [RvTag(y),RvTag(z)]")
	})
}

package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type CrUOwner struct {
	ID   string   `gorm:"primaryKey;type:uuid"`
	Tags []CrUTag `gorm:"many2many:cr_u_owner_tags"`
}

type CrUTag struct {
	ID   string `gorm:"primaryKey;type:uuid"`
	Name string
}

func TestCrM2MUUIDKeys(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() != "postgres" {
			t.Skip()
		}
		reg := setup(t, db, &CrUOwner{}, &CrUTag{})
		must(t, reg.Register(&CrUOwner{}, auditlog.M2M("Tags")))
		o := CrUOwner{ID: "5c0f7d7e-0000-4000-8000-000000000001"}
		tg := CrUTag{ID: "5c0f7d7e-0000-4000-8000-0000000000aa", Name: "x"}
		must(t, db.Create(&o).Error)
		must(t, db.Create(&tg).Error)
		must(t, db.Model(&o).Association("Tags").Append(&tg))
		must(t, db.Model(&o).Association("Tags").Delete(&tg))
		for _, l := range m2mLines(t, db) {
			t.Log(l)
		}
	})
}

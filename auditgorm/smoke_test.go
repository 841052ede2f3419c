package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

func TestSmoke(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		b := Book{Title: "Dune", Price: "10.50", Tags: []string{"sf"}, Meta: JSONDoc(`{"b":1,"a":2}`)}
		must(t, db.Create(&b).Error)
		must(t, db.Model(&b).Update("title", "Dune II").Error)
		must(t, db.Delete(&b).Error)
		for _, e := range entries(t, db) {
			t.Logf("%d %s %s %s %q %s", e.ID, e.Action, e.Model, e.ObjectPK, e.ObjectRepr, e.Changes)
		}
		_ = auditlog.ActionCreate
	})
}

package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RvPrep struct {
	ID   uint
	Code string `gorm:"size:32"`
	N    int
}

func TestUndeclaredUniqueIndexUnderPrepareStmt(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, base *gorm.DB) {
		if base.Dialector.Name() == "postgres" {
			t.Skip()
		}
		reg := setup(t, base, &RvPrep{})
		must(t, reg.Register(&RvPrep{}))
		must(t, base.Exec("CREATE UNIQUE INDEX rv_preps_code ON rv_preps (code)").Error)
		db := base.Session(&gorm.Session{PrepareStmt: true})
		must(t, db.Create(&RvPrep{ID: 1, Code: "x", N: 1}).Error)
		n := len(entries(t, base))
		must(t, db.Transaction(func(tx *gorm.DB) error {
			if base.Dialector.Name() == "sqlite" {
				return tx.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&RvPrep{ID: 2, Code: "x", N: 2}).Error
			}
			return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&RvPrep{ID: 2, Code: "x", N: 2}).Error
		}))
		es := entries(t, base)[n:]
		for _, e := range es {
			t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
		}
		if len(es) == 0 || es[0].Action == auditlog.ActionCreate {
			t.Errorf("entries wrong")
		}
	})
}

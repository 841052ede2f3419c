package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RvColCase struct {
	ID   uint
	Code string `gorm:"size:32"`
}

// Columns spelled with another case in the table than in the model.
func TestColumnSpelledInAnotherCase(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db)
		must(t, reg.Register(&RvColCase{}))
		q := "CREATE TABLE rv_col_cases (id INTEGER PRIMARY KEY, Code VARCHAR(32))"
		if db.Dialector.Name() == "postgres" {
			q = `CREATE TABLE rv_col_cases (id INTEGER PRIMARY KEY, "Code" VARCHAR(32))`
			t.Skip("postgres column names are case-sensitive when quoted")
		}
		must(t, db.Exec(q).Error)
		must(t, db.Create(&RvColCase{ID: 1, Code: "x"}).Error)
		must(t, db.Model(&RvColCase{ID: 1}).Update("code", "y").Error)
		for _, e := range entries(t, db) {
			t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
		}
		if e := lastEntry(t, db); string(e.Changes["code"].New) != `"y"` {
			t.Errorf("update of code recorded %s", mustJSON(e.Changes))
		}
	})
}

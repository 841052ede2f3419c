package auditgorm_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

type UqDef struct {
	ID     uint
	Code   string `gorm:"size:32;uniqueIndex:uq_defs_ct"`
	Tenant string `gorm:"size:32;default:a;uniqueIndex:uq_defs_ct"`
	N      int
}

type UqGen struct {
	ID    uint
	Code  string
	Lower string `gorm:"->"`
	N     int
}

// An upsert whose rows leave a column of a unique key to the database (a
// default, a generated column) cannot read the rows it collides with: it
// is refused before it runs, where it recorded an update as a create, or
// missed REPLACE's delete. Sent, the same column is read as any other.
func TestUpsertLeavingAUniqueColumnToTheDatabase(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "postgres" {
			t.Skip("PostgreSQL's upserts fire on their target only")
		}
		reg := setup(t, db, &UqDef{})
		must(t, reg.Register(&UqDef{}))
		must(t, db.Create(&UqDef{ID: 1, Code: "x", Tenant: "a", N: 1}).Error)
		upsert := clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"n"})}
		if db.Dialector.Name() == "sqlite" {
			upsert.Columns = nil
		}
		err := db.Clauses(upsert).Create(&UqDef{ID: 2, Code: "x", N: 99}).Error
		if err == nil || !strings.Contains(err.Error(), "left to the database") {
			t.Fatalf("tenant left to its default: %v", err)
		}
		var n int64
		must(t, db.Model(&UqDef{}).Where("n = 99").Count(&n).Error)
		if n != 0 {
			t.Fatal("the refused upsert wrote")
		}
		must(t, db.Clauses(upsert).Create(&UqDef{ID: 2, Code: "x", Tenant: "a", N: 99}).Error)
		if e := lastEntry(t, db); e.ObjectPK != "1" || string(e.Changes["n"].New) != "99" {
			t.Fatalf("tenant sent: %s of %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
		}
		if db.Dialector.Name() != "sqlite" {
			return
		}
		must(t, reg.Register(&UqGen{}))
		must(t, db.Exec("CREATE TABLE uq_gens (id INTEGER PRIMARY KEY, code TEXT, lower TEXT GENERATED ALWAYS AS (lower(code)) VIRTUAL, n INTEGER)").Error)
		must(t, db.Exec("CREATE UNIQUE INDEX uq_gens_lower ON uq_gens (lower)").Error)
		must(t, db.Create(&UqGen{ID: 1, Code: "x", N: 1}).Error)
		err = db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&UqGen{ID: 2, Code: "X", N: 2}).Error
		if err == nil || !strings.Contains(err.Error(), "left to the database") {
			t.Fatalf("REPLACE on a generated unique column: %v", err)
		}
	})
}

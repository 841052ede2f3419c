package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

type FlagRow struct {
	ID   uint
	Flag bool
}

// TestBoolColumnHoldingAnotherInteger: SQLite's and MariaDB's boolean
// columns hold any integer; 2 was recorded as true, as 1 is, and a change
// from 1 to 2 wrote no entry. An integer other than 0 and 1 is recorded
// as the integer.
func TestBoolColumnHoldingAnotherInteger(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "postgres" {
			t.Skip("a boolean column holds true and false only")
		}
		reg := setup(t, db, &FlagRow{})
		must(t, reg.Register(&FlagRow{}))
		r := FlagRow{Flag: true}
		must(t, db.Create(&r).Error)
		must(t, db.Model(&r).Update("flag", gorm.Expr("flag + 1")).Error)
		es := expectCount(t, db, 2)
		if c := es[1].Changes["flag"]; string(c.Old) != "true" || string(c.New) != "2" {
			t.Errorf("1 to 2 recorded as %s → %s", c.Old, c.New)
		}
		must(t, db.Model(&FlagRow{}).Where("id = ?", r.ID).Update("flag", false).Error)
		es = expectCount(t, db, 3)
		if c := es[2].Changes["flag"]; string(c.Old) != "2" || string(c.New) != "false" {
			t.Errorf("2 to 0 recorded as %s → %s", c.Old, c.New)
		}
	})
}

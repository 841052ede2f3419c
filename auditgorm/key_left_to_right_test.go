package auditgorm_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// ltrRow's column a sorts before id: GORM's SET of a map assigns a first.
type ltrRow struct {
	ID   int `gorm:"primaryKey;autoIncrement:false"`
	A    int
	Name string `gorm:"size:32"`
}

// MySQL and MariaDB assign an UPDATE's SET left to right: a key
// assignment reading a column assigned before it sees that column's new
// value, where the plugin computed the new key from the old one. Two rows
// swapped places in their entries (each recorded the other's name), and
// one row was refused as non-deterministic. Such a statement is refused
// there, with what to do; a key assignment that reads no column assigned
// before it is recorded, on every database.
func TestKeyAssignedAfterAColumnItReads(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &ltrRow{})
		must(t, reg.Register(&ltrRow{}))
		must(t, db.Create(&[]ltrRow{{ID: 1, A: 3, Name: "P"}, {ID: 2, A: 7, Name: "Q"}}).Error)
		before := len(entries(t, db))
		err := db.Model(&ltrRow{}).Where("id IN ?", []int{1, 2}).Updates(map[string]any{
			"a":  gorm.Expr("10 - a"),
			"id": gorm.Expr("a + 100"),
		}).Error
		var rows []ltrRow
		must(t, db.Order("id").Find(&rows).Error)
		if db.Dialector.Name() == "mysql" {
			if err == nil || !strings.Contains(err.Error(), "left to right") || !strings.Contains(err.Error(), "`a`") {
				t.Fatalf("a key reading a column assigned before it: %v", err)
			}
			if len(rows) != 2 || rows[0] != (ltrRow{1, 3, "P"}) || rows[1] != (ltrRow{2, 7, "Q"}) || len(entries(t, db)) != before {
				t.Fatalf("the refused statement wrote: %+v", rows)
			}
			// The same change with the key first, as SQL reads it elsewhere.
			must(t, db.Model(&ltrRow{}).Where("id IN ?", []int{1, 2}).Updates(map[string]any{
				"id": gorm.Expr("a + 100"),
			}).Error)
			must(t, db.Model(&ltrRow{}).Where("id IN ?", []int{103, 107}).Update("a", gorm.Expr("10 - a")).Error)
			rows = nil
			must(t, db.Order("id").Find(&rows).Error)
		} else {
			must(t, err)
		}
		if len(rows) != 2 || rows[0] != (ltrRow{103, 7, "P"}) || rows[1] != (ltrRow{107, 3, "Q"}) {
			t.Fatalf("rows %+v", rows)
		}
		for _, e := range entries(t, db)[before:] {
			if _, ok := e.Changes["name"]; ok {
				t.Errorf("entry %d of %s records a name change: %s", e.ID, e.ObjectPK, mustJSON(e.Changes))
			}
		}
		// Assigned before the key, a column the key does not read.
		must(t, db.Model(&ltrRow{}).Where("id = ?", 103).Updates(map[string]any{
			"a":  gorm.Expr("a + 1"),
			"id": gorm.Expr("id + 100"),
		}).Error)
		e := lastEntry(t, db)
		if e.ObjectPK != "103" || mustJSON(e.Changes) != `{"a":[7,8],"id":[103,203]}` {
			t.Errorf("entry of %s: %s", e.ObjectPK, mustJSON(e.Changes))
		}
	})
}

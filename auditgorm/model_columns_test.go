package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// CalcRow's Total is filled by queries of the application's own (a count,
// a join's column): GORM neither writes nor migrates it, and the table
// has no such column.
type CalcRow struct {
	ID    uint
	Name  string `gorm:"size:32"`
	Total int    `gorm:"->;-:migration"`
}

// TestReadOnlyFieldWithoutAColumn: a read-only field GORM does not
// migrate (`->;-:migration`), filled by queries of the application's own,
// has no column in the table, and made every audited write of the model
// fail (the plugin read and returned the column). It is no column of the
// model's entries; nothing is asked of the catalog for it, so a pool of
// one connection, held by the write's transaction, does not wait.
func TestReadOnlyFieldWithoutAColumn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &CalcRow{})
		must(t, reg.Register(&CalcRow{}))
		sqlDB, err := db.DB()
		must(t, err)
		sqlDB.SetMaxOpenConns(1)
		a := CalcRow{Name: "a"}
		must(t, db.Transaction(func(tx *gorm.DB) error { return tx.Create(&a).Error }))
		must(t, db.Model(&a).Update("name", "b").Error)
		must(t, db.Where("name = ?", "b").Updates(&CalcRow{Name: "c"}).Error)
		var got CalcRow
		must(t, db.Select("*, 5 AS total").First(&got, a.ID).Error)
		if got.Total != 5 || got.Name != "c" {
			t.Errorf("read back: %+v", got)
		}
		must(t, db.Delete(&a).Error)
		for _, e := range expectCount(t, db, 4) {
			if _, ok := e.Changes["total"]; ok {
				t.Errorf("entry %d names total: %s", e.ID, e.Changes)
			}
		}
	})
}

type ShadowBase struct {
	Name string `gorm:"size:32"`
	Kind string `gorm:"size:32"`
}

// ShadowRow's Name shadows its embedded struct's: GORM writes and reads
// the outer field.
type ShadowRow struct {
	ID         uint
	ShadowBase `gorm:"embedded"`
	Name       string `gorm:"size:32"`
}

// TestShadowedFieldOfAnEmbeddedStruct: two fields of one column (an
// embedded struct's, shadowed by the model's own) were both taken as
// columns, so PostgreSQL's statement that writes its entries returned the
// column twice and every audited update and delete failed ("column
// reference is ambiguous"). The column is the field GORM uses.
func TestShadowedFieldOfAnEmbeddedStruct(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &ShadowRow{})
		must(t, reg.Register(&ShadowRow{}))
		a := ShadowRow{Name: "outer", ShadowBase: ShadowBase{Name: "inner", Kind: "k"}}
		must(t, db.Create(&a).Error)
		must(t, db.Model(&a).Updates(map[string]any{"kind": "k2", "name": "outer2"}).Error)
		must(t, db.Delete(&a).Error)
		es := expectCount(t, db, 3)
		if c := es[0].Changes["name"]; string(c.New) != `"outer"` {
			t.Errorf("create: %s", es[0].Changes)
		}
		if c := es[1].Changes["name"]; string(c.Old) != `"outer"` || string(c.New) != `"outer2"` {
			t.Errorf("update: %s", es[1].Changes)
		}
		if c := es[2].Changes["name"]; string(c.Old) != `"outer2"` {
			t.Errorf("delete: %s", es[2].Changes)
		}
	})
}

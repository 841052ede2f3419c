package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

type GlobalRow struct {
	ID uint
	N  int
}

// TestEveryRowWithNoCondition: an update or delete of every row with no
// condition (AllowGlobalUpdate) of a model without soft delete, or
// unscoped, failed on every database: the plugin's read said WHERE with
// nothing after it.
func TestEveryRowWithNoCondition(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &GlobalRow{}, &Book{})
		must(t, reg.Register(&GlobalRow{}))
		must(t, reg.Register(&Book{}))
		must(t, db.Create(&[]GlobalRow{{N: 1}, {N: 2}}).Error)
		must(t, db.Create(&[]Book{{Title: "a"}, {Title: "b"}}).Error)
		all := db.Session(&gorm.Session{AllowGlobalUpdate: true})
		steps := []struct {
			name    string
			run     func() error
			entries int
		}{
			{"Update", func() error { return all.Model(&GlobalRow{}).Update("n", 5).Error }, 2},
			{"Update Expr", func() error { return all.Model(&GlobalRow{}).Update("n", gorm.Expr("n + 1")).Error }, 2},
			{"Updates map", func() error { return all.Model(&GlobalRow{}).Updates(map[string]any{"n": 9}).Error }, 2},
			{"UpdateColumn", func() error { return all.Model(&GlobalRow{}).UpdateColumn("n", 3).Error }, 2},
			{"Unscoped Update", func() error { return all.Unscoped().Model(&Book{}).Update("title", "c").Error }, 2},
			{"Delete", func() error { return all.Delete(&GlobalRow{}).Error }, 2},
			{"Unscoped Delete", func() error { return all.Unscoped().Delete(&Book{}).Error }, 2},
		}
		n := 4
		for _, s := range steps {
			if err := s.run(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			n += s.entries
			expectCount(t, db, n)
		}
		var left int64
		must(t, db.Unscoped().Model(&GlobalRow{}).Count(&left).Error)
		if left != 0 {
			t.Errorf("%d rows left", left)
		}
	})
}

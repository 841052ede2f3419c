package auditgorm_test

import (
	"slices"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

type NHParent struct {
	ID   uint
	Kids []NHKid `gorm:"foreignKey:ParentID"`
}

type NHKid struct {
	ID       uint
	ParentID uint
	Name     string `gorm:"size:32;uniqueIndex"`
}

// nhHookErr is what NHKid's hook's update returned.
var nhHookErr error

// AfterCreate is a best-effort step of the application's: its error is
// logged and ignored.
func (k *NHKid) AfterCreate(tx *gorm.DB) error {
	if k.Name == "k2" {
		nhHookErr = tx.Clauses(clause.Update{Modifier: "OR IGNORE"}).Model(&NHKid{}).
			Where("parent_id = ?", k.ParentID).Update("name", "same").Error
	}
	return nil
}

// TestHookOfANestedStatement: GORM saves a created object's associations
// in statements nested in its transaction, whose failure fails the whole;
// the plugin took every statement under them for one of those, also one a
// hook of the associated model ran and whose error it ignored: refused
// after it ran, that write was committed without its entry. It is undone
// (a savepoint), as every write whose error the caller may ignore.
func TestHookOfANestedStatement(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() != "sqlite" {
			t.Skip("UPDATE OR IGNORE is SQLite's")
		}
		reg := setup(t, db, &NHParent{}, &NHKid{})
		must(t, reg.Register(&NHParent{}))
		must(t, reg.Register(&NHKid{}))
		nhHookErr = nil
		p := NHParent{Kids: []NHKid{{Name: "k1"}, {Name: "k2"}}}
		must(t, db.Create(&p).Error)
		if nhHookErr == nil {
			t.Fatal("the hook's update was not refused")
		}
		var names []string
		must(t, db.Model(&NHKid{}).Order("id").Pluck("name", &names).Error)
		if !slices.Equal(names, []string{"k1", "k2"}) {
			t.Errorf("the kids are %v: the refused update stayed, and no entry says so", names)
		}
		expectCount(t, db, 3)
	})
}

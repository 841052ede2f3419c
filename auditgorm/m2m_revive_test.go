package auditgorm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// ReOwner's items are joined by ReLink, a join model with soft delete
// whose unique index includes deleted_at: a pair soft deleted can be
// appended again (a new live row), and a live pair can be inserted twice.
type ReOwner struct {
	ID    uint
	Name  string
	Items []ReItem `gorm:"many2many:re_links"`
}

type ReItem struct {
	ID   uint
	Name string
}

func (i ReItem) String() string { return i.Name }

type ReLink struct {
	ReOwnerID uint           `gorm:"uniqueIndex:re_pair"`
	ReItemID  uint           `gorm:"uniqueIndex:re_pair"`
	DeletedAt gorm.DeletedAt `gorm:"uniqueIndex:re_pair"`
}

// The pairs in a relation whose join model has soft delete are the live
// rows. Appending a pair soft deleted before inserts a live row: an add
// (MariaDB recorded none: its read before the insert found the deleted
// row). Appending a live pair again inserts a second live row, which
// changes nothing: no entry (SQLite and PostgreSQL recorded an add: the
// insert returned the row).
func TestM2MSoftDeletedPairAppendedAgain(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditJoin(t, db, &ReOwner{}, &ReLink{}, &ReItem{})
		o := ReOwner{Name: "o"}
		must(t, db.Create(&o).Error)
		items := []ReItem{{Name: "a"}, {Name: "b"}}
		must(t, db.Create(&items).Error)
		a, b := &ReItem{ID: items[0].ID}, &ReItem{ID: items[1].ID}
		assoc := func() *gorm.Association { return db.Model(&ReOwner{ID: o.ID}).Association("Items") }
		owner := fmt.Sprintf("ReOwner(%d) items ", o.ID)
		must(t, assoc().Append(a))
		must(t, assoc().Delete(a))
		must(t, assoc().Append(a))
		must(t, assoc().Append(a))
		must(t, assoc().Append(a, b))
		expectLog(t, m2mLog(t, db, 0), owner+"add [a]", owner+"remove [a]", owner+"add [a]", owner+"add [b]")
		var live []ReLink
		must(t, db.Order("re_item_id").Find(&live).Error)
		if len(live) != 4 || live[3].ReItemID != b.ID {
			t.Fatalf("live rows %+v, want a's three and b's", live)
		}
	})
}

// MoveLink joins MoveOwner to MoveItem by a model with an id of its own.
type MoveOwner struct {
	ID    uint
	Items []MoveItem `gorm:"many2many:move_links"`
}

type MoveItem struct {
	ID   uint
	Name string
}

type MoveLink struct {
	ID          uint `gorm:"primaryKey"`
	MoveOwnerID uint
	MoveItemID  uint
}

// An upsert of an audited join table's rows records what it did to the
// relation, read before and after it: a soft-deleted pair it revives is
// added, a live pair it soft deletes is removed, a live pair it leaves
// live makes no entry. One that may move a row to another pair in place
// (it assigns a pair's column on a conflict with a key that does not hold
// the whole pair, or assigns it a value of its own) is refused before it
// runs, as an UPDATE of the join table is. Before, the revival made no
// entry on MariaDB and the upsert of a live pair an add on SQLite and
// PostgreSQL.
func TestM2MUpsertOfJoinRows(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		softJoin(t, db)
		o := SoftOwner{Name: "o"}
		must(t, db.Create(&o).Error)
		items := []SoftItem{{Name: "a"}, {Name: "b"}, {Name: "c"}}
		must(t, db.Create(&items).Error)
		a, b, c := items[0].ID, items[1].ID, items[2].ID
		owner := fmt.Sprintf("SoftOwner(%d) items ", o.ID)
		must(t, db.Model(&SoftOwner{ID: o.ID}).Association("Items").Append(&SoftItem{ID: a}))
		must(t, db.Model(&SoftOwner{ID: o.ID}).Association("Items").Delete(&SoftItem{ID: a}))
		from := len(entries(t, db))
		revive := func(ids ...uint) error {
			rows := make([]SoftLink, len(ids))
			for i, id := range ids {
				rows[i] = SoftLink{SoftOwnerID: o.ID, SoftItemID: id}
			}
			return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&rows).Error
		}
		must(t, revive(a))
		must(t, revive(a)) // live already
		expectLog(t, m2mLog(t, db, from), owner+"add [a]")
		from = len(entries(t, db))
		// Soft deletes the pair.
		must(t, db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "soft_owner_id"}, {Name: "soft_item_id"}}, DoUpdates: clause.AssignmentColumns([]string{"deleted_at"})}).
			Create(&SoftLink{SoftOwnerID: o.ID, SoftItemID: a, DeletedAt: gorm.DeletedAt{Time: time.Now(), Valid: true}}).Error)
		expectLog(t, m2mLog(t, db, from), owner+"remove [a]")
		from = len(entries(t, db))
		// a soft deleted, b new: both added, in one entry.
		must(t, revive(a, b))
		// The pair's columns assigned what the row sends, on a conflict
		// with the pair: no move, and both live already.
		must(t, db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "soft_owner_id"}, {Name: "soft_item_id"}}, DoUpdates: clause.AssignmentColumns([]string{"soft_item_id", "deleted_at"})}).
			Create(&[]SoftLink{{SoftOwnerID: o.ID, SoftItemID: a}, {SoftOwnerID: o.ID, SoftItemID: b}}).Error)
		expectLog(t, m2mLog(t, db, from), owner+"add [a,b]")
		from = len(entries(t, db))
		// A value of its own for the pair's column would move a to c.
		err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "soft_owner_id"}, {Name: "soft_item_id"}}, DoUpdates: clause.Assignments(map[string]any{"soft_item_id": c})}).
			Create(&SoftLink{SoftOwnerID: o.ID, SoftItemID: a}).Error
		if err == nil || !strings.Contains(err.Error(), "may change another pair") {
			t.Fatalf("upsert assigning the pair a value of its own: %v, want it refused", err)
		}
		expectLog(t, m2mLog(t, db, from))
		var live []SoftLink
		must(t, db.Order("soft_item_id").Find(&live).Error)
		if len(live) != 2 || live[0].SoftItemID != a || live[1].SoftItemID != b {
			t.Fatalf("live pairs %+v, want a and b", live)
		}
	})
}

// On a join model with an id of its own, UpdateAll assigns the pair's
// columns on a conflict with the id: a row with that id would move to the
// pair sent. Refused on every database, before anything is written. Such
// a table can hold a pair twice: appending a pair that is there inserts
// another row for it, and no entry (SQLite and PostgreSQL recorded an
// add: the insert returned the row).
func TestM2MUpsertMovingAJoinRowIsRefused(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditJoin(t, db, &MoveOwner{}, &MoveLink{}, &MoveItem{})
		o := MoveOwner{}
		must(t, db.Create(&o).Error)
		items := []MoveItem{{Name: "a"}, {Name: "b"}}
		must(t, db.Create(&items).Error)
		must(t, db.Model(&MoveOwner{ID: o.ID}).Association("Items").Append(&MoveItem{ID: items[0].ID}))
		var link MoveLink
		must(t, db.First(&link).Error)
		from := len(entries(t, db))
		err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, UpdateAll: true}).
			Create(&MoveLink{ID: link.ID, MoveOwnerID: o.ID, MoveItemID: items[1].ID}).Error
		if err == nil || !strings.Contains(err.Error(), "may change another pair") {
			t.Fatalf("upsert moving a join row: %v, want it refused", err)
		}
		var links []MoveLink
		must(t, db.Find(&links).Error)
		if len(links) != 1 || links[0] != link {
			t.Fatalf("join rows %+v, want %+v as it was", links, link)
		}
		expectLog(t, m2mLog(t, db, from))
		// Appending, GORM's DO NOTHING, is not refused.
		must(t, db.Model(&MoveOwner{ID: o.ID}).Association("Items").Append(&MoveItem{ID: items[1].ID}))
		// Again: the table has no unique key on the pair, and inserts a
		// second row for it, which changes nothing in the relation.
		must(t, db.Model(&MoveOwner{ID: o.ID}).Association("Items").Append(&MoveItem{ID: items[1].ID}))
		expectLog(t, m2mLog(t, db, from), fmt.Sprintf("MoveOwner(%d) items add [MoveItem(%d)]", o.ID, items[1].ID))
		var rows int64
		must(t, db.Model(&MoveLink{}).Count(&rows).Error)
		if rows != 3 {
			t.Fatalf("%d join rows, want 3", rows)
		}
	})
}

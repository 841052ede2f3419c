package auditgorm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// IDOwner's items are joined by IDLink: an id of its own, soft delete, no
// unique key on the pair.
type IDOwner struct {
	ID    uint
	Name  string
	Items []IDItem `gorm:"many2many:id_links"`
}

type IDItem struct {
	ID   uint
	Name string
}

func (i IDItem) String() string { return i.Name }

type IDLink struct {
	ID        uint `gorm:"primaryKey"`
	IDOwnerID uint
	IDItemID  uint
	DeletedAt gorm.DeletedAt
}

// idJoin audits IDOwner's items and makes an owner and items a, b.
func idJoin(t *testing.T, db *gorm.DB) (owner uint, a, b uint) {
	t.Helper()
	auditJoin(t, db, &IDOwner{}, &IDLink{}, &IDItem{})
	o := IDOwner{Name: "o"}
	must(t, db.Create(&o).Error)
	items := []IDItem{{Name: "a"}, {Name: "b"}}
	must(t, db.Create(&items).Error)
	return o.ID, items[0].ID, items[1].ID
}

// livePairs lists IDLink's live pairs as owner-item, by id.
func livePairs(t *testing.T, db *gorm.DB) string {
	t.Helper()
	var ls []IDLink
	must(t, db.Order("id").Find(&ls).Error)
	var out []string
	for _, l := range ls {
		out = append(out, fmt.Sprintf("%d-%d", l.IDOwnerID, l.IDItemID))
	}
	return strings.Join(out, " ")
}

// On a join model with soft delete whatever its writes name, the pairs in
// the relation are its live rows, and a write's entries are how they
// changed:
//   - a row inserted already soft deleted adds nothing (SQLite and
//     PostgreSQL recorded an add: the insert returned the row);
//   - a Table(join) write, which names no model, is read with the join
//     model's query clauses all the same: a map inserted soft deleted adds
//     nothing, one that brings back a soft-deleted pair is an add
//     (recorded as nothing before), and a delete of soft-deleted pairs
//     removes nothing;
//   - a map keyed by the model's field names (db.Model(&Link{}).Create) is
//     read as GORM reads it (recorded as nothing before on MariaDB and, for
//     this model, on every database);
//   - an upsert that assigns deleted_at on a conflict with the id, which
//     may soft delete or revive the pair of the row it collides with, not
//     the pair it sends, is refused before it runs (it changed that pair
//     without an entry).
func TestM2MSoftDeleteJoinModelWrites(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		o, a, b := idJoin(t, db)
		owner := fmt.Sprintf("IDOwner(%d) items ", o)
		pair := func(item uint) string { return fmt.Sprintf("%d-%d", o, item) }
		gone := gorm.DeletedAt{Time: time.Now(), Valid: true}

		must(t, db.Create(&[]IDLink{{IDOwnerID: o, IDItemID: a, DeletedAt: gone}, {IDOwnerID: o, IDItemID: b}}).Error)
		expectLog(t, m2mLog(t, db, 0), owner+"add [b]")
		from := len(entries(t, db))
		must(t, db.Table("id_links").Create(map[string]any{"id_owner_id": o, "id_item_id": a, "deleted_at": time.Now()}).Error)
		expectLog(t, m2mLog(t, db, from))
		must(t, db.Table("id_links").Create(map[string]any{"id_owner_id": o, "id_item_id": a}).Error)
		expectLog(t, m2mLog(t, db, from), owner+"add [a]")
		if got, want := livePairs(t, db), pair(b)+" "+pair(a); got != want {
			t.Fatalf("live pairs %s, want %s", got, want)
		}

		// The Table delete deletes a's two soft-deleted rows too: only the
		// live one leaves the relation now.
		from = len(entries(t, db))
		must(t, db.Table("id_links").Where("id_item_id = ?", a).Delete(map[string]any{}).Error)
		expectLog(t, m2mLog(t, db, from), owner+"remove [a]")
		must(t, db.Model(&IDLink{}).Create(map[string]any{"IDOwnerID": o, "IDItemID": a}).Error)
		expectLog(t, m2mLog(t, db, from), owner+"remove [a]", owner+"add [a]")

		var link IDLink
		must(t, db.Where("id_item_id = ?", a).First(&link).Error)
		from = len(entries(t, db))
		for _, oc := range []clause.OnConflict{
			{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"deleted_at"})},
			{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.Assignments(map[string]any{"deleted_at": nil})},
		} {
			err := db.Clauses(oc).Create(&IDLink{ID: link.ID, IDOwnerID: o, IDItemID: b, DeletedAt: gone}).Error
			if err == nil || !strings.Contains(err.Error(), "may change another pair") {
				t.Fatalf("upsert soft deleting the pair of the row it collides with: %v, want it refused", err)
			}
		}
		expectLog(t, m2mLog(t, db, from))
		if got, want := livePairs(t, db), pair(b)+" "+pair(a); got != want {
			t.Fatalf("live pairs %s, want %s as they were", got, want)
		}
	})
}

// A soft-delete join model's rows upserted through Table(join), with a
// target that holds the pair: soft deleting a live pair is a removal,
// bringing it back an add (neither was recorded before).
func TestM2MTableUpsertOfSoftDeleteJoinRows(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		softJoin(t, db)
		o := SoftOwner{Name: "o"}
		must(t, db.Create(&o).Error)
		item := SoftItem{Name: "a"}
		must(t, db.Create(&item).Error)
		must(t, db.Model(&SoftOwner{ID: o.ID}).Association("Items").Append(&SoftItem{ID: item.ID}))
		from := len(entries(t, db))
		up := clause.OnConflict{Columns: []clause.Column{{Name: "soft_owner_id"}, {Name: "soft_item_id"}}, DoUpdates: clause.AssignmentColumns([]string{"deleted_at"})}
		must(t, db.Table("soft_links").Clauses(up).Create(map[string]any{"soft_owner_id": o.ID, "soft_item_id": item.ID, "deleted_at": time.Now()}).Error)
		must(t, db.Table("soft_links").Clauses(up).Create(map[string]any{"soft_owner_id": o.ID, "soft_item_id": item.ID, "deleted_at": nil}).Error)
		owner := fmt.Sprintf("SoftOwner(%d) items ", o.ID)
		expectLog(t, m2mLog(t, db, from), owner+"remove [a]", owner+"add [a]")
	})
}

// SQLite's INSERT OR REPLACE deletes the rows it collides with on any
// unique key, then inserts: colliding on the id of another pair's row, it
// would move that row to the pair sent, and is refused before it runs
// (recorded as an add, without the removal, before); into a join table
// whose every unique key holds the pair, a pair that is there replaced by
// itself changes nothing (recorded as an add before).
func TestM2MInsertOrReplaceOfJoinRows(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	o, a, b := idJoin(t, db)
	must(t, db.Model(&IDOwner{ID: o}).Association("Items").Append(&IDItem{ID: a}))
	var link IDLink
	must(t, db.First(&link).Error)
	from := len(entries(t, db))
	err := db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&IDLink{ID: link.ID, IDOwnerID: o, IDItemID: b}).Error
	if err == nil || !strings.Contains(err.Error(), "may change another pair") {
		t.Fatalf("INSERT OR REPLACE moving a join row: %v, want it refused", err)
	}
	if got, want := livePairs(t, db), fmt.Sprintf("%d-%d", o, a); got != want {
		t.Fatalf("live pairs %s, want %s", got, want)
	}
	expectLog(t, m2mLog(t, db, from))

	// GORM's own join table: the pair there replaced by itself.
	db = testdb.Open(t, "sqlite")
	reg := setup(t, db, &User{}, &Tag{})
	must(t, reg.Register(&User{}, auditlog.M2M("Tags")))
	u := User{Name: "ann", Tags: []Tag{{Name: "t"}}}
	must(t, db.Create(&u).Error)
	from = len(entries(t, db))
	must(t, db.Table("user_tags").Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(map[string]any{"user_id": u.ID, "tag_id": u.Tags[0].ID}).Error)
	expectLog(t, m2mLog(t, db, from))
}

package auditgorm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type jrOwner struct {
	ID    uint
	Name  string
	Items []jrItem `gorm:"many2many:jr_links"`
}

type jrItem struct {
	ID   uint
	Name string
}

func (i jrItem) String() string { return i.Name }

// jrLink is a join model with a key of its own and no unique pair.
type jrLink struct {
	ID        uint `gorm:"primaryKey"`
	JrOwnerID uint
	JrItemID  uint
}

type jrSoftOwner struct {
	ID    uint
	Items []jrItem `gorm:"many2many:jr_soft_links"`
}

// jrSoftLink is a join model with soft delete.
type jrSoftLink struct {
	ID            uint `gorm:"primaryKey"`
	JrSoftOwnerID uint
	JrItemID      uint
	DeletedAt     gorm.DeletedAt
}

// Rows of a join model given to Delete (db.Delete(&link), a slice of
// them, a soft delete) removed their pairs with no entry: the plugin
// took the statement for one without conditions, which gorm:delete then
// gives the rows' keys. Their pairs' removals are recorded.
func TestDeleteOfJoinModelRows(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditJoin(t, db, &jrOwner{}, &jrLink{}, &jrItem{})
		ctx := context.Background()
		o := jrOwner{Name: "o", Items: []jrItem{{Name: "a"}, {Name: "b"}, {Name: "c"}}}
		must(t, db.Create(&o).Error)
		var links []jrLink
		must(t, db.Order("id").Find(&links).Error)
		from := len(entries(t, db))
		must(t, db.Delete(&links[0]).Error)
		rest := links[1:]
		must(t, db.Delete(&rest).Error)
		if got := strings.Join(m2mLog(t, db, from), " | "); !strings.Contains(got, "remove [a]") || !strings.Contains(got, "remove [b,c]") {
			t.Errorf("entries of the join rows deleted: %q", got)
		}
		var st jrOwner
		st.ID = o.ID
		_, err := auditgorm.AsOf(ctx, db, &st, time.Now().Add(time.Hour))
		must(t, err)
		if len(st.Items) != 0 {
			t.Errorf("as of now the owner has %d items; the table holds none", len(st.Items))
		}
	})
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditJoin(t, db, &jrSoftOwner{}, &jrSoftLink{}, &jrItem{})
		o := jrSoftOwner{Items: []jrItem{{Name: "a"}}}
		must(t, db.Create(&o).Error)
		var link jrSoftLink
		must(t, db.First(&link).Error)
		from := len(entries(t, db))
		must(t, db.Delete(&link).Error)
		if got := m2mLog(t, db, from); len(got) != 1 || !strings.Contains(got[0], "remove [a]") {
			t.Errorf("entries of a join row soft deleted: %q", got)
		}
	})
}

// A join row whose pair the database chose, not the statement (a pair
// column left out by Omit or Select, or given as SQL, or NULL), was
// recorded from the Go values sent: an add of an item never stored, an
// object named by the JSON of a gorm.Expr, an add of an object of no key;
// on PostgreSQL a NULL panicked. Such an insert is refused, nothing
// written.
func TestJoinRowsWhosePairIsNotSent(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditJoin(t, db, &jrOwner{}, &jrLink{}, &jrItem{})
		o := jrOwner{Name: "o", Items: []jrItem{{Name: "a"}}}
		must(t, db.Create(&o).Error)
		item := jrItem{Name: "d"}
		must(t, db.Create(&item).Error)
		from := len(entries(t, db))
		for name, write := range map[string]func() error{
			"omit":   func() error { return db.Omit("JrItemID").Create(&jrLink{JrOwnerID: o.ID, JrItemID: item.ID}).Error },
			"select": func() error { return db.Select("JrOwnerID").Create(&jrLink{JrOwnerID: o.ID, JrItemID: item.ID}).Error },
			"expr": func() error {
				return db.Table("jr_links").Create(map[string]any{"jr_owner_id": o.ID, "jr_item_id": gorm.Expr("?", item.ID)}).Error
			},
			"nil": func() error {
				return db.Table("jr_links").Create(map[string]any{"jr_owner_id": o.ID, "jr_item_id": nil}).Error
			},
			"missing key": func() error { return db.Table("jr_links").Create(map[string]any{"jr_owner_id": o.ID}).Error },
		} {
			if err := write(); err == nil || !strings.Contains(err.Error(), "cannot be audited") {
				t.Errorf("%s: %v", name, err)
			}
		}
		var n int64
		must(t, db.Model(&jrLink{}).Count(&n).Error)
		if n != 1 || len(entries(t, db)) != from {
			t.Errorf("%d join rows, %d entries written", n, len(entries(t, db))-from)
		}
		// Every pair column given: recorded.
		must(t, db.Table("jr_links").Create(map[string]any{"jr_owner_id": o.ID, "jr_item_id": item.ID}).Error)
		if got := m2mLog(t, db, from); len(got) != 1 || !strings.Contains(got[0], "add [d]") {
			t.Errorf("the map of both columns: %q", got)
		}
	})
}

// A pair held by two rows of a join table without a unique pair: deleting
// one of them was recorded as the pair's removal, though the relation
// still holds it. Only the last row's delete removes the pair.
func TestDeleteOfOneOfTwoRowsOfAPair(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditJoin(t, db, &jrOwner{}, &jrLink{}, &jrItem{})
		o := jrOwner{Name: "o", Items: []jrItem{{Name: "a"}}}
		must(t, db.Create(&o).Error)
		must(t, db.Create(&jrLink{JrOwnerID: o.ID, JrItemID: o.Items[0].ID}).Error) // the pair again: no entry
		var links []jrLink
		must(t, db.Order("id").Find(&links).Error)
		from := len(entries(t, db))
		must(t, db.Where("id = ?", links[0].ID).Delete(&jrLink{}).Error)
		if got := m2mLog(t, db, from); len(got) != 0 {
			t.Errorf("one of the pair's two rows deleted: %q", got)
		}
		must(t, db.Where("id = ?", links[1].ID).Delete(&jrLink{}).Error)
		if got := m2mLog(t, db, from); len(got) != 1 || !strings.Contains(got[0], "remove [a]") {
			t.Errorf("the pair's last row deleted: %q", got)
		}
	})
}

// A delete naming the owner and narrowed by anything else (a join row's
// key, another column) removes some of its pairs: it was recorded as a
// clear, which time travel reads as every pair gone.
func TestPartialDeleteOfAnOwnersPairsIsNoClear(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditJoin(t, db, &jrOwner{}, &jrLink{}, &jrItem{})
		o := jrOwner{Name: "o", Items: []jrItem{{Name: "a"}, {Name: "b"}, {Name: "c"}}}
		must(t, db.Create(&o).Error)
		var links []jrLink
		must(t, db.Order("id").Find(&links).Error)
		from := len(entries(t, db))
		must(t, db.Where("jr_owner_id = ?", o.ID).Delete(&links[0]).Error)
		must(t, db.Where("jr_owner_id = ? AND id = ?", o.ID, links[1].ID).Delete(&jrLink{}).Error)
		if got := strings.Join(m2mLog(t, db, from), " | "); got != "jrOwner(1) items remove [a] | jrOwner(1) items remove [b]" {
			t.Errorf("partial deletes: %q", got)
		}
		from = len(entries(t, db))
		must(t, db.Model(&o).Association("Items").Clear())
		if got := m2mLog(t, db, from); len(got) != 1 || got[0] != "jrOwner(1) items clear [c]" {
			t.Errorf("a clear: %q", got)
		}
	})
}

type jrDefOwner struct {
	ID    uint
	Items []jrItem `gorm:"many2many:jr_def_links"`
}

// jrDefLink's item column has a default of the database's.
type jrDefLink struct {
	ID           uint `gorm:"primaryKey"`
	JrDefOwnerID uint
	JrItemID     uint `gorm:"default:(1)"`
}

// A join row whose pair column is zero where the column has a default:
// GORM leaves it out and the database's default goes in; it was recorded
// as an add of item 0 (on MariaDB not at all). It is refused.
func TestJoinRowOfADefaultPairColumn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditJoin(t, db, &jrDefOwner{}, &jrDefLink{}, &jrItem{})
		o := jrDefOwner{}
		must(t, db.Create(&o).Error)
		must(t, db.Create(&jrItem{Name: "a"}).Error)
		from := len(entries(t, db))
		if err := db.Create(&jrDefLink{JrDefOwnerID: o.ID}).Error; err == nil || !strings.Contains(err.Error(), "default") {
			t.Fatalf("a join row of a zero pair column with a default: %v", err)
		}
		if got := m2mLog(t, db, from); len(got) != 0 {
			t.Errorf("entries: %q", got)
		}
		must(t, db.Create(&jrDefLink{JrDefOwnerID: o.ID, JrItemID: 1}).Error)
		if got := m2mLog(t, db, from); len(got) != 1 || !strings.Contains(got[0], "add [a]") {
			t.Errorf("the pair given: %q", got)
		}
	})
}

// A join row with a NULL pair column (written outside the relation) joins
// nothing: its delete was recorded as the removal of an object of no key.
func TestDeleteOfAJoinRowWithANullPair(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		auditJoin(t, db, &jrOwner{}, &jrLink{}, &jrItem{})
		o := jrOwner{Name: "o", Items: []jrItem{{Name: "a"}}}
		must(t, db.Create(&o).Error)
		must(t, db.Exec("INSERT INTO jr_links (jr_owner_id, jr_item_id) VALUES (?, NULL)", o.ID).Error)
		from := len(entries(t, db))
		must(t, db.Model(&o).Association("Items").Clear())
		if got := m2mLog(t, db, from); len(got) != 1 || got[0] != "jrOwner(1) items clear [a]" {
			t.Errorf("a clear over a row of a NULL pair: %q", got)
		}
	})
}

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

package auditgorm_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type CrOwner struct {
	ID    uint
	Name  string
	Items []CrItem `gorm:"many2many:cr_links"`
}

type CrItem struct {
	ID   uint
	Name string
}

type CrLink struct {
	ID        uint   `gorm:"primaryKey"`
	CrOwnerID uint   `gorm:"uniqueIndex:ux_cr_pair"`
	CrItemID  uint   `gorm:"uniqueIndex:ux_cr_pair"`
	Kind      string `gorm:"size:16;default:member"`
	CreatedAt time.Time
	DeletedAt gorm.DeletedAt
}

func crM2MOpen(t *testing.T, db *gorm.DB, audited bool) {
	if audited {
		reg := auditlog.NewRegistry()
		must(t, reg.Register(&CrOwner{}, auditlog.M2M("Items")))
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
	}
	must(t, db.SetupJoinTable(&CrOwner{}, "Items", &CrLink{}))
	must(t, db.AutoMigrate(&CrOwner{}, &CrItem{}, &CrLink{}))
}

type crObs struct {
	RowsAffected []int64
	Links        []string
	Objects      []string
}

func crScenario(t *testing.T, db *gorm.DB) crObs {
	var o crObs
	rec := func(tx *gorm.DB) {
		must(t, tx.Error)
		o.RowsAffected = append(o.RowsAffected, tx.RowsAffected)
	}
	items := []CrItem{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
	rec(db.Create(&items))
	ow := CrOwner{Name: "o", Items: []CrItem{items[0], items[1]}}
	rec(db.Create(&ow))
	must(t, db.Model(&ow).Association("Items").Append(&items[2], &items[0]))
	must(t, db.Model(&ow).Association("Items").Delete(&items[1]))
	// re-append a soft-deleted pair
	must(t, db.Model(&ow).Association("Items").Append(&items[1]))
	must(t, db.Model(&ow).Association("Items").Replace(&items[3], &items[2]))
	ow.Items = []CrItem{items[0], items[3]}
	rec(db.Session(&gorm.Session{FullSaveAssociations: true}).Save(&ow))
	ow2 := CrOwner{Name: "p"}
	rec(db.Create(&ow2))
	ls := []CrLink{{CrOwnerID: ow2.ID, CrItemID: items[0].ID}, {CrOwnerID: ow2.ID, CrItemID: items[1].ID, Kind: "x"}, {CrOwnerID: ow2.ID, CrItemID: items[2].ID}}
	rec(db.CreateInBatches(&ls, 2))
	for _, l := range ls {
		o.Objects = append(o.Objects, fmt.Sprintf("%d/%d/%d/%s", l.ID, l.CrOwnerID, l.CrItemID, l.Kind))
	}
	rec(db.Table("cr_links").Create([]map[string]any{{"cr_owner_id": ow2.ID, "cr_item_id": items[3].ID, "kind": "m"}}))
	var all []CrLink
	must(t, db.Unscoped().Order("id").Find(&all).Error)
	for _, l := range all {
		o.Links = append(o.Links, fmt.Sprintf("%d/%d/%d/%s/%v", l.ID, l.CrOwnerID, l.CrItemID, l.Kind, l.DeletedAt.Valid))
	}
	return o
}

func TestCrM2MJoinModel(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		plain := testdb.Open(t, db.Dialector.Name())
		crM2MOpen(t, plain, false)
		want := crScenario(t, plain)
		crM2MOpen(t, db, true)
		got := crScenario(t, db)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("\n got %+v\nwant %+v", got, want)
		}
		var lines []string
		for _, e := range entries(t, db) {
			for _, f := range e.Changes.Fields() {
				if c := e.Changes[f]; c.M2M != nil {
					lines = append(lines, e.ObjectPK+" "+string(c.M2M.Operation)+" ["+strings.Join(c.M2M.Objects, ",")+"]")
				}
			}
		}
		t.Logf("entries:\n%s", strings.Join(lines, "\n"))
		_ = context.Background
	})
}

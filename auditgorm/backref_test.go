package auditgorm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A has-one or has-many relation is also listed in the related model's
// schema (GORM names it "_Owner_Field"), with the owner's field. The
// capture walked every relation of a model as its own: a registered child
// with a String method (or a secret field) panicked ("reflect: Field index
// out of range") on its own plain writes, or read another field of itself
// as the related object.

type brShop struct {
	ID      uint
	Name    string
	City    string
	Street  string
	Zip     string
	Invoice brInvoice
}

type brInvoice struct {
	ID       uint
	BrShopID uint
	Total    int
}

func (i brInvoice) String() string { return fmt.Sprintf("invoice %d", i.Total) }

type brOrder struct {
	ID       uint
	Customer string
	Note     string
	Ref      string
	Lines    []brLine `gorm:"foreignKey:OrderID"`
}

type brLine struct {
	ID      uint
	OrderID uint
	Qty     int
}

func (l brLine) String() string { return fmt.Sprintf("line x%d", l.Qty) }

type brMember struct {
	ID   uint
	Card brCard
}

type brCard struct {
	ID         uint
	IssuedAt   time.Time
	BrMemberID uint
	Number     string
}

func (c brCard) String() string {
	return "card " + c.Number + " issued " + c.IssuedAt.Format(time.DateOnly)
}

func TestRelationsOfAnotherModelAreNotTheModels(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &brShop{}, &brInvoice{}, &brOrder{}, &brLine{}, &brMember{}, &brCard{})
		must(t, reg.Register(&brInvoice{}))
		must(t, reg.Register(&brLine{}))
		must(t, reg.Register(&brCard{}, auditlog.Mask("Number")))
		try := func(name string, f func() error) {
			t.Helper()
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic: %v", name, r)
				}
			}()
			if err := f(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		// The owners are parsed first (their relations are put in the
		// related models' schemas then).
		try("create a shop with its invoice", func() error { return db.Create(&brShop{Name: "s", Invoice: brInvoice{Total: 1}}).Error })
		s := brShop{Name: "s2"}
		must(t, db.Omit("Invoice").Create(&s).Error)
		inv := brInvoice{BrShopID: s.ID, Total: 5}
		try("create an invoice", func() error { return db.Create(&inv).Error })
		try("update an invoice", func() error { return db.Model(&inv).Update("total", 6).Error })
		try("update invoices by a condition", func() error {
			return db.Model(&brInvoice{}).Where("id = ?", inv.ID).Update("total", 7).Error
		})
		try("save a shop with its invoice", func() error {
			s.Invoice = brInvoice{ID: inv.ID, BrShopID: s.ID, Total: 9}
			return db.Session(&gorm.Session{FullSaveAssociations: true}).Save(&s).Error
		})
		try("delete an invoice", func() error { return db.Delete(&inv).Error })

		o := brOrder{Customer: "c"}
		must(t, db.Omit("Lines").Create(&o).Error)
		l := brLine{OrderID: o.ID, Qty: 1}
		try("create a line", func() error { return db.Create(&l).Error })
		try("update a line", func() error { return db.Model(&l).Update("qty", 2).Error })

		m := brMember{}
		must(t, db.Create(&m).Error)
		issued := time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)
		c := brCard{BrMemberID: m.ID, IssuedAt: issued, Number: "4929000011112222"}
		try("create a card", func() error { return db.Create(&c).Error })
		try("update a card", func() error { return db.Model(&c).Update("number", "4929000033334444").Error })

		var reprs []string
		for _, e := range entries(t, db) {
			reprs = append(reprs, e.Model+" "+e.Action.String()+" "+e.ObjectRepr)
			for _, secret := range []string{"4929000011112222", "4929000033334444"} {
				if strings.Contains(fmt.Sprint(e), secret) {
					t.Errorf("a card number in clear: %+v", e)
				}
			}
		}
		got := strings.Join(reprs, "\n")
		for _, w := range []string{
			"br_invoices create invoice 1", "br_invoices create invoice 5", "br_invoices update invoice 6",
			"br_invoices update invoice 7", "br_invoices update invoice 9", "br_invoices delete invoice 9",
			"br_lines create line x1", "br_lines update line x2",
			"br_cards create card ************2222 issued 2024-05-06", "br_cards update card ************4444 issued 2024-05-06",
		} {
			if !strings.Contains(got, w) {
				t.Errorf("entries:\n%s\nwant one %q", got, w)
			}
		}
	})
}

type cyParent struct {
	ID     uint
	Name   string
	Secret string
	Kids   []cyKid `gorm:"foreignKey:CyParentID"`
}

func (p cyParent) String() string { return "parent " + p.Name + " " + p.Secret }

type cyKid struct {
	ID         uint
	CyParentID uint
	Parent     *cyParent `gorm:"foreignKey:CyParentID"`
}

func (k cyKid) String() string { return fmt.Sprint("kid ", k.ID) }

// A parent whose loaded children point back at it (a program linking its
// objects both ways): hiding related objects copied every path through
// them, parent, children, parent again, down to its depth bound, so one
// update took a second with six children and hours with ten. Each object
// reached through a pointer is copied once: the work grows with the
// objects, not the paths (counted in allocations: no clock in tests).
func TestRelatedObjectsLinkedBothWays(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &cyParent{}, &cyKid{})
	must(t, reg.Register(&cyParent{}, auditlog.Mask("Secret")))
	must(t, reg.Register(&cyKid{}))
	allocs := func(kids int) float64 {
		p := cyParent{Name: "p", Secret: "SECRET-0001"}
		must(t, db.Omit("Kids").Create(&p).Error)
		for range kids {
			k := cyKid{CyParentID: p.ID}
			must(t, db.Omit("Parent").Create(&k).Error)
			p.Kids = append(p.Kids, k)
		}
		for i := range p.Kids {
			p.Kids[i].Parent = &p
		}
		n := 0
		return testing.AllocsPerRun(3, func() {
			n++
			must(t, db.Model(&p).Update("name", fmt.Sprint("q", n)).Error)
		})
	}
	three, six := allocs(3), allocs(6)
	if six > 2*three {
		t.Errorf("an update of a parent with six children linked back took %.0f allocations, with three %.0f", six, three)
	}
	for _, e := range entries(t, db) {
		if strings.Contains(fmt.Sprint(e), "SECRET-0001") {
			t.Errorf("the secret in clear: %+v", e)
		}
	}
}

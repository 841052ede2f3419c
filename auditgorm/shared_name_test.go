package auditgorm_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type SNCard struct {
	Number string
	Holder string
}

// SNPerson holds two embedded structs with a field of the same Go name.
type SNPerson struct {
	ID       uint
	Billing  SNCard `gorm:"embedded;embeddedPrefix:billing_"`
	Shipping SNCard `gorm:"embedded;embeddedPrefix:shipping_"`
}

// A Go field name that several embedded fields share names all of them:
// Mask("Number") masks both card numbers, Exclude("Number") leaves both
// out, in the changes and in the snapshot alike. A dotted path or a column
// names one of them.
func TestOptionNamingSeveralFields(t *testing.T) {
	const billing, shipping = "4111111111111111", "5555444433332222"
	for _, c := range []struct {
		name       string
		opts       []auditlog.Option
		clear      []string // must not appear
		shown      []string // columns recorded
		hiddenCols []string // columns not recorded
	}{
		{"mask", []auditlog.Option{auditlog.Mask("Number"), auditlog.Snapshot()}, []string{billing, shipping}, []string{"billing_number", "shipping_number"}, nil},
		{"exclude", []auditlog.Option{auditlog.Exclude("Number"), auditlog.Snapshot()}, []string{billing, shipping}, nil, []string{"billing_number", "shipping_number"}},
		{"exclude one by path", []auditlog.Option{auditlog.Exclude("Billing.Number")}, []string{billing}, []string{"shipping_number"}, []string{"billing_number"}},
		{"mask one by column", []auditlog.Option{auditlog.Mask("shipping_number")}, []string{shipping}, []string{"billing_number", "shipping_number"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, "sqlite")
			reg := auditlog.NewRegistry()
			must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
			must(t, db.AutoMigrate(&SNPerson{}))
			must(t, reg.Register(&SNPerson{}, c.opts...))
			p := SNPerson{Billing: SNCard{billing, "ann"}, Shipping: SNCard{shipping, "bob"}}
			must(t, db.Create(&p).Error)
			must(t, db.Model(&p).Updates(map[string]any{"billing_number": billing + "9", "shipping_number": shipping + "9"}).Error)
			for _, e := range entries(t, db) {
				all, err := json.Marshal(e)
				must(t, err)
				for _, s := range c.clear {
					if strings.Contains(string(all), s) {
						t.Errorf("entry %d holds %s in clear: %s", e.ID, s, all)
					}
				}
				for _, col := range c.shown {
					if _, ok := e.Changes[col]; !ok {
						t.Errorf("entry %d does not record %s: %s", e.ID, col, all)
					}
				}
				for _, col := range c.hiddenCols {
					if _, ok := e.Changes[col]; ok {
						t.Errorf("entry %d records %s: %s", e.ID, col, all)
					}
				}
			}
		})
	}
}

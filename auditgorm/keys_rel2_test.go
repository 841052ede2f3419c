package auditgorm_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RvLine struct {
	ID      uint
	RvOrdID uint
	Secret  string
}

type RvMem struct {
	ID    uint
	Email string
}

type RvOrd struct {
	ID      uint
	Note    string
	RvMemID *uint
	RvMem   *RvMem
	RvLines []RvLine
}

func (o RvOrd) AuditRepr() string {
	s := o.Note
	if o.RvMem != nil {
		s += " " + o.RvMem.Email
	}
	for _, l := range o.RvLines {
		s += " " + l.Secret
	}
	return s
}

func TestReprRelatedPointerAndHasMany(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RvMem{}, &RvOrd{}, &RvLine{})
		must(t, reg.Register(&RvLine{}, auditlog.Mask("Secret")))
		must(t, reg.Register(&RvMem{}, auditlog.Exclude("Email")))
		must(t, reg.Register(&RvOrd{}))
		m := RvMem{Email: "mem-secret@x"}
		must(t, db.Create(&m).Error)
		o := RvOrd{Note: "n", RvMemID: &m.ID, RvMem: &m, RvLines: []RvLine{{Secret: "line-secret-1"}, {Secret: "line-secret-2"}}}
		must(t, db.Create(&o).Error)
		must(t, db.Model(&o).Omit(clause_assoc).Update("note", "n2").Error)
		var lines []RvOrd
		must(t, db.Preload("RvMem").Preload("RvLines").Find(&lines).Error)
		lines = append(lines, RvOrd{ID: 999})
		must(t, db.Select("RvLines").Delete(&lines).Error)
		for _, e := range entries(t, db) {
			t.Logf("%s %s %s %q", e.Model, e.Action, e.ObjectPK, e.ObjectRepr)
			if e.Model == "rv_ords" && (strings.Contains(e.ObjectRepr, "secret") || !strings.Contains(e.ObjectRepr, "n")) {
				t.Errorf("repr %q", e.ObjectRepr)
			}
		}
	})
}

const clause_assoc = "RvMem"

package auditgorm_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RRMember struct {
	ID    uint
	Name  string
	Email string
}

// rrDirectory stands for an application cache the repr reads a member's
// email from, outside the object.
var rrDirectory sync.Map

type RRRental struct {
	ID         uint
	Item       string
	RRMemberID uint
	RRMember   RRMember
}

func (r RRRental) AuditRepr() string {
	email, _ := rrDirectory.Load(r.RRMember.ID)
	s, _ := email.(string)
	return r.Item + " to " + r.RRMember.Name + " <" + s + ">"
}

func (r RRRental) AuditAdditionalData() any {
	email, _ := rrDirectory.Load(r.RRMember.ID)
	return map[string]any{"member": r.RRMember.Name, "email": email}
}

// The repr of an update or a delete sees the related objects loaded into
// the caller's object, as a create's does, hidden by their own
// registrations: the display text does not change between the entries of
// one object, and a secret of a related object the methods find another
// way is scrubbed on every entry.
func TestReprSeesRelatedObjectsOnUpdateAndDelete(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &RRMember{}, &RRRental{})
		must(t, reg.Register(&RRMember{}, auditlog.Mask("Email")))
		must(t, reg.Register(&RRRental{}))
		m := RRMember{Name: "Pat", Email: "pat.private@example.org"}
		must(t, db.Create(&m).Error)
		rrDirectory.Store(m.ID, m.Email)
		r := RRRental{Item: "Dune", RRMemberID: m.ID, RRMember: m}
		must(t, db.Omit("RRMember").Create(&r).Error)
		var got RRRental
		must(t, db.Preload("RRMember").First(&got, r.ID).Error)
		must(t, db.Model(&got).Update("item", "Dune 2").Error)
		got.Item = "Dune 3"
		must(t, db.Omit("RRMember").Save(&got).Error)
		must(t, db.Delete(&got).Error)
		var rentals []auditlog.Entry
		for _, e := range entries(t, db) {
			if e.Model == "rr_rentals" {
				rentals = append(rentals, e)
			}
		}
		if len(rentals) != 4 {
			t.Fatalf("%d rental entries", len(rentals))
		}
		for i, want := range []string{"Dune to Pat", "Dune 2 to Pat", "Dune 3 to Pat", "Dune 3 to Pat"} {
			e := rentals[i]
			all, err := json.Marshal(e)
			must(t, err)
			if strings.Contains(string(all), "pat.private") {
				t.Errorf("entry %d (%s) holds the member's email: %s", i, e.Action, all)
			}
			if !strings.HasPrefix(e.ObjectRepr, want+" <") {
				t.Errorf("entry %d (%s): repr %q, want %q…", i, e.Action, e.ObjectRepr, want)
			}
			if !strings.Contains(string(e.AdditionalData), `"Pat"`) {
				t.Errorf("entry %d (%s): additional data %s", i, e.Action, e.AdditionalData)
			}
		}
	})
}

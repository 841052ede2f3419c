package auditgorm_test

import (
	"testing"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// The update moves the rental to another member; the caller's object still
// holds the member it was loaded with.
func TestReprRelatedAfterForeignKeyChange(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RRMember{}, &RRRental{})
	must(t, reg.Register(&RRRental{}))
	pat := RRMember{Name: "Pat"}
	sam := RRMember{Name: "Sam"}
	must(t, db.Create(&pat).Error)
	must(t, db.Create(&sam).Error)
	r := RRRental{Item: "Dune", RRMemberID: pat.ID}
	must(t, db.Create(&r).Error)
	var got RRRental
	must(t, db.Preload("RRMember").First(&got, r.ID).Error)
	must(t, db.Model(&got).Omit("RRMember").Update("rr_member_id", sam.ID).Error)
	var now RRRental
	must(t, db.First(&now, r.ID).Error)
	t.Logf("member now %d (sam %d)", now.RRMemberID, sam.ID)
	es := entries(t, db)
	for _, x := range es {
		t.Logf("%s %s %s %q", x.Model, x.Action, mustJSON(x.Changes), x.ObjectRepr)
	}
	e := es[len(es)-1]
	t.Logf("%s %s repr=%q data=%s", e.Action, mustJSON(e.Changes), e.ObjectRepr, e.AdditionalData)
	if e.ObjectRepr == "Dune to Pat <>" {
		t.Errorf("the entry of the rental now Sam's names Pat: %q", e.ObjectRepr)
	}
}

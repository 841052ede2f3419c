package auditgorm_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type charKeyed struct {
	Code string `gorm:"type:char(8);primaryKey"`
	Name string
}

// PostgreSQL returns a char(n) value padded with spaces, which its
// comparisons ignore: a char(8) key "ab" was recorded as "ab      ", and
// the object's own key ("ab") found no history, no state and no revert.
// Such a key is recorded without its padding.
func TestCharKeyOnPostgres(t *testing.T) {
	db := testdb.Open(t, "postgres")
	reg := setup(t, db, &charKeyed{})
	must(t, reg.Register(&charKeyed{}))
	ctx := context.Background()
	must(t, db.Create(&charKeyed{Code: "ab", Name: "first"}).Error)
	time.Sleep(2 * time.Millisecond)
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	must(t, db.Model(&charKeyed{Code: "ab"}).Update("name", "second").Error)
	es := entries(t, db)
	for _, e := range es {
		if e.ObjectPK != "ab" {
			t.Errorf("entry %d names %q", e.ID, e.ObjectPK)
		}
	}
	page, err := auditgorm.History(ctx, db, &charKeyed{Code: "ab"}, auditstore.Page{})
	must(t, err)
	if len(page.Entries) != 2 {
		t.Errorf("history of ab: %d entries", len(page.Entries))
	}
	var then charKeyed
	then.Code = "ab"
	_, err = auditgorm.AsOf(ctx, db, &then, mid)
	must(t, err)
	if then.Name != "first" {
		t.Errorf("as of the create: %+v", then)
	}
	must(t, auditgorm.Revert(ctx, db, es[len(es)-1].ID, auditgorm.RevertOptions{}))
	var now charKeyed
	must(t, db.First(&now, "code = ?", "ab").Error)
	if now.Name != "first" {
		t.Errorf("after the revert: %+v", now)
	}
}

type uuidKeyed struct {
	ID   string `gorm:"type:uuid;primaryKey"`
	Name string
}

// PostgreSQL returns a uuid in lower case: entries name it so, and the
// object given with its key in upper case found no history or state.
func TestUpperCaseUUIDKeyOnPostgres(t *testing.T) {
	db := testdb.Open(t, "postgres")
	reg := setup(t, db, &uuidKeyed{})
	must(t, reg.Register(&uuidKeyed{}))
	ctx := context.Background()
	const upper = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
	must(t, db.Create(&uuidKeyed{ID: upper, Name: "first"}).Error)
	must(t, db.Model(&uuidKeyed{ID: upper}).Update("name", "second").Error)
	page, err := auditgorm.History(ctx, db, &uuidKeyed{ID: upper}, auditstore.Page{})
	must(t, err)
	if len(page.Entries) != 2 || page.Entries[0].ObjectPK != "6f9619ff-8b86-d011-b42d-00c04fc964ff" {
		t.Errorf("history of %s: %+v", upper, page.Entries)
	}
	st := uuidKeyed{ID: upper}
	if _, err := auditgorm.AsOf(ctx, db, &st, time.Now().Add(time.Hour)); err != nil || st.Name != "second" {
		t.Errorf("as of now: %+v, %v", st, err)
	}
}

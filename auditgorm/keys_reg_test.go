package auditgorm_test

import (
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// ID is the primary key by GORM's rule (the field named ID), whatever its column.
type RvIDCol struct {
	ID   uint `gorm:"column:uid"`
	Name string
}

func TestRegisterExcludedIDWithColumnTag(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RvIDCol{})
	err := reg.Register(&RvIDCol{}, auditlog.Exclude("ID"))
	t.Logf("Register: %v", err)
	if err == nil {
		t.Logf("write: %v", db.Create(&RvIDCol{Name: "a"}).Error)
		t.Errorf("Register accepted Exclude of the primary key ID (column uid)")
	}
}

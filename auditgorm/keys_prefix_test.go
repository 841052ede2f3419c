package auditgorm_test

import (
	"os"
	"testing"

	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RvPrefix struct {
	ID   uint
	Code string `gorm:"size:64"`
	N    int
}

// A MySQL unique index on a column prefix collides on values an equality
// on the whole column does not find.
func TestUpsertOnPrefixUniqueIndex(t *testing.T) {
	if os.Getenv(testdb.MySQLEnv) == "" {
		t.Skip()
	}
	db := testdb.Open(t, "mysql")
	reg := setup(t, db, &RvPrefix{})
	must(t, reg.Register(&RvPrefix{}))
	must(t, db.Exec("CREATE UNIQUE INDEX rv_prefixes_code ON rv_prefixes (code(3))").Error)
	must(t, db.Create(&RvPrefix{ID: 1, Code: "abc-1", N: 1}).Error)
	n := len(entries(t, db))
	err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"n"})}).Create(&[]RvPrefix{{ID: 2, Code: "abc-2", N: 99}}).Error
	t.Logf("upsert: %v", err)
	var r RvPrefix
	must(t, db.First(&r, 1).Error)
	es := entries(t, db)[n:]
	for _, e := range es {
		t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
	}
	if err == nil && r.N == 99 && (len(es) != 1 || es[0].Action != auditlog.ActionUpdate) {
		t.Errorf("row 1 was updated to n=99, entries: %d", len(es))
	}
}

package auditgorm_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RvQual struct {
	ID   uint
	Code string `gorm:"size:32"`
	N    int
}

// db.Table("otherdb.t"): GORM keeps only "t" in Statement.Table; the
// unique indexes read are otherdb's t's, not those of the connection's own
// database's t, so the upsert colliding on otherdb.t's unique code is an
// update of the row it collided with.
func TestUpsertOnSchemaQualifiedTable(t *testing.T) {
	if os.Getenv(testdb.MySQLEnv) == "" {
		t.Skip()
	}
	db := testdb.Open(t, "mysql")
	reg := setup(t, db, &RvQual{}) // rv_quals here, without the index
	must(t, reg.Register(&RvQual{}))
	other := fmt.Sprintf("auditlog_other_%d", time.Now().UnixNano()%1_000_000_000)
	must(t, db.Exec("CREATE DATABASE "+other).Error)
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + other) })
	must(t, db.Exec("CREATE TABLE "+other+".rv_quals (id BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT, code VARCHAR(32), n BIGINT, UNIQUE KEY uq_code (code))").Error)
	tbl := func() *gorm.DB { return db.Table(other + ".rv_quals") }
	must(t, tbl().Create(&RvQual{ID: 1, Code: "x", N: 1}).Error)
	n := len(entries(t, db))
	must(t, tbl().Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"n"})}).Create(&[]RvQual{{ID: 2, Code: "x", N: 99}}).Error)
	var r RvQual
	must(t, tbl().First(&r, 1).Error)
	es := entries(t, db)[n:]
	for _, e := range es {
		t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
	}
	if r.N != 99 {
		t.Fatalf("the upsert did not update row 1: %+v", r)
	}
	if len(es) != 1 || es[0].Action != auditlog.ActionUpdate || es[0].ObjectPK != "1" {
		t.Errorf("row 1 was updated to n=99; %d entries", len(es))
	}
}

package auditgorm_test

import (
	"testing"

	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RvColl struct {
	ID   uint
	Code string `gorm:"size:32"`
	N    int
}

// ON CONFLICT (code) names the NOCASE unique index: the read by code uses
// BINARY.
func TestUpsertTargetingANocaseIndex(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RvColl{})
	must(t, reg.Register(&RvColl{}))
	must(t, db.Exec("CREATE UNIQUE INDEX rv_colls_code ON rv_colls (code COLLATE NOCASE)").Error)
	must(t, db.Create(&RvColl{ID: 1, Code: "x", N: 1}).Error)
	n := len(entries(t, db))
	must(t, db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoUpdates: clause.AssignmentColumns([]string{"n"})}).Create(&RvColl{ID: 2, Code: "X", N: 99}).Error)
	var r RvColl
	must(t, db.First(&r, 1).Error)
	es := entries(t, db)[n:]
	logEntries(t, es)
	if r.N != 99 {
		t.Fatalf("the upsert did not update row 1: %+v", r)
	}
	if len(es) != 1 || es[0].Action != auditlog.ActionUpdate || es[0].ObjectPK != "1" {
		t.Errorf("row 1 updated to n=99; want one update of 1")
	}
}

type RvPkColl struct {
	Code string `gorm:"primaryKey"`
	N    int
}

// PRIMARY KEY (code COLLATE NOCASE): the autoindex is skipped as "the pk".
func TestUpsertOnANocasePrimaryKey(t *testing.T) {
	for name, ddl := range map[string]string{
		"rowid":        "CREATE TABLE rv_pk_colls (code TEXT, n INTEGER, PRIMARY KEY (code COLLATE NOCASE))",
		"withoutrowid": "CREATE TABLE rv_pk_colls (code TEXT, n INTEGER, PRIMARY KEY (code COLLATE NOCASE)) WITHOUT ROWID",
	} {
		t.Run(name, func(t *testing.T) {
			db := testdb.Open(t, "sqlite")
			reg := setup(t, db)
			must(t, reg.Register(&RvPkColl{}))
			must(t, db.Exec(ddl).Error)
			must(t, db.Create(&RvPkColl{Code: "x", N: 1}).Error)
			n := len(entries(t, db))
			must(t, db.Clauses(clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"n"})}).Create(&RvPkColl{Code: "X", N: 99}).Error)
			var rs []RvPkColl
			must(t, db.Find(&rs).Error)
			es := entries(t, db)[n:]
			t.Logf("rows %+v", rs)
			logEntries(t, es)
			if len(rs) != 1 {
				t.Fatalf("rows %+v: want x alone, updated", rs)
			}
			if len(es) != 1 || es[0].Action != auditlog.ActionUpdate || es[0].ObjectPK != "x" {
				t.Errorf("row x updated to n=99; want one update of x")
			}
		})
	}
}

// ---- 7. a key column the insert leaves to its default ----

// A batch REPLACE on a one-column NOCASE index reads the rows it replaces
// by that collation: each gets its delete entry.
func TestReplaceBatchOnANocaseIndex(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RvColl{})
	must(t, reg.Register(&RvColl{}))
	must(t, db.Exec("CREATE UNIQUE INDEX rv_colls_code ON rv_colls (code COLLATE NOCASE)").Error)
	must(t, db.Create(&[]RvColl{{ID: 1, Code: "x", N: 1}, {ID: 2, Code: "y", N: 2}, {ID: 3, Code: "z", N: 3}}).Error)
	n := len(entries(t, db))
	must(t, db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&[]RvColl{{ID: 4, Code: "X", N: 4}, {ID: 5, Code: "Y", N: 5}, {ID: 6, Code: "w", N: 6}}).Error)
	es := entries(t, db)[n:]
	logEntries(t, es)
	deletes := map[string]bool{}
	creates := 0
	for _, e := range es {
		switch e.Action {
		case auditlog.ActionDelete:
			deletes[e.ObjectPK] = true
		case auditlog.ActionCreate:
			creates++
		}
	}
	if len(es) != 5 || !deletes["1"] || !deletes["2"] || creates != 3 {
		t.Fatalf("want deletes of 1 and 2 and three creates")
	}
}

// A second unique index on the primary key's column, with another
// collation, is a key of its own: an upsert colliding on it updates the
// row it found.
func TestUpsertOnASecondIndexOfTheKeyColumn(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db)
	must(t, reg.Register(&RvPkColl{}))
	must(t, db.Exec("CREATE TABLE rv_pk_colls (code TEXT PRIMARY KEY, n INTEGER)").Error)
	must(t, db.Exec("CREATE UNIQUE INDEX zz_rv_pk_colls_ci ON rv_pk_colls (code COLLATE NOCASE)").Error)
	must(t, db.Create(&RvPkColl{Code: "x", N: 1}).Error)
	n := len(entries(t, db))
	must(t, db.Clauses(clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"n"})}).Create(&RvPkColl{Code: "X", N: 99}).Error)
	var rs []RvPkColl
	must(t, db.Find(&rs).Error)
	es := entries(t, db)[n:]
	logEntries(t, es)
	if len(rs) != 1 {
		t.Fatalf("rows %+v: want x alone, updated", rs)
	}
	if len(es) != 1 || es[0].Action != auditlog.ActionUpdate || es[0].ObjectPK != "x" {
		t.Errorf("rows %+v: want one update of x", rs)
	}
}

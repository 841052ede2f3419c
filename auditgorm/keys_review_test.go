package auditgorm_test

import (
	"database/sql"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

func logEntries(t *testing.T, es []auditlog.Entry) {
	t.Helper()
	for _, e := range es {
		t.Logf("  %s %s %s %q", e.Action, e.ObjectPK, mustJSON(e.Changes), e.ObjectRepr)
	}
}

// ---- 1. code = excluded.code under a case-insensitive primary key ----

type RvCiDoc struct {
	Code string `gorm:"primaryKey;size:32"`
	Body string `gorm:"size:32"`
}

func TestUpsertMovesACaseInsensitiveKey(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		var ddl string
		oc := clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoUpdates: clause.AssignmentColumns([]string{"code", "body"})}
		switch db.Dialector.Name() {
		case "sqlite":
			ddl = "CREATE TABLE rv_ci_docs (code TEXT COLLATE NOCASE PRIMARY KEY, body TEXT)"
		case "mysql":
			ddl = "CREATE TABLE rv_ci_docs (code VARCHAR(32) COLLATE utf8mb4_general_ci PRIMARY KEY, body VARCHAR(32)) DEFAULT CHARSET utf8mb4"
		case "postgres":
			if err := db.Exec("CREATE COLLATION IF NOT EXISTS rv_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)").Error; err != nil {
				t.Skip(err)
			}
			ddl = "CREATE TABLE rv_ci_docs (code VARCHAR(32) COLLATE rv_ci PRIMARY KEY, body VARCHAR(32))"
		}
		reg := setup(t, db)
		must(t, reg.Register(&RvCiDoc{}))
		must(t, db.Exec(ddl).Error)
		must(t, db.Create(&RvCiDoc{Code: "x", Body: "a"}).Error)
		n := len(entries(t, db))
		err := db.Clauses(oc).Create(&RvCiDoc{Code: "X", Body: "b"}).Error
		var rs []RvCiDoc
		must(t, db.Find(&rs).Error)
		es := entries(t, db)[n:]
		t.Logf("upsert err=%v rows=%+v", err, rs)
		logEntries(t, es)
		if err != nil {
			t.Fatalf("upsert refused: %v", err)
		}
		if len(es) != 1 || es[0].Action != auditlog.ActionUpdate || es[0].ObjectPK != "x" {
			t.Errorf("row x became X (body a->b): want one update of x, got the entries above")
		}
	})
}

// ---- 2/3. the index cache and DDL ----

type RvNoIdx struct {
	ID   uint
	Code string `gorm:"size:32"`
	N    int
}

func rvReplace(db *gorm.DB, r RvNoIdx) error {
	return db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&r).Error
}

// A unique index created and rolled back in a transaction stays in the
// cache: a later REPLACE is recorded with a delete of a row it kept.
func TestUniqueIndexOfRolledBackDDL(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RvNoIdx{})
	must(t, reg.Register(&RvNoIdx{}))
	must(t, db.Create(&RvNoIdx{ID: 1, Code: "x", N: 1}).Error)
	tx := db.Begin()
	must(t, tx.Exec("CREATE UNIQUE INDEX rv_tmp ON rv_no_idxes (code)").Error)
	must(t, rvReplace(tx, RvNoIdx{ID: 5, Code: "q"}))
	must(t, tx.Rollback().Error)
	n := len(entries(t, db))
	must(t, rvReplace(db, RvNoIdx{ID: 2, Code: "x", N: 2}))
	var c int64
	must(t, db.Model(&RvNoIdx{}).Where("id = 1").Count(&c).Error)
	es := entries(t, db)[n:]
	logEntries(t, es)
	if c != 1 || len(es) != 1 || es[0].Action != auditlog.ActionCreate {
		t.Errorf("row 1 still exists (%d); want only a create of 2", c)
	}
}

// DDL that begins with a comment does not clear the cache.
func TestUniqueIndexAfterDDLBehindAComment(t *testing.T) {
	for name, ddl := range map[string]string{
		"line":  "-- add key\nCREATE UNIQUE INDEX rv_c ON rv_no_idxes (code)",
		"block": "/* add key */ CREATE UNIQUE INDEX rv_c ON rv_no_idxes (code)",
	} {
		t.Run(name, func(t *testing.T) {
			db := testdb.Open(t, "sqlite")
			reg := setup(t, db, &RvNoIdx{})
			must(t, reg.Register(&RvNoIdx{}))
			must(t, db.Create(&RvNoIdx{ID: 1, Code: "x", N: 1}).Error)
			must(t, rvReplace(db, RvNoIdx{ID: 5, Code: "q"})) // caches "no unique index"
			must(t, db.Exec(ddl).Error)
			n := len(entries(t, db))
			must(t, rvReplace(db, RvNoIdx{ID: 2, Code: "x", N: 2}))
			var c int64
			must(t, db.Model(&RvNoIdx{}).Where("id = 1").Count(&c).Error)
			es := entries(t, db)[n:]
			logEntries(t, es)
			if c != 0 {
				t.Fatalf("REPLACE kept row 1 (%d rows)", c)
			}
			if len(es) != 2 || es[0].Action != auditlog.ActionDelete {
				t.Errorf("REPLACE deleted row 1 on the new index; no delete entry")
			}
		})
	}
}

// ---- 4. belongsToRow and a nullable foreign key ----

type RvkOwner struct {
	ID   int64
	Name string
}

type RvPet struct {
	ID         uint
	Name       string
	RvkOwnerID sql.NullInt64
	RvkOwner   *RvkOwner
}

func (p RvPet) String() string {
	if p.RvkOwner == nil {
		return p.Name + " of nobody"
	}
	return p.Name + " of " + p.RvkOwner.Name
}

func TestReprRelatedByNullableForeignKey(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RvkOwner{}, &RvPet{})
	must(t, reg.Register(&RvPet{}))
	o := RvkOwner{Name: "Pat"}
	must(t, db.Create(&o).Error)
	p := RvPet{Name: "Rex", RvkOwnerID: sql.NullInt64{Int64: o.ID, Valid: true}}
	must(t, db.Create(&p).Error)
	var got RvPet
	must(t, db.Preload("RvkOwner").First(&got, p.ID).Error)
	must(t, db.Model(&got).Omit("RvkOwner").Update("name", "Max").Error)
	if e := lastEntry(t, db); e.ObjectRepr != "Max of Pat" {
		t.Errorf("repr %q, want %q (owner unchanged)", e.ObjectRepr, "Max of Pat")
	}
}

// ---- 5/6. collations the catalog path does not reach ----

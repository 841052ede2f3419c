package auditgorm_test

import (
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type RvStale struct {
	ID   uint
	Code string `gorm:"size:32"`
}

// An index created after the table's first upsert is never seen: REPLACE
// deletes a row on it without a delete entry.
func TestUniqueIndexCreatedAfterFirstUpsert(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RvStale{})
	must(t, reg.Register(&RvStale{}))
	must(t, db.Create(&RvStale{ID: 1, Code: "x"}).Error)
	must(t, db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&RvStale{ID: 2, Code: "y"}).Error)
	must(t, db.Exec("CREATE UNIQUE INDEX rv_stales_code ON rv_stales (code)").Error)
	n := len(entries(t, db))
	must(t, db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&RvStale{ID: 3, Code: "x"}).Error)
	var c int64
	must(t, db.Model(&RvStale{}).Where("id = 1").Count(&c).Error)
	es := entries(t, db)[n:]
	for _, e := range es {
		t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
	}
	if c != 0 {
		t.Fatalf("REPLACE kept row 1 (%d rows)", c)
	}
	if len(es) != 2 || es[0].Action != auditlog.ActionDelete {
		t.Errorf("row 1 was deleted by REPLACE, entries: %d", len(es))
	}
}

type RvNocase struct {
	ID   uint
	Code string `gorm:"size:32"`
	N    int
}

// A unique index with its own collation collides on values an equality
// on the column's collation does not find.
func TestUpsertOnNocaseUniqueIndex(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RvNocase{})
	must(t, reg.Register(&RvNocase{}))
	must(t, db.Exec("CREATE UNIQUE INDEX rv_nocases_code ON rv_nocases (code COLLATE NOCASE)").Error)
	must(t, db.Create(&RvNocase{ID: 1, Code: "x", N: 1}).Error)
	n := len(entries(t, db))
	err := db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&RvNocase{ID: 3, Code: "X", N: 3}).Error
	t.Logf("replace: %v", err)
	var c int64
	must(t, db.Model(&RvNocase{}).Where("id = 1").Count(&c).Error)
	es := entries(t, db)[n:]
	for _, e := range es {
		t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
	}
	if err == nil && c == 0 && (len(es) != 2 || es[0].Action != auditlog.ActionDelete) {
		t.Errorf("row 1 was deleted by REPLACE, entries: %d", len(es))
	}
	// targetless DO UPDATE
	must(t, db.Create(&RvNocase{ID: 10, Code: "q", N: 1}).Error)
	n = len(entries(t, db))
	err = db.Clauses(clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"n"})}).Create(&RvNocase{ID: 11, Code: "Q", N: 99}).Error
	t.Logf("upsert: %v", err)
	var r RvNocase
	must(t, db.First(&r, 10).Error)
	es = entries(t, db)[n:]
	for _, e := range es {
		t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
	}
	if err == nil && r.N == 99 && (len(es) != 1 || es[0].Action != auditlog.ActionUpdate || es[0].ObjectPK != "10") {
		t.Errorf("row 10 was updated to n=99, entries: %d", len(es))
	}
}

type RvCase struct {
	ID   uint
	Code string `gorm:"size:32;uniqueIndex"`
	N    int
}

// A table whose columns are spelled with another case than the model's
// (both databases compare column names case-insensitively).
func TestUniqueIndexColumnInAnotherCase(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "postgres" {
			t.Skip()
		}
		reg := setup(t, db)
		must(t, reg.Register(&RvCase{}))
		must(t, db.Exec("CREATE TABLE rv_cases (id INTEGER PRIMARY KEY, Code VARCHAR(32), n INTEGER)").Error)
		must(t, db.Exec("CREATE UNIQUE INDEX idx_rv_cases_code ON rv_cases (Code)").Error)
		must(t, db.Create(&RvCase{ID: 1, Code: "x", N: 1}).Error)
		n := len(entries(t, db))
		var err error
		if db.Dialector.Name() == "sqlite" {
			err = db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&RvCase{ID: 3, Code: "x", N: 3}).Error
		} else {
			err = db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoUpdates: clause.AssignmentColumns([]string{"n"})}).Create(&RvCase{ID: 3, Code: "x", N: 3}).Error
		}
		if err != nil {
			t.Fatalf("upsert refused: %v", err)
		}
		es := entries(t, db)[n:]
		for _, e := range es {
			t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
		}
	})
}

// An index dropped after the table's first upsert is still read: REPLACE
// records the delete of a row it left in place.
func TestUniqueIndexDroppedAfterFirstUpsert(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &RvStale{})
	must(t, reg.Register(&RvStale{}))
	must(t, db.Exec("CREATE UNIQUE INDEX rv_stales_code ON rv_stales (code)").Error)
	must(t, db.Create(&RvStale{ID: 1, Code: "x"}).Error)
	must(t, db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&RvStale{ID: 2, Code: "y"}).Error)
	must(t, db.Exec("DROP INDEX rv_stales_code").Error)
	n := len(entries(t, db))
	must(t, db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&RvStale{ID: 3, Code: "x"}).Error)
	var c int64
	must(t, db.Model(&RvStale{}).Where("id = 1").Count(&c).Error)
	es := entries(t, db)[n:]
	for _, e := range es {
		t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
	}
	if c != 1 {
		t.Fatalf("row 1 is gone (%d rows)", c)
	}
	if len(es) != 1 {
		t.Errorf("row 1 is still there; %d entries", len(es))
	}
}

type RvTagOnly struct {
	ID   uint
	Code string `gorm:"size:32;uniqueIndex"`
}

// The tags declare a unique index the table does not have (created by a
// migration tool, or a Table() of another name): REPLACE deletes nothing
// on it, yet its delete is recorded.
func TestReplaceWithTagDeclaredIndexMissing(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db)
	must(t, reg.Register(&RvTagOnly{}))
	must(t, db.Exec("CREATE TABLE rv_tag_onlies (id INTEGER PRIMARY KEY, code VARCHAR(32))").Error)
	must(t, db.Create(&RvTagOnly{ID: 1, Code: "x"}).Error)
	n := len(entries(t, db))
	must(t, db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&RvTagOnly{ID: 3, Code: "x"}).Error)
	var c int64
	must(t, db.Model(&RvTagOnly{}).Where("id = 1").Count(&c).Error)
	es := entries(t, db)[n:]
	for _, e := range es {
		t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
	}
	if c != 1 {
		t.Fatalf("row 1 is gone (%d rows)", c)
	}
	if len(es) != 1 {
		t.Errorf("row 1 is still there; %d entries", len(es))
	}
}

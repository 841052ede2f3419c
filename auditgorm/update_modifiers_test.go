package auditgorm_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// UCode has a unique column besides its key.
type UCode struct {
	ID   uint
	Code string `gorm:"size:16;uniqueIndex"`
	N    int
}

// SQLite's UPDATE OR REPLACE deletes the rows whose unique values the new
// values take, which the statement does not name: it is refused, by the
// key or by another unique column, audited or not, and nothing changes.
// It deleted them with no entry. UPDATE OR IGNORE that skips a row is
// refused too, saying so.
func TestUpdateOrReplaceIsRefused(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &UCode{})
	must(t, reg.Register(&UCode{}))
	for _, c := range []string{"a", "b", "c"} {
		must(t, db.Create(&UCode{Code: c}).Error)
	}
	for name, write := range map[string]func() error{
		"unique column": func() error {
			return db.Clauses(clause.Update{Modifier: "OR REPLACE"}).Model(&UCode{ID: 1}).Update("code", "b").Error
		},
		"key": func() error {
			return db.Clauses(clause.Update{Modifier: "or replace"}).Model(&UCode{ID: 1}).Update("id", 2).Error
		},
		"no collision": func() error {
			return db.Clauses(clause.Update{Modifier: "OR REPLACE"}).Model(&UCode{ID: 1}).Update("n", 5).Error
		},
	} {
		if err := write(); err == nil || !strings.Contains(err.Error(), "UPDATE OR REPLACE deletes the rows") {
			t.Errorf("%s: %v", name, err)
		}
	}
	var rows []UCode
	must(t, db.Order("id").Find(&rows).Error)
	if len(rows) != 3 || rows[0].Code != "a" || rows[0].N != 0 || rows[1].Code != "b" {
		t.Errorf("rows after the refusals: %+v", rows)
	}
	expectCount(t, db, 3)

	err := db.Clauses(clause.Update{Modifier: "OR IGNORE"}).Model(&UCode{}).Where("id IN ?", []int{1, 3}).Update("code", "b").Error
	if err == nil || !strings.Contains(err.Error(), "an UPDATE with IGNORE (OR IGNORE on SQLite) skipped row") {
		t.Errorf("UPDATE OR IGNORE skipping rows: %v", err)
	}
	// Without a row to skip it is an update as any other.
	must(t, db.Clauses(clause.Update{Modifier: "OR IGNORE"}).Model(&UCode{ID: 1}).Update("code", "z").Error)
	expectCount(t, db, 4)
}

// An UPDATE … FROM other tables (PostgreSQL, SQLite) is refused with an error
// that says so, not with the database's error about a FROM entry the read
// of the old rows lacked; nothing changes.
func TestUpdateFromOtherTablesIsRefused(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "mysql" {
			t.Skip("MySQL has no UPDATE … FROM")
		}
		reg := setup(t, db, &UCode{}, &Counter{})
		must(t, reg.Register(&UCode{}))
		must(t, db.Create(&UCode{Code: "a", N: 1}).Error)
		must(t, db.Create(&Counter{ID: 1, N: 10}).Error)
		err := db.Model(&UCode{}).Clauses(clause.From{Tables: []clause.Table{{Name: "counters"}}}).
			Where("counters.id = u_codes.id").Update("n", gorm.Expr("counters.n")).Error
		if err == nil || !strings.Contains(err.Error(), "UPDATE … FROM other tables cannot be audited") {
			t.Errorf("UPDATE … FROM: %v", err)
		}
		var got UCode
		must(t, db.First(&got).Error)
		if got.N != 1 {
			t.Errorf("n = %d after the refusal", got.N)
		}
		expectCount(t, db, 1)
	})
}

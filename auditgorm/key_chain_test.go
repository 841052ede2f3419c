package auditgorm_test

import (
	"context"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// kcRow's v is indexed: MariaDB updates by it, visiting id 2 before id 1.
type kcRow struct {
	ID int `gorm:"primaryKey;autoIncrement:false"`
	V  int `gorm:"index"`
}

// A statement that moves keys in a chain (id 2 → 3, then id 1 → 2) had
// its entries written in key order (1 → 2 first): applied in their order,
// they named the wrong rows; time travel found no state of row 3, and a
// revert of the first moved the other row. A row leaving a key now comes
// before the row that takes it.
func TestKeysMovedInAChain(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &kcRow{})
		must(t, reg.Register(&kcRow{}))
		must(t, db.Create(&kcRow{ID: 1, V: 2}).Error)
		must(t, db.Create(&kcRow{ID: 2, V: 1}).Error)
		err := db.Model(&kcRow{}).Where("v > 0").Update("id", gorm.Expr("id + 1")).Error
		if err != nil {
			// PostgreSQL and SQLite may check the key per row: the
			// statement fails without the plugin too.
			t.Skipf("the chain's statement failed on %s: %v", db.Dialector.Name(), err)
		}
		es := entries(t, db)
		var moves []string
		for _, e := range es[2:] {
			moves = append(moves, e.ObjectPK+">"+strings.Trim(string(e.Changes["id"].New), `"`))
		}
		if strings.Join(moves, " ") != "2>3 1>2" {
			t.Errorf("the moves in entry order: %v", moves)
		}
		// Undoing the move of the row created as 1 (v 2) puts that row
		// back, not the other.
		var first int64
		for _, e := range es[2:] {
			if e.ObjectPK == "1" {
				first = e.ID
			}
		}
		must(t, auditgorm.Revert(context.Background(), db, first, auditgorm.RevertOptions{Force: true}))
		var rows []kcRow
		must(t, db.Order("id").Find(&rows).Error)
		if len(rows) != 2 || rows[0] != (kcRow{1, 2}) || rows[1] != (kcRow{3, 1}) {
			t.Errorf("after the revert of 1 → 2: %+v", rows)
		}
	})
}

type kcText struct {
	ID string `gorm:"primaryKey;size:16"`
	V  int
}

// The same chain of text keys on SQLite, which updates in rowid order:
// "k " (created first) → "k  ", then "k" → "k ".
func TestTextKeysMovedInAChainOnSQLite(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &kcText{})
	must(t, reg.Register(&kcText{}))
	must(t, db.Create(&kcText{ID: "k ", V: 2}).Error)
	must(t, db.Create(&kcText{ID: "k", V: 1}).Error)
	must(t, db.Model(&kcText{}).Where("v > 0").Update("id", gorm.Expr("id || ' '")).Error)
	var moves []string
	for _, e := range entries(t, db)[2:] {
		moves = append(moves, e.ObjectPK+">"+strings.Trim(string(e.Changes["id"].New), `"`))
	}
	if strings.Join(moves, "|") != "k >k  |k>k " {
		t.Errorf("the moves in entry order: %q", moves)
	}
}

type kcSwap struct {
	ID int `gorm:"primaryKey;autoIncrement:false"`
	V  int
}

// Two rows swapping keys (a key PostgreSQL checks at the statement's end,
// DEFERRABLE) have no order of entries that replays them: refused, and
// nothing written.
func TestKeysSwappedAreRefused(t *testing.T) {
	db := testdb.Open(t, "postgres")
	reg := setup(t, db)
	must(t, db.Exec("CREATE TABLE kc_swaps (id integer PRIMARY KEY DEFERRABLE INITIALLY IMMEDIATE, v integer)").Error)
	must(t, reg.Register(&kcSwap{}))
	must(t, db.Create(&[]kcSwap{{ID: 1, V: 10}, {ID: 2, V: 20}}).Error)
	err := db.Model(&kcSwap{}).Where("id IN ?", []int{1, 2}).Update("id", gorm.Expr("3 - id")).Error
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("a swap of keys: %v", err)
	}
	var rows []kcSwap
	must(t, db.Order("id").Find(&rows).Error)
	if len(rows) != 2 || rows[0] != (kcSwap{1, 10}) || len(entries(t, db)) != 2 {
		t.Errorf("the refused swap wrote: %+v", rows)
	}
}

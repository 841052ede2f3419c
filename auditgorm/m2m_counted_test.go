package auditgorm_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/sqlcount"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// On MariaDB an append of one pair is told by its INSERT's affected-row
// count (1 inserted, 0 found as it was), where the join table has a unique
// index within the pair (GORM's primary key) and the connection counts
// changed rows: no read of the pair before it. Otherwise the pair is read
// first, under lock: with clientFoundRows a pair found counts 1, like one
// inserted; without such an index, a pair that is there is inserted again.
// Either way, appending a pair that is there makes no entry.
func TestM2MAppendOfOnePairOnMySQL(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	for _, c := range []struct {
		name  string
		found bool // the DSN says clientFoundRows=true
		noKey bool // the join table's key is an id of its own
		reads int64
	}{
		{"primary key on the pair", false, false, 0},
		// A pair found counts 1, as one inserted: a pair not there
		// before is read again after the insert (2 + 1 + 2).
		{"clientFoundRows", true, false, 5},
		// The one pair sent was not there: the one row inserted is its.
		{"no unique index within the pair", false, true, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, dsn := testdb.OpenWithDSN(t, "mysql")
			if c.found {
				dsn += "&clientFoundRows=true"
			}
			sqlDB, err := sql.Open("mysql", dsn)
			must(t, err)
			t.Cleanup(func() { _ = sqlDB.Close() })
			pool, counter := sqlcount.Wrap(sqlDB)
			db, err := gorm.Open(testdb.Dialector(t, "mysql", pool, dsn), &gorm.Config{Logger: logger.Discard})
			must(t, err)
			reg := setup(t, db, &RaceOwner{}, &RaceLabel{})
			must(t, reg.Register(&RaceOwner{}, auditlog.M2M("Labels")))
			if c.noKey {
				must(t, db.Exec("ALTER TABLE race_owner_labels DROP FOREIGN KEY fk_race_owner_labels_race_owner, DROP FOREIGN KEY fk_race_owner_labels_race_label").Error)
				must(t, db.Exec("ALTER TABLE race_owner_labels DROP PRIMARY KEY, ADD COLUMN id int AUTO_INCREMENT PRIMARY KEY FIRST").Error)
			}
			o, l, l2 := RaceOwner{Name: "ann"}, RaceLabel{Name: "a"}, RaceLabel{Name: "b"}
			must(t, db.Create(&o).Error)
			must(t, db.Create(&[]*RaceLabel{&l, &l2}).Error)
			n := len(entries(t, db))
			var reads atomic.Int64
			counter.BeforeStatement(func(_ context.Context, q string) {
				if strings.HasPrefix(q, "SELECT") && strings.Contains(q, "race_owner_labels") {
					reads.Add(1)
				}
			})
			t.Cleanup(func() { counter.BeforeStatement(nil) })
			add1, add2 := "RaceOwner("+fmt.Sprint(o.ID)+") labels add [RaceLabel("+fmt.Sprint(l.ID)+")]", "RaceOwner("+fmt.Sprint(o.ID)+") labels add [RaceLabel("+fmt.Sprint(l2.ID)+")]"
			for _, step := range []struct {
				label *RaceLabel
				want  []string
			}{
				{&l, []string{add1}},
				{&l, []string{add1}}, // there: no entry
				{&l2, []string{add1, add2}},
			} {
				// A fresh owner: GORM inserts every pair the object holds.
				must(t, db.Model(&RaceOwner{ID: o.ID}).Association("Labels").Append(step.label))
				expectLog(t, m2mLog(t, db, n), step.want...)
			}
			counter.BeforeStatement(nil)
			if got := reads.Load(); got != c.reads {
				t.Fatalf("%d reads of the join table, want %d", got, c.reads)
			}
		})
	}
}

// CountLink joins CountOwner to CountLabel by a model with an id of its
// own, which the database fills: GORM's insert of it says RETURNING on
// MariaDB, which returns the row it found as well as one it inserted.
type CountOwner struct {
	ID     uint
	Name   string
	Labels []CountLabel `gorm:"many2many:count_links"`
}

type CountLabel struct {
	ID   uint
	Name string
}

type CountLink struct {
	ID           uint `gorm:"primaryKey"`
	CountOwnerID uint `gorm:"uniqueIndex:count_pair"`
	CountLabelID uint `gorm:"uniqueIndex:count_pair"`
}

// OneLink allows one label per owner: an append of another label for an
// owner that has one inserts nothing.
type OneLink struct {
	ID           uint `gorm:"primaryKey"`
	CountOwnerID uint `gorm:"uniqueIndex"`
	CountLabelID uint
}

// RaceOwnerLabel is GORM's join table of RaceOwner, written as a model.
type RaceOwnerLabel struct {
	RaceOwnerID uint `gorm:"primaryKey"`
	RaceLabelID uint `gorm:"primaryKey"`
}

// Inserts whose count is not 1 for a pair inserted alone take the read
// first: one with RETURNING (a join model the database fills a column
// of), one whose ON DUPLICATE KEY UPDATE moves a row onto the pair (count
// 2, as for a pair found and changed), and one on a dbresolver source
// whose DSN says clientFoundRows (the main DSN does not). Each was
// recorded wrong by the count alone: an add of a pair that was there, or
// no add of a pair the row moved onto.
func TestM2MAppendCountedOnlyWhereTheCountTells(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	t.Run("join model with RETURNING", func(t *testing.T) {
		t.Parallel()
		db := testdb.Open(t, "mysql")
		reg := setup(t, db)
		must(t, reg.Register(&CountOwner{}, auditlog.M2M("Labels")))
		must(t, db.SetupJoinTable(&CountOwner{}, "Labels", &CountLink{}))
		must(t, db.AutoMigrate(&CountOwner{}, &CountLabel{}, &CountLink{}))
		o, l := CountOwner{Name: "ann"}, CountLabel{Name: "a"}
		must(t, db.Create(&o).Error)
		must(t, db.Create(&l).Error)
		n := len(entries(t, db))
		for range 2 {
			must(t, db.Model(&CountOwner{ID: o.ID}).Association("Labels").Append(&l))
			expectLog(t, m2mLog(t, db, n), fmt.Sprintf("CountOwner(%d) labels add [CountLabel(%d)]", o.ID, l.ID))
		}
	})
	t.Run("join model with RETURNING, the pair held by another unique key", func(t *testing.T) {
		// MariaDB returns the row its ON DUPLICATE KEY UPDATE found (the
		// owner's other label), GORM counts it: the insert inserted
		// nothing, and this was recorded as an add before.
		t.Parallel()
		db := testdb.Open(t, "mysql")
		reg := setup(t, db)
		must(t, reg.Register(&CountOwner{}, auditlog.M2M("Labels")))
		must(t, db.SetupJoinTable(&CountOwner{}, "Labels", &OneLink{}))
		must(t, db.AutoMigrate(&CountOwner{}, &CountLabel{}, &OneLink{}))
		o, l, l2 := CountOwner{Name: "ann"}, CountLabel{Name: "a"}, CountLabel{Name: "b"}
		must(t, db.Create(&o).Error)
		must(t, db.Create(&[]*CountLabel{&l, &l2}).Error)
		n := len(entries(t, db))
		must(t, db.Model(&CountOwner{ID: o.ID}).Association("Labels").Append(&l))
		must(t, db.Model(&CountOwner{ID: o.ID}).Association("Labels").Append(&l2))
		var links []OneLink
		must(t, db.Find(&links).Error)
		if len(links) != 1 || links[0].CountLabelID != l.ID {
			t.Fatalf("join table %+v, want the first label's pair alone", links)
		}
		expectLog(t, m2mLog(t, db, n), fmt.Sprintf("CountOwner(%d) labels add [CountLabel(%d)]", o.ID, l.ID))
	})
	for _, c := range []struct{ name, ddl string }{
		{"a row moved onto the pair, unique on the owner", "ALTER TABLE race_owner_labels ADD UNIQUE INDEX one_label (race_owner_id)"},
		{"a row moved onto the pair, unique on another column", "ALTER TABLE race_owner_labels ADD COLUMN slot int NOT NULL DEFAULT 0, ADD UNIQUE INDEX uslot (slot)"},
	} {
		// The upsert would move the owner's row from the first label to
		// the second: an add and a removal that nothing it returns tells.
		// It is refused before it runs (TestM2MUpsertOfJoinRows).
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, "mysql")
			reg := setup(t, db, &RaceOwner{}, &RaceLabel{})
			must(t, reg.Register(&RaceOwner{}, auditlog.M2M("Labels")))
			must(t, db.Exec(c.ddl).Error)
			o, l, l2 := RaceOwner{Name: "ann"}, RaceLabel{Name: "a"}, RaceLabel{Name: "b"}
			must(t, db.Create(&o).Error)
			must(t, db.Create(&[]*RaceLabel{&l, &l2}).Error)
			n := len(entries(t, db))
			must(t, db.Model(&RaceOwner{ID: o.ID}).Association("Labels").Append(&l))
			err := db.Clauses(clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"race_label_id"})}).
				Create(&RaceOwnerLabel{RaceOwnerID: o.ID, RaceLabelID: l2.ID}).Error
			if err == nil || !strings.Contains(err.Error(), "may change another pair") {
				t.Fatalf("upsert moving a pair: %v, want it refused", err)
			}
			var pairs []RaceOwnerLabel
			must(t, db.Find(&pairs).Error)
			if len(pairs) != 1 || pairs[0].RaceLabelID != l.ID {
				t.Fatalf("join table %+v, want (%d, %d) as it was", pairs, o.ID, l.ID)
			}
			expectLog(t, m2mLog(t, db, n), fmt.Sprintf("RaceOwner(%d) labels add [RaceLabel(%d)]", o.ID, l.ID))
		})
	}
	t.Run("clientFoundRows, the pair held by another unique key", func(t *testing.T) {
		// One label per owner: the append of a second label finds the
		// owner's row (ON DUPLICATE KEY UPDATE a = a), which counts 1
		// under clientFoundRows, as an insert does. This was recorded as
		// an add before; the read after the insert finds no such pair.
		t.Parallel()
		_, dsn := testdb.OpenWithDSN(t, "mysql")
		db, err := gorm.Open(testdb.Dialector(t, "mysql", nil, dsn+"&clientFoundRows=true"), &gorm.Config{Logger: logger.Discard})
		must(t, err)
		reg := setup(t, db, &RaceOwner{}, &RaceLabel{})
		must(t, reg.Register(&RaceOwner{}, auditlog.M2M("Labels")))
		must(t, db.Exec("ALTER TABLE race_owner_labels ADD UNIQUE INDEX one_label (race_owner_id)").Error)
		o, l, l2 := RaceOwner{Name: "ann"}, RaceLabel{Name: "a"}, RaceLabel{Name: "b"}
		must(t, db.Create(&o).Error)
		must(t, db.Create(&[]*RaceLabel{&l, &l2}).Error)
		n := len(entries(t, db))
		must(t, db.Model(&RaceOwner{ID: o.ID}).Association("Labels").Append(&l))
		must(t, db.Model(&RaceOwner{ID: o.ID}).Association("Labels").Append(&l2))
		var pairs []RaceOwnerLabel
		must(t, db.Find(&pairs).Error)
		if len(pairs) != 1 || pairs[0].RaceLabelID != l.ID {
			t.Fatalf("join table %+v, want (%d, %d) alone", pairs, o.ID, l.ID)
		}
		expectLog(t, m2mLog(t, db, n), fmt.Sprintf("RaceOwner(%d) labels add [RaceLabel(%d)]", o.ID, l.ID))
	})
	t.Run("dbresolver source with clientFoundRows", func(t *testing.T) {
		t.Parallel()
		db, dsn := testdb.OpenWithDSN(t, "mysql")
		must(t, db.Use(dbresolver.Register(dbresolver.Config{Sources: []gorm.Dialector{testdb.Dialector(t, "mysql", nil, dsn+"&clientFoundRows=true")}})))
		reg := setup(t, db, &RaceOwner{}, &RaceLabel{})
		must(t, reg.Register(&RaceOwner{}, auditlog.M2M("Labels")))
		o, l := RaceOwner{Name: "ann"}, RaceLabel{Name: "a"}
		must(t, db.Create(&o).Error)
		must(t, db.Create(&l).Error)
		n := len(entries(t, db))
		for range 2 {
			must(t, db.Model(&RaceOwner{ID: o.ID}).Association("Labels").Append(&l))
			expectLog(t, m2mLog(t, db, n), fmt.Sprintf("RaceOwner(%d) labels add [RaceLabel(%d)]", o.ID, l.ID))
		}
	})
}

// FoldOwner's key compares without case; FoldLink has an id the database
// fills, so that its insert says RETURNING on MariaDB.
type FoldOwner struct {
	Code   string      `gorm:"primaryKey;type:varchar(20) COLLATE utf8mb4_general_ci"`
	Labels []FoldLabel `gorm:"many2many:fold_links"`
}

type FoldLabel struct {
	ID   uint
	Name string
}

type FoldLink struct {
	ID            uint   `gorm:"primaryKey"`
	FoldOwnerCode string `gorm:"type:varchar(20) COLLATE utf8mb4_general_ci;uniqueIndex:fold_pair"`
	FoldLabelID   uint   `gorm:"uniqueIndex:fold_pair"`
}

// Two pairs that the collation holds equal, sent together with RETURNING:
// the insert adds the first and skips the second, and the read after it
// finds one row, which is the first's by its text: one add, not two.
func TestM2MReturningPairsAlikeUnderTheCollation(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	db := testdb.Open(t, "mysql")
	reg := setup(t, db)
	must(t, reg.Register(&FoldOwner{}, auditlog.M2M("Labels")))
	must(t, db.SetupJoinTable(&FoldOwner{}, "Labels", &FoldLink{}))
	must(t, db.AutoMigrate(&FoldOwner{}, &FoldLabel{}, &FoldLink{}))
	o, l := FoldOwner{Code: "a"}, FoldLabel{Name: "x"}
	must(t, db.Create(&o).Error)
	must(t, db.Create(&l).Error)
	n := len(entries(t, db))
	must(t, db.Clauses(clause.OnConflict{DoNothing: true}).Create(&[]FoldLink{{FoldOwnerCode: "a", FoldLabelID: l.ID}, {FoldOwnerCode: "A", FoldLabelID: l.ID}}).Error)
	var links []FoldLink
	must(t, db.Find(&links).Error)
	if len(links) != 1 || links[0].FoldOwnerCode != "a" {
		t.Fatalf("join table %+v, want the first pair alone", links)
	}
	add := fmt.Sprintf("FoldOwner(a) labels add [FoldLabel(%d)]", l.ID)
	expectLog(t, m2mLog(t, db, n), add)
	// Again: "a" is there, "A" is not found by its text, and the read
	// after the insert finds "a", which "A" folds to but so does "a": no
	// add.
	must(t, db.Clauses(clause.OnConflict{DoNothing: true}).Create(&[]FoldLink{{FoldOwnerCode: "a", FoldLabelID: l.ID}, {FoldOwnerCode: "A", FoldLabelID: l.ID}}).Error)
	expectLog(t, m2mLog(t, db, n), add)
}

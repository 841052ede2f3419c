package auditgorm_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

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
		{"clientFoundRows", true, false, 3},
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

package auditgorm_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// UqHid has a unique index on name that its tags do not declare: a
// migration tool made it.
type UqHid struct {
	ID    uint
	Name  string `gorm:"size:32"`
	Code  string `gorm:"size:32;uniqueIndex"`
	Price int
}

// Upserts fire on every unique index of the table, declared in the tags or
// not: MySQL's ON DUPLICATE KEY UPDATE (whatever its target), SQLite's
// INSERT OR REPLACE and targetless ON CONFLICT. The rows they collide with
// there are read too, so that an update is recorded as an update and a
// replaced row as deleted.
func TestUpsertOnUndeclaredUniqueIndex(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &UqHid{})
		must(t, reg.Register(&UqHid{}))
		must(t, db.Exec("CREATE UNIQUE INDEX uq_hids_name ON uq_hids (name)").Error)
		must(t, db.Create(&UqHid{Name: "a", Code: "c1", Price: 1}).Error)
		type want struct {
			action auditlog.Action
			pk     string
			col    string
			old    string
			new    string
		}
		check := func(name string, before int, ws ...want) {
			t.Helper()
			es := entries(t, db)[before:]
			if len(es) != len(ws) {
				for _, e := range es {
					t.Logf("%s %s %s", e.Action, e.ObjectPK, mustJSON(e.Changes))
				}
				t.Fatalf("%s: %d entries, want %d", name, len(es), len(ws))
			}
			for i, w := range ws {
				e := es[i]
				c := e.Changes[w.col]
				if e.Action != w.action || e.ObjectPK != w.pk || string(c.Old) != w.old || string(c.New) != w.new {
					t.Errorf("%s: entry %d is %s of %s %s, want %s of %s with %s %s → %s", name, i, e.Action, e.ObjectPK, mustJSON(e.Changes), w.action, w.pk, w.col, w.old, w.new)
				}
			}
		}
		n := len(entries(t, db))
		// Nothing inserted, nothing changed: no entry.
		must(t, db.Clauses(clause.OnConflict{DoNothing: true}).Create(&UqHid{Name: "a", Code: "c7", Price: 7}).Error)
		check("do nothing", n)
		switch db.Dialector.Name() {
		case "mysql":
			must(t, db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&UqHid{Name: "a", Code: "c2", Price: 50}).Error)
			check("update all", n, want{auditlog.ActionUpdate, "1", "price", "1", "50"})
			must(t, db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoUpdates: clause.AssignmentColumns([]string{"price"})}).
				Create(&UqHid{Name: "a", Code: "c9", Price: 70}).Error)
			check("another key than the target", n+1, want{auditlog.ActionUpdate, "1", "price", "50", "70"})
		case "sqlite":
			must(t, db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&UqHid{ID: 5, Name: "a", Code: "c5", Price: 50}).Error)
			check("or replace", n, want{auditlog.ActionDelete, "1", "price", "1", "null"}, want{auditlog.ActionCreate, "5", "price", "null", "50"})
		}
	})
}

// UqExpr's table has unique indexes the plugin cannot read by the values
// an insert sends: on an expression, partial, or on a column the model
// does not have.
type UqExpr struct {
	ID   uint
	Name string `gorm:"size:32"`
}

// UqPart's table has a partial unique index.
type UqPart struct {
	ID   uint
	Name string `gorm:"size:32"`
}

// An upsert that may collide with such an index unseen is refused before
// it runs; one that cannot (a target elsewhere, DO NOTHING that returns
// what it inserted) runs as before.
func TestUpsertOnUnreadableUniqueIndex(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &UqExpr{})
		must(t, reg.Register(&UqExpr{}))
		var refused []*gorm.DB
		switch db.Dialector.Name() {
		case "sqlite":
			must(t, db.Exec("CREATE UNIQUE INDEX uq_exprs_lower ON uq_exprs (lower(name))").Error)
			refused = append(refused, db.Clauses(clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"name"})}))
		case "mysql":
			must(t, db.Exec("ALTER TABLE uq_exprs ADD COLUMN tenant INT NOT NULL DEFAULT 0, ADD UNIQUE INDEX uq_exprs_tenant (tenant, name)").Error)
			refused = append(refused, db.Clauses(clause.OnConflict{UpdateAll: true}), db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"name"})}))
		default:
			t.Skip("PostgreSQL's upserts fire only on the index they name")
		}
		must(t, db.Create(&UqExpr{Name: "a"}).Error)
		for i, q := range refused {
			err := q.Create(&UqExpr{Name: "A"}).Error
			if err == nil || !strings.Contains(err.Error(), "cannot be audited") {
				t.Errorf("upsert %d: %v", i, err)
			}
		}
		if db.Dialector.Name() == "sqlite" {
			// DO NOTHING returns what it inserted: nothing here, no entry.
			n := len(entries(t, db))
			must(t, db.Clauses(clause.OnConflict{DoNothing: true}).Create(&UqExpr{Name: "A"}).Error)
			if len(entries(t, db)) != n {
				t.Errorf("DO NOTHING wrote an entry")
			}
			// REPLACE on a table with a partial unique index is refused:
			// which rows it deletes depends on the index's condition.
			must(t, db.AutoMigrate(&UqPart{}))
			must(t, reg.Register(&UqPart{}))
			must(t, db.Exec("CREATE UNIQUE INDEX uq_parts_name ON uq_parts (name) WHERE name <> ''").Error)
			must(t, db.Create(&UqPart{Name: "a"}).Error)
			err := db.Clauses(clause.Insert{Modifier: "OR REPLACE"}).Create(&UqPart{ID: 9, Name: "a"}).Error
			if err == nil || !strings.Contains(err.Error(), "partial unique index") {
				t.Errorf("REPLACE: %v", err)
			}
		}
		var count int64
		must(t, db.Model(&UqExpr{}).Count(&count).Error)
		if count != 1 {
			t.Fatalf("%d rows", count)
		}
	})
}

// MySQL's unique indexes are read once per table, by its first upsert:
// later ones send one statement fewer. SQLite's are read by each upsert
// that may fire on them (a rolled back CREATE INDEX must not stay read).
// (PostgreSQL has no such upsert: DO UPDATE needs a target.)
func TestUniqueIndexesReadOncePerTable(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "postgres" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			reg := setup(t, db, &UqHid{})
			auditgorm.KeepCatalogReads(db) // whatever the time between the upserts
			must(t, reg.Register(&UqHid{}))
			must(t, db.Create(&UqHid{Name: "a", Code: "c1", Price: 1}).Error)
			upsert := func(price int) int64 {
				n0 := counter.Load()
				must(t, db.Clauses(clause.OnConflict{DoUpdates: clause.AssignmentColumns([]string{"price"})}).Create(&UqHid{ID: 1, Name: "a", Code: "c1", Price: price}).Error)
				return counter.Load() - n0
			}
			first, second := upsert(2), upsert(3)
			want := int64(1)
			if name == "sqlite" {
				want = 0
			}
			if first-second != want {
				t.Errorf("the first upsert sent %d statements, the second %d", first, second)
			}
			if e := lastEntry(t, db); e.Action != auditlog.ActionUpdate || string(e.Changes["price"].New) != "3" {
				t.Errorf("last entry %s %s", e.Action, mustJSON(e.Changes))
			}
		})
	}
}

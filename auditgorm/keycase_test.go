package auditgorm_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// NocaseKey has a string key compared without case (SQLite COLLATE NOCASE).
type NocaseKey struct {
	Code string `gorm:"primaryKey;type:text COLLATE NOCASE"`
	Body string
}

// Changing the case of a key, or adding a trailing space, on MariaDB's
// case-insensitive PAD SPACE collations is a legitimate update: GORM runs
// it, the database stores it. The key-taken read finds the statement's own
// row under the collation and refuses.
func TestKeyCaseChangeMySQL(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	for _, c := range []struct{ coll, from, to string }{
		{"utf8mb4_general_ci", "alice", "Alice"},
		{"utf8mb4_bin", "bob", "bob "},
	} {
		t.Run(c.coll+"/"+c.to, func(t *testing.T) {
			db := testdb.Open(t, "mysql")
			reg := setup(t, db, &Doc{})
			must(t, db.Exec("ALTER TABLE docs CONVERT TO CHARACTER SET utf8mb4 COLLATE "+c.coll).Error)
			must(t, reg.Register(&Doc{}))
			must(t, db.Create(&Doc{Code: c.from, Body: "x"}).Error)
			err := db.Model(&Doc{}).Where("code = ?", c.from).Update("code", c.to).Error
			if err != nil {
				t.Fatalf("update of the key %q to %q: %v", c.from, c.to, err)
			}
			es := entries(t, db)
			last := es[len(es)-1]
			if last.Action != auditlog.ActionUpdate || !strings.Contains(string(last.Changes["code"].New), c.to) {
				t.Errorf("last entry %s %s %s", last.Action, last.ObjectPK, last.Changes)
			}
		})
	}
}

// The same on SQLite with the caller's RETURNING (read back), NOCASE key.
func TestKeyCaseChangeSQLiteReturning(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &NocaseKey{})
	must(t, reg.Register(&NocaseKey{}))
	must(t, db.Create(&NocaseKey{Code: "alice", Body: "x"}).Error)
	var out []NocaseKey
	err := db.Model(&out).Clauses(clause.Returning{}).Where("code = ?", "alice").Update("code", "Alice").Error
	if err != nil {
		t.Fatalf("update of the key's case: %v", err)
	}
	if len(out) != 1 || out[0].Code != "Alice" {
		t.Errorf("returned %+v", out)
	}
}

// A deterministic collision still reports the database's own error.
func TestKeyCollisionKeepsTheDatabasesError(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Doc{})
		must(t, reg.Register(&Doc{}))
		must(t, db.Create(&[]Doc{{Code: "a"}, {Code: "b"}}).Error)
		q := db.Model(&Doc{})
		if db.Dialector.Name() != "mysql" {
			q = db.Model(&[]Doc{}).Clauses(clause.Returning{})
		}
		err := q.Where("code = ?", "a").Update("code", "b").Error
		t.Logf("collision: %v", err)
		if err == nil || strings.Contains(err.Error(), "auditgorm") {
			t.Errorf("want the database's duplicate-key error, got %v", err)
		}
	})
}

// Shifts: id = id + 1, ordered, over several rows.
func TestKeyShiftIsNotRefused(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Counter{})
		must(t, reg.Register(&Counter{}))
		must(t, db.Create(&[]Counter{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 10}}).Error)
		var err error
		switch db.Dialector.Name() {
		case "mysql":
			err = db.Model(&Counter{}).Where("id < ?", 10).Order("id desc").Update("id", gorm.Expr("id + 1")).Error
		default:
			err = db.Model(&[]Counter{}).Clauses(clause.Returning{}).Where("id < ?", 10).Update("id", gorm.Expr("id + 100")).Error
		}
		if err != nil {
			t.Fatalf("shift: %v", err)
		}
	})
}

// Keys set to their current values, literal and expression, string and int.
func TestKeySetToItsValue(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Doc{}, &Counter{}, &Line{})
		must(t, reg.Register(&Doc{}))
		must(t, reg.Register(&Counter{}))
		must(t, reg.Register(&Line{}))
		must(t, db.Create(&[]Doc{{Code: "a"}, {Code: "b"}}).Error)
		must(t, db.Create(&[]Counter{{ID: 1}, {ID: 2}}).Error)
		must(t, db.Create(&[]Line{{OrderID: 1, LineNo: 1}, {OrderID: 1, LineNo: 2}, {OrderID: 2, LineNo: 1}}).Error)
		rt := func(q *gorm.DB, dest any) *gorm.DB {
			if db.Dialector.Name() != "mysql" {
				return q.Model(dest).Clauses(clause.Returning{})
			}
			return q.Model(dest)
		}
		for name, run := range map[string]func() error{
			"doc literal":     func() error { return rt(db, &[]Doc{}).Where("code = ?", "a").Update("code", "a").Error },
			"counter literal": func() error { return rt(db, &[]Counter{}).Where("id = ?", 2).Update("id", 2).Error },
			"counter expr":    func() error { return rt(db, &[]Counter{}).Where("id > ?", 0).Update("id", gorm.Expr("id * 1")).Error },
			"line move order": func() error { return rt(db, &[]Line{}).Where("order_id = ?", 2).Update("order_id", 3).Error },
		} {
			if err := run(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

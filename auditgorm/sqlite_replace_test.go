package auditgorm_test

import (
	"strings"
	"testing"

	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// ReplCode's table says ON CONFLICT REPLACE on a unique constraint, as
// its CREATE TABLE wrote it: SQLite deletes the rows a plain INSERT or
// UPDATE collides with on it, as INSERT OR REPLACE does.
type ReplCode struct {
	ID    uint
	Name  string
	Token string
	Note  string
}

// A plain create into such a table records the rows it deleted, as INSERT
// OR REPLACE does; an update that may collide on the constraint is
// refused, as UPDATE OR REPLACE is; one that cannot runs; an upsert, whose
// other constraints would replace, is refused. They deleted rows without
// an entry. A table whose only REPLACE is NOT NULL's (a NULL becomes the
// default, which the row read back shows) is written as any other.
func TestTableConstraintOnConflictReplace(t *testing.T) {
	for _, ddl := range []string{
		`CREATE TABLE repl_codes (id integer PRIMARY KEY AUTOINCREMENT, name text, token text UNIQUE ON CONFLICT REPLACE, note text)`,
		`CREATE TABLE repl_codes (id integer PRIMARY KEY AUTOINCREMENT, name text, token text, note text, CONSTRAINT tok UNIQUE (token) ON  CONFLICT
			replace)`,
	} {
		t.Run(strings.Fields(ddl)[len(strings.Fields(ddl))-1], func(t *testing.T) {
			db := testdb.Open(t, "sqlite")
			reg := setup(t, db)
			must(t, db.Exec(ddl).Error)
			must(t, reg.Register(&ReplCode{}))
			a, b := ReplCode{Name: "a", Token: "ta"}, ReplCode{Name: "b", Token: "tb"}
			must(t, db.Create(&a).Error)
			must(t, db.Create(&b).Error)
			if err := db.Model(&a).Update("token", "tb").Error; err == nil || !strings.Contains(err.Error(), "ON CONFLICT REPLACE") {
				t.Fatalf("an update of the replacing column: %v", err)
			}
			must(t, db.Model(&a).Update("note", "kept").Error) // cannot collide
			// The statement's own conflict clause overrides the table's.
			orAbort := db.Clauses(clause.Update{Modifier: "OR ABORT"})
			if err := orAbort.Model(&a).Update("token", "tb").Error; err == nil || !strings.Contains(err.Error(), "UNIQUE") {
				t.Fatalf("OR ABORT onto a taken token: %v", err)
			}
			must(t, db.Clauses(clause.Update{Modifier: "OR ABORT"}).Model(&a).Update("token", "ta2").Error)
			must(t, db.Clauses(clause.Update{Modifier: "OR ABORT"}).Model(&a).Update("token", "ta").Error)
			c := ReplCode{Name: "c", Token: "tb"}
			must(t, db.Create(&c).Error)                                                              // SQLite deletes b
			must(t, db.Create(&[]ReplCode{{Name: "d", Token: "ta"}, {Name: "e", Token: "te"}}).Error) // deletes a
			var ids []uint
			must(t, db.Table("repl_codes").Order("id").Pluck("id", &ids).Error)
			live := map[string]bool{}
			for _, e := range entries(t, db) {
				live[e.ObjectPK] = e.Action != auditlog.ActionDelete
			}
			var replayed []string
			for pk, ok := range live {
				if ok {
					replayed = append(replayed, pk)
				}
			}
			if len(replayed) != len(ids) || len(ids) != 3 || live["1"] || live["2"] {
				t.Fatalf("the table holds %v, the entries leave %v", ids, replayed)
			}
			if err := db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&ReplCode{ID: 9, Name: "f", Token: "te"}).Error; err == nil {
				t.Fatal("an upsert into the table was not refused")
			}
		})
	}
	t.Run("NOT NULL only", func(t *testing.T) {
		db := testdb.Open(t, "sqlite")
		reg := setup(t, db)
		must(t, db.Exec(`CREATE TABLE repl_codes (id integer PRIMARY KEY, name text NOT NULL ON CONFLICT REPLACE DEFAULT 'anon', token text UNIQUE, note text)`).Error)
		must(t, reg.Register(&ReplCode{}))
		a := ReplCode{Name: "a", Token: "ta"}
		must(t, db.Create(&a).Error)
		must(t, db.Model(&a).Update("token", "tb").Error)
		if es := entries(t, db); len(es) != 2 {
			t.Fatalf("%d entries", len(es))
		}
	})
	t.Run("made so by a migration", func(t *testing.T) {
		db := testdb.Open(t, "sqlite")
		reg := setup(t, db)
		must(t, db.Exec(`CREATE TABLE repl_codes (id integer PRIMARY KEY, name text, token text UNIQUE, note text)`).Error)
		must(t, reg.Register(&ReplCode{}))
		a := ReplCode{Name: "a", Token: "ta"}
		must(t, db.Create(&a).Error)
		must(t, db.Model(&a).Update("token", "tb").Error)
		// Run through GORM: the plugin reads the table's definition again.
		must(t, db.Exec(`DROP TABLE repl_codes`).Error)
		must(t, db.Exec(`CREATE TABLE repl_codes (id integer PRIMARY KEY, name text, token text UNIQUE ON CONFLICT REPLACE, note text)`).Error)
		must(t, db.Create(&a).Error)
		if err := db.Model(&a).Update("token", "tc").Error; err == nil || !strings.Contains(err.Error(), "ON CONFLICT REPLACE") {
			t.Fatalf("an update of the replacing column after the migration: %v", err)
		}
	})
}

package auditgorm_test

import (
	"path/filepath"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type AcRC struct {
	ID    uint
	Name  string
	Token string
	Note  string
}

func (AcRC) TableName() string { return "ac_rcs" }

// acReplayLive: which object keys the entries leave alive.
func acReplayLive(t *testing.T, db *gorm.DB) map[string]bool {
	live := map[string]bool{}
	for _, e := range entries(t, db) {
		live[e.ObjectPK] = e.Action != auditlog.ActionDelete
	}
	return live
}

// acSecondReplacesFirst creates row b with the token of row a (id 1),
// which SQLite's rule deletes, and checks that the entries leave a deleted
// and the table one row.
func acSecondReplacesFirst(t *testing.T, db *gorm.DB) {
	t.Helper()
	must(t, db.Create(&AcRC{Name: "b", Token: "t"}).Error)
	var ids []uint
	must(t, db.Table("ac_rcs").Order("id").Pluck("id", &ids).Error)
	if live := acReplayLive(t, db); len(ids) != 1 || live["1"] {
		t.Fatalf("the table holds %v, the entries leave %v alive", ids, live)
	}
}

const acRCDDL = `CREATE TABLE ac_rcs (id integer PRIMARY KEY AUTOINCREMENT, name text, token text UNIQUE ON CONFLICT REPLACE, note text)`

// 1. A TEMP table (unqualified name) is looked up in main's sqlite_master only.
func TestReplaceRuleOfATempTable(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db)
	must(t, reg.Register(&AcRC{}))
	var ids []uint
	must(t, db.Transaction(func(tx *gorm.DB) error { // one connection: the temp table's
		must(t, tx.Exec(`CREATE TEMP TABLE ac_rcs (id integer PRIMARY KEY AUTOINCREMENT, name text, token text UNIQUE ON CONFLICT REPLACE, note text)`).Error)
		must(t, tx.Create(&AcRC{Name: "a", Token: "t"}).Error)
		must(t, tx.Create(&AcRC{Name: "b", Token: "t"}).Error) // SQLite deletes a
		return tx.Table("ac_rcs").Order("id").Pluck("id", &ids).Error
	}))
	if live := acReplayLive(t, db); len(ids) != 1 || live["1"] {
		t.Fatalf("the table holds %v, the entries leave %v alive", ids, live)
	}
}

// 2. A comment inside the conflict clause hides it from the regexp.
func TestReplaceRuleWithACommentInside(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db)
	must(t, db.Exec(`CREATE TABLE ac_rcs (id integer PRIMARY KEY AUTOINCREMENT, name text, token text UNIQUE ON /* dedupe */ CONFLICT REPLACE, note text)`).Error)
	must(t, reg.Register(&AcRC{}))
	must(t, db.Create(&AcRC{Name: "a", Token: "t"}).Error)
	acSecondReplacesFirst(t, db)
}

// 3. The words in a DEFAULT string, a CHECK string or a comment: updates
// of an ordinary UNIQUE column are refused.
func TestReplaceWordsOutsideAConflictClause(t *testing.T) {
	for name, ddl := range map[string]string{
		"default": `CREATE TABLE ac_rcs (id integer PRIMARY KEY AUTOINCREMENT, name text DEFAULT 'ON CONFLICT REPLACE', token text UNIQUE, note text)`,
		"check":   `CREATE TABLE ac_rcs (id integer PRIMARY KEY AUTOINCREMENT, name text CHECK (name <> 'on conflict replace'), token text UNIQUE, note text)`,
		"comment": "CREATE TABLE ac_rcs (id integer PRIMARY KEY AUTOINCREMENT, name text, -- was ON CONFLICT REPLACE\n token text UNIQUE, note text)",
	} {
		t.Run(name, func(t *testing.T) {
			db := testdb.Open(t, "sqlite")
			reg := setup(t, db)
			must(t, db.Exec(ddl).Error)
			must(t, reg.Register(&AcRC{}))
			a := AcRC{Name: "a", Token: "ta"}
			must(t, db.Create(&a).Error)
			if err := db.Model(&a).Update("token", "tb").Error; err != nil {
				t.Errorf("update of a plain UNIQUE column: %v", err)
			}
		})
	}
}

// 4. Rows of one create that collide with each other: the later deletes
// the earlier, which keeps its create entry and gets no delete.
func TestReplaceRowsOfOneStatementCollide(t *testing.T) {
	for _, c := range []struct {
		name string
		ddl  string
		opts []clause.Expression
	}{
		{"the table's rule", acRCDDL, nil},
		{"INSERT OR REPLACE", `CREATE TABLE ac_rcs (id integer PRIMARY KEY AUTOINCREMENT, name text, token text UNIQUE, note text)`, []clause.Expression{clause.Insert{Modifier: "OR REPLACE"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := testdb.Open(t, "sqlite")
			reg := setup(t, db)
			must(t, db.Exec(c.ddl).Error)
			must(t, reg.Register(&AcRC{}))
			must(t, db.Create(&AcRC{Name: "x", Token: "x"}).Error)
			err := db.Clauses(c.opts...).Create(&[]AcRC{{Name: "a", Token: "t"}, {Name: "b", Token: "t"}, {Name: "c", Token: "x"}}).Error
			var ids []uint
			must(t, db.Table("ac_rcs").Order("id").Pluck("id", &ids).Error)
			live := acReplayLive(t, db)
			alive := 0
			for _, ok := range live {
				if ok {
					alive++
				}
			}
			if err == nil && (len(ids) != 2 || live["2"]) || err != nil && (len(ids) != 1 || alive != 1) {
				t.Fatalf("the create returned %v; the table holds %v, the entries leave %v alive", err, ids, live)
			}
		})
	}
}

// 5. The 1 s cache keeps what a transaction's DDL showed after it rolled back.
func TestReplaceRuleAfterARolledBackMigration(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db)
	must(t, db.Exec(acRCDDL).Error)
	must(t, reg.Register(&AcRC{}))
	must(t, db.Create(&AcRC{Name: "a", Token: "t"}).Error)
	// A migration rebuilds the table without the rule (SQLite's usual
	// copy-drop-rename), writes a row, and fails: all of it rolls back.
	_ = db.Transaction(func(tx *gorm.DB) error {
		must(t, tx.Exec(`CREATE TABLE ac_rcs_new (id integer PRIMARY KEY AUTOINCREMENT, name text, token text UNIQUE, note text)`).Error)
		must(t, tx.Exec(`INSERT INTO ac_rcs_new SELECT * FROM ac_rcs`).Error)
		must(t, tx.Exec(`DROP TABLE ac_rcs`).Error)
		must(t, tx.Exec(`ALTER TABLE ac_rcs_new RENAME TO ac_rcs`).Error)
		must(t, tx.Create(&AcRC{Name: "seed", Token: "s"}).Error)
		return gorm.ErrInvalidData
	})
	// The rule is back: SQLite deletes a.
	acSecondReplacesFirst(t, db)
}

type AcRParent struct {
	ID   uint
	Name string
	Kids []AcRKid `gorm:"foreignKey:ParentID"`
}

type AcRKid struct {
	ID       uint
	ParentID uint
	Token    string
}

// 6. A create with new children: GORM adds ON CONFLICT (id) DO NOTHING,
// which cannot fire for rows that send no id; refused as an upsert.
func TestReplaceRuleOfNewChildren(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &AcRParent{})
	must(t, db.Exec(`CREATE TABLE ac_r_kids (id integer PRIMARY KEY AUTOINCREMENT, parent_id integer, token text UNIQUE ON CONFLICT REPLACE)`).Error)
	must(t, reg.Register(&AcRParent{}))
	must(t, reg.Register(&AcRKid{}))
	if err := db.Create(&AcRParent{Name: "p", Kids: []AcRKid{{Token: "a"}, {Token: "b"}}}).Error; err != nil {
		t.Fatalf("create with new children: %v", err)
	}
	if es := entries(t, db); len(es) != 3 {
		t.Fatalf("%d entries, want the parent's and its two children's creates", len(es))
	}
}

// A table only an attached database has is found by its name as SQLite
// finds it, after temp and main.
func TestReplaceRuleOfAnAttachedTable(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	sqlDB, err := db.DB()
	must(t, err)
	sqlDB.SetMaxOpenConns(1) // ATTACH is the connection's
	reg := setup(t, db)
	must(t, db.Exec("ATTACH DATABASE ? AS aux", filepath.Join(t.TempDir(), "aux.db")).Error)
	must(t, db.Exec(`CREATE TABLE aux.ac_rcs (id integer PRIMARY KEY AUTOINCREMENT, name text, token text UNIQUE ON CONFLICT REPLACE, note text)`).Error)
	must(t, reg.Register(&AcRC{}))
	must(t, db.Create(&AcRC{Name: "a", Token: "t"}).Error)
	acSecondReplacesFirst(t, db)
}

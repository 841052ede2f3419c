package auditgorm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type QualItem struct {
	ID   uint
	Name string `gorm:"size:32"`
	N    int
}

// QualBuch is QualItem in a table whose name needs quotes.
type QualBuch QualItem

func (QualBuch) TableName() string { return "qual-bücher" }

// Writes to a table of another schema (database, on MySQL) named with it,
// Table("other.qual_items"), are recorded from that table's rows and
// named by it: the model's own table, in the connection's schema, holds
// other rows under the same keys. A table name with characters other than
// letters, digits and _ of ASCII ("qual-bücher") was taken for the model's
// own table: its entries named it, and on MariaDB recorded its row's
// values as the new ones.
func TestWritesToATableOfAnotherSchema(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "sqlite" {
			t.Skip("GORM's SQLite INSERT writes the main database's table whatever Table names")
		}
		reg := setup(t, db, &QualItem{}, &QualBuch{})
		for _, model := range []any{&QualItem{}, &QualBuch{}} {
			must(t, reg.Register(model))
			writesToAnotherSchema(t, db, model)
		}
	})
}

func writesToAnotherSchema(t *testing.T, db *gorm.DB, model any) {
	before := len(entries(t, db))
	stmt := &gorm.Statement{DB: db}
	must(t, stmt.Parse(model))
	table := stmt.Schema.Table
	other := fmt.Sprintf("auditlog_other_%d", time.Now().UnixNano()%1_000_000_000)
	create := "CREATE SCHEMA " + other
	if db.Dialector.Name() == "mysql" {
		create = "CREATE DATABASE " + other
	}
	must(t, db.Exec(create).Error)
	t.Cleanup(func() {
		if db.Dialector.Name() == "mysql" {
			db.Exec("DROP DATABASE IF EXISTS " + other)
		} else {
			db.Exec("DROP SCHEMA IF EXISTS " + other + " CASCADE")
		}
	})
	like := "CREATE TABLE " + stmt.Quote(other+"."+table) + " (LIKE " + stmt.Quote(table) + " INCLUDING ALL)"
	if db.Dialector.Name() == "mysql" {
		like = "CREATE TABLE " + stmt.Quote(other+"."+table) + " LIKE " + stmt.Quote(table)
	}
	must(t, db.Exec(like).Error)
	// The model's own table holds row 1 with other values.
	must(t, db.WithContext(auditlog.Disable(t.Context())).Table(table).Create(&QualItem{ID: 1, Name: "own", N: 7}).Error)
	tbl := func() *gorm.DB { return db.Table(other + "." + table) }
	must(t, tbl().Create(&QualItem{ID: 1, Name: "theirs", N: 1}).Error)
	must(t, tbl().Model(model).Where("id = ?", 1).Update("n", 2).Error)
	must(t, tbl().Where("id = ?", 1).Delete(model).Error)
	es := entries(t, db)[before:]
	logEntries(t, es)
	if len(es) != 3 {
		t.Fatalf("%s: %d entries", table, len(es))
	}
	for i, want := range []string{`{"id":[null,1],"n":[null,1],"name":[null,"theirs"]}`, `{"n":[1,2]}`, `{"id":[1,null],"n":[2,null],"name":["theirs",null]}`} {
		if got := mustJSON(es[i].Changes); got != want || es[i].Model != other+"."+table {
			t.Errorf("entry %d: %s of %s: %s, want %s of %s.%s", i, es[i].Action, es[i].Model, got, want, other, table)
		}
	}
}

// On SQLite, GORM's INSERT into Table("other.t") writes main's t: the
// create is refused, rather than recorded from other's rows.
func TestCreateIntoAnAttachedDatabaseOnSQLite(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	sqlDB, err := db.DB()
	must(t, err)
	sqlDB.SetMaxOpenConns(1) // ATTACH holds for one connection
	reg := setup(t, db, &QualItem{})
	must(t, reg.Register(&QualItem{}))
	must(t, db.Exec("ATTACH DATABASE ? AS other", t.TempDir()+"/other.db").Error)
	must(t, db.Exec("CREATE TABLE other.qual_items (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)").Error)
	err = db.Table("other.qual_items").Create(&QualItem{ID: 1, Name: "x", N: 1}).Error
	if err == nil || !strings.Contains(err.Error(), "cannot be audited") {
		t.Fatalf("create into other.qual_items: %v", err)
	}
	var n int64
	must(t, db.Raw("SELECT count(*) FROM main.qual_items").Scan(&n).Error)
	if n != 0 {
		t.Fatal("the refused create wrote")
	}
}

package auditgorm_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// On SQLite an entries INSERT that fails part-way (here a database at its
// size limit, as a full disk: the batch's rows fit, its entries do not)
// is undone with its change, and the caller's transaction goes on: a
// nested transaction that failed leaves the outer one whole, which then
// commits its other writes with their entries. (With INSERT OR FAIL, no
// statement journal, SQLite rolled the whole transaction back instead:
// the next write committed alone and the outer COMMIT failed.)
func TestSQLiteEntriesFailingPartWayLeaveTheTransaction(t *testing.T) {
	for k := 1; k <= 12; k++ {
		db := testdb.Open(t, "sqlite")
		sqlDB, err := db.DB()
		must(t, err)
		sqlDB.SetMaxOpenConns(1)
		reg := setup(t, db, &Doc{})
		must(t, reg.Register(&Doc{}))
		var pages, set int
		must(t, db.Raw("PRAGMA page_count").Scan(&pages).Error)
		must(t, db.Raw(fmt.Sprintf("PRAGMA max_page_count = %d", pages+k)).Scan(&set).Error)
		body := strings.Repeat("x", 600)
		var innerErr error
		txErr := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&Doc{Code: "first", Body: "a"}).Error; err != nil {
				return err
			}
			innerErr = tx.Transaction(func(tx2 *gorm.DB) error {
				var batch []Doc
				for i := range 6 {
					batch = append(batch, Doc{Code: fmt.Sprint("b", i), Body: body})
				}
				return tx2.Create(&batch).Error
			})
			return tx.Create(&Doc{Code: "after", Body: "z"}).Error
		})
		if innerErr == nil || !strings.Contains(innerErr.Error(), "entries") {
			continue // the limit fell elsewhere: a page more
		}
		var docs, pks []string
		must(t, db.Raw("SELECT code FROM docs ORDER BY code").Scan(&docs).Error)
		must(t, db.Raw("SELECT object_pk FROM auditlog_entries ORDER BY id").Scan(&pks).Error)
		if txErr != nil || !slices.Equal(docs, []string{"after", "first"}) || len(pks) != 2 {
			t.Fatalf("limit +%d pages: the batch failed (%v); then the transaction: %v, docs %v, entries of %v", k, innerErr, txErr, docs, pks)
		}
		return
	}
	// The pages SQLite needs are fixed for a given schema and rows: a
	// skip here would hide the case the test is for.
	t.Fatal("no size limit made the entries, and only they, fail")
}

// A user's trigger on the entries table keeps its own conflict clause:
// the plugin's INSERT must not impose one (SQLite applies the outer
// statement's OR clause to the statements of the triggers it fires).
func TestSQLiteTriggerOnEntriesKeepsItsConflictClause(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &Doc{})
	must(t, reg.Register(&Doc{}))
	for _, s := range []string{"CREATE TABLE side (v TEXT PRIMARY KEY)", "INSERT INTO side VALUES ('Doc')",
		"CREATE TRIGGER side_models AFTER INSERT ON auditlog_entries BEGIN INSERT OR IGNORE INTO side VALUES (NEW.model); END"} {
		must(t, db.Exec(s).Error)
	}
	must(t, db.Create(&[]Doc{{Code: "b1"}, {Code: "b2"}, {Code: "b3"}}).Error)
	must(t, db.Create(&Doc{Code: "one"}).Error)
	var n int64
	must(t, db.Table("auditlog_entries").Count(&n).Error)
	if n != 4 {
		t.Fatalf("%d entries, want 4", n)
	}
}

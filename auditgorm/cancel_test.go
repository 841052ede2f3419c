package auditgorm_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// seedGadgets creates n gadgets at price 1, unaudited.
func seedGadgets(t *testing.T, db *gorm.DB, n int) {
	t.Helper()
	seed := make([]Gadget, n)
	for i := range seed {
		seed[i] = Gadget{Name: fmt.Sprint("g", i), Price: 1}
	}
	must(t, db.WithContext(auditlog.Disable(context.Background())).CreateInBatches(&seed, 5000).Error)
}

// requireEntriesMatchPrices checks that every gadget's price is the one its
// entries end with (or its seed price, 1, when it has none): nothing
// changed without an entry, no entry names a change that did not happen.
func requireEntriesMatchPrices(t *testing.T, db *gorm.DB) {
	t.Helper()
	last := map[string]string{}
	for _, e := range entries(t, db) {
		if c, ok := e.Changes["price"]; ok {
			last[e.ObjectPK] = string(c.New)
		}
	}
	var rows []Gadget
	must(t, db.WithContext(auditlog.Disable(context.Background())).Unscoped().Find(&rows).Error)
	bad := 0
	for _, g := range rows {
		want, ok := last[fmt.Sprint(g.ID)]
		if !ok {
			want = "1"
		}
		if fmt.Sprint(g.Price) != want {
			if bad++; bad <= 3 {
				t.Errorf("gadget %d (%s): price %d, its entries say %s", g.ID, g.Name, g.Price, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ from their entries", bad, len(rows))
	}
}

// A context cancelled after the write ran (just as its entries are sent, or
// at the first statement after the UPDATE: MariaDB's read-back, SQLite's
// savepoint release) does not leave the write in the caller's transaction
// without its entries: the plugin's statements after the write are not
// cancelled.
func TestCancelAfterTheWriteKeepsItsEntries(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, _ *gorm.DB) {
		name := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
		for _, c := range []struct {
			rows  int // 5: pinned; 100: unpinned on SQLite
			after string
		}{{5, "entries"}, {100, "entries"}, {5, "write"}, {100, "write"}} {
			rows := c.rows
			t.Run(fmt.Sprint(rows, " rows, cancelled after the ", c.after), func(t *testing.T) {
				db, counter := testdb.OpenCounting(t, name)
				reg := setup(t, db, &Gadget{})
				must(t, reg.Register(&Gadget{}))
				seedGadgets(t, db, rows)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				written := false
				counter.BeforeStatement(func(_ context.Context, q string) {
					if (c.after == "entries" && strings.Contains(q, "auditlog_entries")) || (c.after == "write" && written) {
						cancel() // the caller's deadline passes now
					}
					written = written || strings.HasPrefix(q, "UPDATE")
				})
				defer counter.BeforeStatement(nil)
				err := db.Transaction(func(tx *gorm.DB) error {
					if err := tx.WithContext(ctx).Model(&Gadget{}).Where("price = ?", 1).Update("price", 2).Error; err != nil {
						t.Logf("update: %v", err) // the caller logs it and commits the rest
					}
					return nil
				})
				counter.BeforeStatement(nil)
				must(t, err)
				requireEntriesMatchPrices(t, db)
			})
		}
	})
}

// On SQLite an unpinned update that must roll back to its savepoint does so
// even when the context was cancelled after the update ran: the row that
// appeared between the read and the write keeps its value.
func TestUnpinnedRollbackSurvivesCancel(t *testing.T) {
	db, counter := testdb.OpenCounting(t, "sqlite")
	reg := setup(t, db, &Gadget{})
	must(t, reg.Register(&Gadget{}))
	seedGadgets(t, db, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	counter.BeforeStatement(func(_ context.Context, q string) {
		if strings.HasPrefix(q, "ROLLBACK TO") {
			cancel()
		}
	})
	defer counter.BeforeStatement(nil)
	auditgorm.SetTestHookUnpinned(func(conn gorm.ConnPool) {
		if _, err := conn.ExecContext(context.Background(), "INSERT INTO gadgets (name, price) VALUES ('late', 1)"); err != nil {
			t.Error(err)
		}
	})
	defer auditgorm.SetTestHookUnpinned(nil)
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.WithContext(ctx).Model(&Gadget{}).Where("price = ?", 1).Update("price", 2).Error; err != nil {
			t.Logf("update: %v", err)
		}
		return nil
	})
	auditgorm.SetTestHookUnpinned(nil)
	counter.BeforeStatement(nil)
	must(t, err)
	// The refused update is rolled back whole, with the row that appeared
	// inside it; whatever stays, stays with its entries.
	var late []Gadget
	must(t, db.Where("name = ?", "late").Find(&late).Error)
	if len(late) == 1 && late[0].Price != 1 {
		t.Errorf("the row inserted after the read was updated to %d", late[0].Price)
	}
	requireEntriesMatchPrices(t, db)
}

// On SQLite, in a caller's transaction, a write that its capture refuses
// after it ran (here: conditions that are not deterministic, so the rows
// written are not the rows read) is rolled back to a savepoint: a caller
// that logs the error and commits commits nothing unrecorded. Every size,
// pinned (few rows) and unpinned (many).
func TestSQLiteRefusedWriteLeavesCallersTransaction(t *testing.T) {
	for _, rows := range []int{8, 200} {
		t.Run(fmt.Sprint(rows, " rows"), func(t *testing.T) {
			db := testdb.Open(t, "sqlite")
			reg := setup(t, db, &Gadget{})
			must(t, reg.Register(&Gadget{}))
			seedGadgets(t, db, rows)
			refused := 0
			for try := 0; try < 5; try++ {
				must(t, db.Transaction(func(tx *gorm.DB) error {
					if err := tx.Model(&Gadget{}).Where("price = 1 AND abs(random()) % 2 = 0").Update("price", 2).Error; err != nil {
						refused++
					}
					return nil // the caller logs it and commits
				}))
				requireEntriesMatchPrices(t, db)
				must(t, db.WithContext(auditlog.Disable(context.Background())).Model(&Gadget{}).Where("1 = 1").Update("price", 1).Error)
				// The entries now lag the reset; start the next try from a table
				// whose entries agree with it.
				must(t, db.WithContext(auditlog.Disable(context.Background())).Exec("DELETE FROM auditlog_entries").Error)
			}
			if refused == 0 {
				t.Fatal("no update was refused: the test shows nothing")
			}
		})
	}
}

// On PostgreSQL, in a caller's transaction, a write that its capture refuses
// after it ran (conditions that are not deterministic, on the two-statement
// path) makes the transaction fail, as a failed statement does there: the
// caller's COMMIT rolls back, so nothing is committed unrecorded.
func TestPostgresRefusedWriteAbortsCallersTransaction(t *testing.T) {
	if !contains(testdb.Names(), "postgres") {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	db := testdb.Open(t, "postgres")
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, SeparatePreSelect: true})))
	must(t, db.AutoMigrate(&Gadget{}))
	must(t, reg.Register(&Gadget{}))
	seedGadgets(t, db, 16)
	refused := 0
	for try := 0; try < 5; try++ {
		var updErr error
		commitErr := db.Transaction(func(tx *gorm.DB) error {
			updErr = tx.Model(&Gadget{}).Where("price = 1 AND random() < 0.5").Update("price", 2).Error
			return nil // the caller logs it and commits
		})
		if updErr != nil {
			refused++
			if commitErr == nil {
				t.Errorf("the update was refused (%v), and the caller's transaction committed", updErr)
			}
		}
		requireEntriesMatchPrices(t, db)
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		must(t, quiet.Model(&Gadget{}).Where("1 = 1").Update("price", 1).Error)
		must(t, quiet.Exec("DELETE FROM auditlog_entries").Error)
	}
	if refused == 0 {
		t.Fatal("no update was refused: the test shows nothing")
	}
}

package auditgorm_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// An upsert without RETURNING (every upsert on MySQL/MariaDB, on the locked
// path and on the unlocked one-new-row path) reads the stored rows back
// after the INSERT … ON DUPLICATE KEY UPDATE: a context cancelled then does
// not stop that read, and the upsert keeps its entries.
func TestCancelAfterUpsertKeepsItsEntries(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, _ *gorm.DB) {
		name := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
		for _, c := range []struct {
			what string
			row  Gadget
		}{{"existing key (locked path)", Gadget{Name: "g0", Price: 2}}, {"new key (unlocked path)", Gadget{Name: "new", Price: 2}}} {
			t.Run(c.what, func(t *testing.T) {
				db, counter := testdb.OpenCounting(t, name)
				reg := setup(t, db, &Gadget{})
				must(t, reg.Register(&Gadget{}))
				must(t, db.WithContext(auditlog.Disable(context.Background())).Create(&Gadget{Name: "g0", Price: 1}).Error)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				written := false
				counter.BeforeStatement(func(_ context.Context, q string) {
					if written {
						cancel()
					}
					written = written || strings.HasPrefix(q, "INSERT INTO") && strings.Contains(q, "gadgets")
				})
				defer counter.BeforeStatement(nil)
				row := c.row
				err := db.Transaction(func(tx *gorm.DB) error {
					if err := tx.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.AssignmentColumns([]string{"price"})}).Create(&row).Error; err != nil {
						t.Logf("upsert: %v", err)
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

// An update pinned in chunks (more than 30,000 rows read, on MariaDB) is
// not cancelled between two chunks: once the first ran, the rest and the
// entries follow.
func TestCancelBetweenPinnedChunks(t *testing.T) {
	long(t)
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	db, counter := testdb.OpenCounting(t, "mysql")
	reg := setup(t, db, &Gadget{})
	must(t, reg.Register(&Gadget{}))
	seedGadgets(t, db, 30001)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := 0
	counter.BeforeStatement(func(_ context.Context, q string) {
		if strings.HasPrefix(q, "UPDATE") {
			if updates++; updates == 2 {
				cancel() // the deadline passes between the two chunks
			}
		}
	})
	defer counter.BeforeStatement(nil)
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.WithContext(ctx).Model(&Gadget{}).Where("price = ?", 1).Update("price", 2).Error; err != nil {
			t.Logf("update: %v", err)
		}
		return nil
	})
	counter.BeforeStatement(nil)
	must(t, err)
	requireEntriesMatchPrices(t, db)
}

// A context cancelled while the plugin scans an INSERT's RETURNING rows
// leaves no write without its entries: either both are committed or
// neither (on PostgreSQL the connection is dropped and the commit fails).
func TestCancelWhileScanningReturning(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, _ *gorm.DB) {
		name := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
		db, counter := testdb.OpenCounting(t, name)
		reg := setup(t, db, &Gadget{})
		must(t, reg.Register(&Gadget{}))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		counter.AfterQuery(func(_ context.Context, q string) {
			if strings.HasPrefix(q, "INSERT INTO") && strings.Contains(q, "gadgets") {
				cancel()
				time.Sleep(50 * time.Millisecond) // database/sql closes the rows
			}
		})
		defer counter.AfterQuery(nil)
		rows := make([]Gadget, 500)
		for i := range rows {
			rows[i] = Gadget{Name: fmt.Sprint("n", i), Price: 1}
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.WithContext(ctx).Create(&rows).Error; err != nil {
				t.Logf("create: %v", err)
			}
			return nil
		})
		counter.AfterQuery(nil)
		t.Logf("commit: %v", err)
		var n int64
		must(t, db.WithContext(auditlog.Disable(context.Background())).Model(&Gadget{}).Count(&n).Error)
		if got := len(entries(t, db)); int64(got) != n {
			t.Errorf("%d gadgets committed, %d entries", n, got)
		}
	})
}

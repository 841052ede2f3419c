package auditgorm_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A bulk update of 10,000 rows writes 10,000 correct entries with a constant
// number of extra statements.
func TestBulkUpdate10000(t *testing.T) {
	long(t)
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			reg := setup(t, db, &Gadget{})
			must(t, reg.Register(&Gadget{}))
			const n = 10_000
			rows := make([]Gadget, n)
			for i := range rows {
				rows[i] = Gadget{Name: fmt.Sprintf("g%05d", i), Price: i}
			}
			must(t, db.WithContext(auditlog.Disable(context.Background())).CreateInBatches(&rows, 1000).Error)
			before := counter.Load()
			must(t, db.WithContext(auditlog.Disable(context.Background())).Model(&Gadget{}).Where("price >= ?", 0).Update("price", gorm.Expr("price + 1")).Error)
			baseline := counter.Load() - before
			before = counter.Load()
			must(t, db.Model(&Gadget{}).Where("price >= ?", 0).Update("price", gorm.Expr("price * 2")).Error)
			// On SQLite two more are a savepoint and its release
			// (in-process, no I/O) around the update run unpinned, one
			// is the first audited write's read of the table's
			// definition (ON CONFLICT REPLACE), and where SQLite has no
			// JSONB (before 3.45), the process's first batch tries
			// jsonb_each once.
			limit := int64(3)
			if name == "sqlite" {
				limit = 6
			}
			if extra := counter.Load() - before - baseline; extra > limit {
				t.Errorf("the plugin added %d statements for %d rows, want at most %d", extra, n, limit)
			}
			es := entries(t, db)
			if len(es) != n {
				t.Fatalf("%d entries, want %d", len(es), n)
			}
			byKey := map[string]bool{}
			for _, e := range es {
				var id int
				fmt.Sscan(e.ObjectPK, &id)
				old, want := id, 2*id // price was i+1 for id i+1
				c := e.Changes["price"]
				if string(c.Old) != fmt.Sprint(old) || string(c.New) != fmt.Sprint(want) || byKey[e.ObjectPK] {
					t.Fatalf("entry for %s: %s (dup %v)", e.ObjectPK, e.Changes, byKey[e.ObjectPK])
				}
				byKey[e.ObjectPK] = true
			}
		})
	}
}

// A statement over more rows than MaxRowsPerStatement fails clearly and
// changes nothing.
func TestMaxRowsPerStatement(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, MaxRowsPerStatement: 5})))
	must(t, db.AutoMigrate(&Gadget{}))
	must(t, reg.Register(&Gadget{}))
	for i := 0; i < 6; i++ {
		must(t, db.Create(&Gadget{Name: fmt.Sprint(i)}).Error)
	}
	err := db.Model(&Gadget{}).Where("price = ?", 0).Update("price", 1).Error
	if !errors.Is(err, auditgorm.ErrTooManyRows) {
		t.Fatalf("error %v", err)
	}
	var n int64
	must(t, db.Model(&Gadget{}).Where("price = 1").Count(&n).Error)
	if n != 0 {
		t.Fatalf("%d rows changed", n)
	}
	bad := testdb.Open(t, "sqlite")
	if err := bad.Use(auditgorm.New(auditgorm.Config{MaxRowsPerStatement: -1})); err == nil {
		t.Fatal("negative MaxRowsPerStatement accepted")
	}
}

// On PostgreSQL, a bulk Where("price < 10").Update runs while another
// transaction holds a matching row, changes it and commits, and a new
// matching row (a phantom) is committed while the statement waits. The
// statement must see the committed change as the row's old value, and it
// must not touch the phantom, which no entry would describe: the write is
// pinned to the rows its locking read returned. Both capture paths are
// checked: with a separate pre-select (an unpinned UPDATE would change the
// phantom) and in one statement (an old value read without the lock would
// be stale).
func TestBulkUpdatePhantom(t *testing.T) {
	if !contains(testdb.Names(), "postgres") {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	for _, separate := range []bool{true, false} {
		t.Run(map[bool]string{true: "separate pre-select", false: "one statement"}[separate], func(t *testing.T) {
			t.Parallel()
			phantom(t, separate)
		})
	}
}

func phantom(t *testing.T, separate bool) {
	db := testdb.Open(t, "postgres")
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, SeparatePreSelect: separate})))
	must(t, db.AutoMigrate(&Gadget{}))
	must(t, reg.Register(&Gadget{}))
	for i := 1; i <= 3; i++ {
		must(t, db.Create(&Gadget{Name: fmt.Sprint(i), Price: i}).Error)
	}
	holder := db.Begin()
	must(t, holder.Error)
	defer holder.Rollback()
	must(t, holder.Model(&Gadget{}).Where("id = ?", 2).Update("price", 5).Error)
	var pid int
	must(t, holder.Raw("SELECT pg_backend_pid()").Scan(&pid).Error)

	done := make(chan error, 1)
	go func() {
		done <- db.Model(&Gadget{}).Where("price < ?", 10).Update("price", gorm.Expr("price + 100")).Error
	}()
	// Wait (bounded) until the bulk statement waits for the holder's lock.
	waiting := false
	for i := 0; i < 500 && !waiting; i++ {
		var n int
		must(t, db.Raw("SELECT count(*) FROM pg_locks WHERE NOT granted AND ? = ANY(pg_blocking_pids(pid))", pid).Scan(&n).Error)
		if waiting = n > 0; !waiting {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !waiting {
		t.Fatal("the bulk update never waited for the held row")
	}
	must(t, db.Create(&Gadget{Name: "phantom", Price: 4}).Error)
	must(t, holder.Commit().Error)
	must(t, <-done)

	var all []Gadget
	must(t, db.Order("id").Find(&all).Error)
	updates := map[string][]string{}
	for _, e := range entries(t, db) {
		if e.Action == auditlog.ActionUpdate {
			updates[e.ObjectPK] = append(updates[e.ObjectPK], string(e.Changes["price"].Old)+"→"+string(e.Changes["price"].New))
		}
	}
	want := map[string]string{"1": "101 [1→101]", "2": "105 [2→5 5→105]", "3": "103 [3→103]", "4": "4 []"}
	for _, g := range all {
		key := fmt.Sprint(g.ID)
		if got := fmt.Sprint(g.Price, " ", updates[key]); got != want[key] {
			t.Errorf("row %s: price and update entries %s, want %s", key, got, want[key])
		}
	}
}

type pauseKey struct{}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// More rows than one pin holds, under READ COMMITTED, with a matching row
// committed by another connection between the plugin's locking read and the
// UPDATE: every changed row has exactly one entry with the right old value
// and no row changes unrecorded (MariaDB, and PostgreSQL's two-statement
// path).
func TestBulkUpdatePhantomReadCommitted(t *testing.T) {
	long(t)
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time: no phantom can commit in between
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			reg := auditlog.NewRegistry()
			must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, SeparatePreSelect: true})))
			must(t, db.AutoMigrate(&Gadget{}))
			must(t, reg.Register(&Gadget{}))
			const n = 30_500
			rows := make([]Gadget, n)
			for i := range rows {
				rows[i] = Gadget{Name: fmt.Sprint(i), Price: i % 10}
			}
			must(t, db.WithContext(auditlog.Disable(context.Background())).CreateInBatches(&rows, 2000).Error)
			base, err := db.DB()
			must(t, err)
			// The phantom takes the id right after the last row, so that a
			// pin one key too wide (a range pin's last key) would take it
			// (on PostgreSQL; MariaDB's locking read still returns it, as
			// the hook runs before its rows are fetched).
			var top int64
			must(t, db.Model(&Gadget{}).Select("MAX(id)").Scan(&top).Error)
			var once sync.Once
			counter.AfterQuery(func(ctx context.Context, q string) {
				if ctx.Value(pauseKey{}) == nil || !strings.Contains(q, "FOR UPDATE") {
					return
				}
				once.Do(func() {
					_, err := base.ExecContext(context.Background(), fmt.Sprintf("INSERT INTO gadgets (id, name, price) VALUES (%d, 'phantom', 4)", top+1))
					must(t, err)
				})
			})
			ctx := context.WithValue(context.Background(), pauseKey{}, true)
			must(t, db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return tx.Model(&Gadget{}).Where("price < ?", 10).Update("price", gorm.Expr("price + 100")).Error
			}, &sql.TxOptions{Isolation: sql.LevelReadCommitted}))
			counter.AfterQuery(nil)
			var phantom Gadget
			must(t, db.Where("name = ?", "phantom").First(&phantom).Error)
			es := entries(t, db)
			byKey := map[string]auditlog.Entry{}
			for _, e := range es {
				if _, dup := byKey[e.ObjectPK]; dup {
					t.Fatalf("two entries for %s", e.ObjectPK)
				}
				byKey[e.ObjectPK] = e
			}
			var changed int64
			must(t, db.Model(&Gadget{}).Where("price >= 100").Count(&changed).Error)
			if int64(len(es)) != changed {
				t.Fatalf("%d rows changed, %d entries", changed, len(es))
			}
			if _, ok := byKey[fmt.Sprint(phantom.ID)]; ok != (phantom.Price >= 100) {
				t.Fatalf("phantom price %d, entry %v", phantom.Price, ok)
			}
		})
	}
}

// On SQLite a bulk update runs as written, without the "key IN (…)" pin,
// and a row that the same conditions match between the read and the write
// (possible only on the same connection, or with conditions that are not
// deterministic) makes it roll back to its savepoint and run pinned: the
// entries name exactly the rows changed, and the row that appeared keeps
// its value.
func TestSQLiteUnpinnedBulkUpdate(t *testing.T) {
	db, counter := testdb.OpenCounting(t, "sqlite")
	reg := setup(t, db, &Gadget{})
	must(t, reg.Register(&Gadget{}))
	rows := make([]Gadget, 100)
	for i := range rows {
		rows[i] = Gadget{Name: fmt.Sprintf("g%03d", i), Price: 1}
	}
	must(t, db.WithContext(auditlog.Disable(context.Background())).Create(&rows).Error)
	var updates []string
	counter.AfterQuery(func(_ context.Context, q string) {
		if strings.HasPrefix(q, "UPDATE") {
			updates = append(updates, q)
		}
	})
	defer counter.AfterQuery(nil)

	// The pin: the keys read, as a list or as runs (BETWEEN).
	pinned := func(q string) bool { return strings.Contains(q, " IN (") || strings.Contains(q, " BETWEEN ") }
	// Many rows: no pin.
	must(t, db.Model(&Gadget{}).Where("price = ?", 1).Update("price", 2).Error)
	if len(updates) != 1 || pinned(updates[0]) {
		t.Fatalf("want one unpinned UPDATE, got %q", updates)
	}
	// Few rows: pinned, no savepoint.
	updates = nil
	must(t, db.Model(&Gadget{}).Where("id <= ?", 3).Update("price", 3).Error)
	if len(updates) != 1 || !pinned(updates[0]) {
		t.Fatalf("want one pinned UPDATE, got %q", updates)
	}

	// A row that appears between the read and the write, in the gap
	// between two runs of the keys read (4-49 and 51-100).
	must(t, db.WithContext(auditlog.Disable(context.Background())).Unscoped().Delete(&Gadget{}, 50).Error)
	updates = nil
	auditgorm.SetTestHookUnpinned(func(conn gorm.ConnPool) {
		if _, err := conn.ExecContext(context.Background(), "INSERT INTO gadgets (id, name, price) VALUES (50, 'late', 2)"); err != nil {
			t.Error(err)
		}
	})
	defer auditgorm.SetTestHookUnpinned(nil)
	res := db.Model(&Gadget{}).Where("price = ?", 2).Update("price", 4)
	must(t, res.Error)
	if res.RowsAffected != 96 {
		t.Errorf("RowsAffected %d, want 96", res.RowsAffected)
	}
	if len(updates) != 2 || pinned(updates[0]) || !pinned(updates[1]) {
		t.Fatalf("want the unpinned UPDATE, then the pinned one; got %d: %.80q", len(updates), updates)
	}
	var late Gadget
	must(t, db.Where("name = ?", "late").First(&late).Error)
	if late.Price != 2 {
		t.Errorf("the row inserted after the read was updated: price %d", late.Price)
	}
	var four int64
	must(t, db.Model(&Gadget{}).Where("price = ?", 4).Count(&four).Error)
	byAction := map[string]int{}
	for _, e := range entries(t, db) {
		c, ok := e.Changes["price"]
		if !ok || string(c.New) != "4" {
			continue // (the row deleted before had id 50 too)
		}
		if e.ObjectPK == fmt.Sprint(late.ID) {
			t.Errorf("an entry names the late row: %v", e.Changes)
		}
		byAction[e.Action.String()]++
	}
	if four != 96 || byAction["update"] != 96 {
		t.Errorf("%d rows at price 4, %d entries for them; want 96 and 96", four, byAction["update"])
	}
	auditgorm.SetTestHookUnpinned(nil)

	// An unpinned update that fails leaves the caller's transaction as it
	// was: the caller goes on and commits.
	before := len(entries(t, db))
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&Gadget{}).Where("price = ?", 4).Update("name", "same").Error; err == nil {
			t.Error("a unique name set on 96 rows succeeded")
		}
		return tx.Model(&Gadget{}).Where("price = ?", 4).Update("price", 5).Error
	})
	must(t, err)
	var names int64
	must(t, db.Model(&Gadget{}).Where("name = ?", "same").Count(&names).Error)
	if got := len(entries(t, db)) - before; got != 96 || names != 0 {
		t.Errorf("%d new entries (want 96), %d rows named same (want 0)", got, names)
	}
}

// RealKey has an integer key in a column that is not SQLite's rowid, which
// SQLite lets hold a real number.
type RealKey struct {
	ID    int64 `gorm:"primaryKey;autoIncrement:false"`
	Price int
}

// On SQLite the pin stays a list: a key column that is not the rowid may
// hold 20.5 between the keys 20 and 21 read, and a pin "id BETWEEN 1 AND
// 40" changed that row, which appeared between the read and the write,
// without an entry.
func TestSQLitePinMatchesOnlyTheKeysRead(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db)
	must(t, db.Exec("CREATE TABLE real_keys (id BIGINT PRIMARY KEY, price INTEGER)").Error)
	must(t, reg.Register(&RealKey{}))
	off := auditlog.Disable(context.Background())
	for i := 1; i <= 40; i++ {
		must(t, db.WithContext(off).Exec("INSERT INTO real_keys VALUES (?, 2)", i).Error)
	}
	auditgorm.SetTestHookUnpinned(func(conn gorm.ConnPool) {
		if _, err := conn.ExecContext(context.Background(), "INSERT INTO real_keys (id, price) VALUES (20.5, 2)"); err != nil {
			t.Error(err)
		}
	})
	defer auditgorm.SetTestHookUnpinned(nil)
	res := db.Model(&RealKey{}).Where("price = ?", 2).Update("price", 4)
	must(t, res.Error)
	var late int
	must(t, db.Raw("SELECT price FROM real_keys WHERE id = 20.5").Scan(&late).Error)
	if es := entries(t, db); res.RowsAffected != 40 || len(es) != 40 || late != 2 {
		t.Errorf("%d rows changed, %d entries, the late row's price %d; want 40, 40, 2", res.RowsAffected, len(es), late)
	}
}

// An update pinned to the rows it read by runs of their keys (BETWEEN)
// and a list of the rest changes exactly those rows, with an entry each:
// the rows between the runs that its conditions leave out stay as they
// were, without entries.
func TestPinByKeyRanges(t *testing.T) {
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, name)
			reg := setup(t, db, &Gadget{})
			must(t, reg.Register(&Gadget{}))
			rows := make([]Gadget, 20)
			for i := range rows {
				rows[i] = Gadget{Name: fmt.Sprintf("p%02d", i+1), Price: i + 1}
			}
			must(t, db.WithContext(auditlog.Disable(context.Background())).Create(&rows).Error)
			// Keys 1-5, 7, 9-18, 20: two runs and two single keys.
			must(t, db.Model(&Gadget{}).Where("price NOT IN ?", []int{6, 8, 19}).Update("price", gorm.Expr("price + 100")).Error)
			es := entries(t, db)
			if len(es) != 17 {
				t.Fatalf("%d entries, want 17", len(es))
			}
			for _, e := range es {
				var id int
				fmt.Sscan(e.ObjectPK, &id)
				c := e.Changes["price"]
				if id == 6 || id == 8 || id == 19 || string(c.Old) != fmt.Sprint(id) || string(c.New) != fmt.Sprint(id+100) {
					t.Errorf("entry for %s: %v", e.ObjectPK, e.Changes)
				}
			}
			var got []Gadget
			must(t, db.Order("id").Find(&got).Error)
			for _, g := range got {
				want := int(g.ID) + 100
				if g.ID == 6 || g.ID == 8 || g.ID == 19 {
					want = int(g.ID)
				}
				if g.Price != want {
					t.Errorf("gadget %d has price %d, want %d", g.ID, g.Price, want)
				}
			}
		})
	}
}

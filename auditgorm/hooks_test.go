package auditgorm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// hookRecorder records what Config.Hooks see.
type hookRecorder struct {
	mu     sync.Mutex
	starts []auditgorm.StatementStartInfo
	ends   []auditgorm.StatementEndInfo
	// lost counts StatementEnd calls whose context is not the one
	// StatementStart returned.
	lost int
	// panicStart and panicEnd make the hooks panic.
	panicStart, panicEnd bool
}

// hookCall keys the context StatementStart returns.
type hookCall struct{}

func (r *hookRecorder) StatementStart(ctx context.Context, info auditgorm.StatementStartInfo) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.panicStart {
		panic("start hook")
	}
	r.starts = append(r.starts, info)
	return context.WithValue(ctx, hookCall{}, len(r.starts))
}

func (r *hookRecorder) StatementEnd(ctx context.Context, info auditgorm.StatementEndInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, _ := ctx.Value(hookCall{}).(int); n != len(r.starts) {
		r.lost++
	}
	r.ends = append(r.ends, info)
	if r.panicEnd {
		panic("end hook")
	}
}

// take returns and forgets the ends recorded so far.
func (r *hookRecorder) take() (ends []auditgorm.StatementEndInfo, starts int, lost int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ends, starts, lost = r.ends, len(r.starts), r.lost
	r.ends, r.starts, r.lost = nil, nil, 0
	return ends, starts, lost
}

// Memo has a text body, which PostgreSQL's in-statement path leaves to a
// separate entry INSERT above 170,000 bytes.
type Memo struct {
	ID   uint
	Body string
}

// hookVariant is a plugin configuration a hook case runs under.
type hookVariant struct {
	name string
	db   string
	cfg  auditgorm.Config
}

func hookVariants() []hookVariant {
	var out []hookVariant
	for _, name := range testdb.Names() {
		out = append(out, hookVariant{name: name, db: name})
		if name == "postgres" {
			out = append(out,
				hookVariant{name: "postgres-separate-entries", db: name, cfg: auditgorm.Config{SeparateEntries: true}},
				hookVariant{name: "postgres-separate-preselect", db: name, cfg: auditgorm.Config{SeparatePreSelect: true}})
		}
	}
	return out
}

// hookCase is one audited call and what the hooks must report of it, per
// variant (a variant missing from a map takes its value under "").
type hookCase struct {
	name string
	run  func(db *gorm.DB) error
	// fails: the call must return an error.
	fails bool
	// calls is the number of audited statements (hook calls); default 1.
	calls int
	// gorm is the number of statements GORM alone sends for the call
	// (default: calls), to compare the extra statements with the counted
	// ones; own is the number of BEGIN and COMMIT or ROLLBACK of the
	// plugin's own transaction, which the counter does not see.
	gorm *int
	own  int
	// entries the call must write (and the table then holds).
	entries int64
	path    map[string]auditgorm.Path
	extra   map[string]int
	action  auditlog.Action
	model   string
	skip    []string // variants the call does not apply to
}

func intp(n int) *int { return &n }

func byVariant[T any](m map[string]T, v string) (T, bool) {
	if x, ok := m[v]; ok {
		return x, true
	}
	x, ok := m[""]
	return x, ok
}

// hookCases cover every capture path. The extra statements are what each
// path must run beyond the write; the test also checks them against the
// statements counted on the connection pool, and the entries against the
// table. Widget has no repr, so that PostgreSQL writes its entries in the
// write's own statement.
var hookCases = []hookCase{
	{name: "first create reads PostgreSQL's catalog", run: func(db *gorm.DB) error {
		return db.Create(&Widget{ID: 100, Name: "first", Price: 1}).Error
	}, entries: 1, action: auditlog.ActionCreate,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 1, "mysql": 2}},
	{name: "create", run: func(db *gorm.DB) error {
		return db.Create(&Widget{ID: 101, Name: "n", Price: 1}).Error
	}, entries: 1, action: auditlog.ActionCreate,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 1, "postgres": 0, "mysql": 2}},
	{name: "create of two", run: func(db *gorm.DB) error {
		return db.Create(&[]Widget{{ID: 102, Name: "n2"}, {ID: 103, Name: "n3"}}).Error
	}, entries: 2, action: auditlog.ActionCreate,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 1, "postgres": 0, "mysql": 2}},
	{name: "create from a map", run: func(db *gorm.DB) error {
		return db.Model(&Widget{}).Create(map[string]any{"ID": 104, "Name": "m", "Price": 7}).Error
	}, entries: 1, action: auditlog.ActionCreate,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 1, "postgres": 0, "mysql": 2}},
	{name: "upsert of an existing key", run: func(db *gorm.DB) error {
		return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&Widget{ID: 1, Name: "w1", Price: 11}).Error
	}, entries: 1, action: auditlog.ActionCreate,
		// MariaDB: a read without a lock finds the key, a locking read, the
		// upsert, a read-back.
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 2, "mysql": 4}},
	{name: "upsert of a new key", run: func(db *gorm.DB) error {
		return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&Widget{ID: 105, Name: "u", Price: 1}).Error
	}, entries: 1, action: auditlog.ActionCreate,
		// MariaDB: the unlocked upsert, then a read-back.
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 2, "mysql": 3}},
	{name: "update", run: func(db *gorm.DB) error {
		return db.Model(&Widget{ID: 1}).Update("price", 13).Error
	}, entries: 1, action: auditlog.ActionUpdate,
		path: map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		// PostgreSQL's separate entries: old and new rows from one UPDATE.
		extra: map[string]int{"": 2, "postgres": 0, "postgres-separate-entries": 1, "mysql": 3}},
	{name: "update of a model with a repr", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 1}).Update("price", 13).Error
	}, entries: 1, action: auditlog.ActionUpdate, model: "gadgets",
		// PostgreSQL: old and new rows from one UPDATE, entries built in Go.
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 2, "postgres": 1, "postgres-separate-entries": 1, "mysql": 3}},
	{name: "update that changes nothing", run: func(db *gorm.DB) error {
		return db.Model(&Widget{ID: 1}).Update("price", 1).Error
	}, entries: 0, action: auditlog.ActionUpdate,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 1, "postgres": 0, "postgres-separate-entries": 0, "mysql": 2}},
	{name: "update of 40 rows", run: func(db *gorm.DB) error {
		return db.Model(&Widget{}).Where("price > ?", 0).Update("price", gorm.Expr("price + 1")).Error
	}, entries: 40, action: auditlog.ActionUpdate,
		path: map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		// SQLite: unpinned, in a savepoint and its release.
		extra: map[string]int{"": 2, "sqlite": 4, "postgres": 0, "postgres-separate-entries": 1, "mysql": 3}},
	{name: "update of a key", run: func(db *gorm.DB) error {
		return db.Model(&Widget{ID: 2}).Update("id", gorm.Expr("id + 1000")).Error
	}, entries: 1, action: auditlog.ActionUpdate,
		// PostgreSQL keeps key changes out of the statement. MySQL reads
		// back by the new keys, and first reads the rows that hold them.
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 2, "postgres": 1, "postgres-separate-entries": 1, "mysql": 4}},
	{name: "update whose RETURNING the caller reads", skip: []string{"mysql"}, run: func(db *gorm.DB) error {
		var got []Widget
		return db.Model(&got).Clauses(clause.Returning{}).Where("id = ?", 3).Update("price", 99).Error
	}, entries: 1, action: auditlog.ActionUpdate,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReadBack},
		extra: map[string]int{"": 3}},
	{name: "update of a large text", run: func(db *gorm.DB) error {
		return db.Model(&Memo{ID: 1}).Update("body", strings.Repeat("x", 200_000)).Error
	}, entries: 1, action: auditlog.ActionUpdate, model: "memos",
		// PostgreSQL: the catalog read of Memo's first write, and SQL
		// leaves the row to a separate entry INSERT.
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 2, "postgres": 2, "postgres-separate-entries": 1, "mysql": 3}},
	{name: "soft delete", run: func(db *gorm.DB) error {
		return db.Delete(&Widget{ID: 4}).Error
	}, entries: 1, action: auditlog.ActionDelete,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 2, "postgres": 0, "postgres-separate-entries": 1, "mysql": 3}},
	{name: "hard delete", run: func(db *gorm.DB) error {
		return db.Unscoped().Delete(&Widget{ID: 5}).Error
	}, entries: 1, action: auditlog.ActionDelete,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathPreSelect},
		extra: map[string]int{"": 1, "postgres": 0, "mysql": 2}},
	{name: "hard delete whose RETURNING the caller reads", run: func(db *gorm.DB) error {
		var got []Widget
		return db.Unscoped().Clauses(clause.Returning{}).Where("id = ?", 6).Delete(&got).Error
	}, entries: 1, action: auditlog.ActionDelete,
		path:  map[string]auditgorm.Path{"": auditgorm.PathPreSelect},
		extra: map[string]int{"": 2}},
	{name: "join-table insert", run: func(db *gorm.DB) error {
		return db.Table("widget_parts").Create(map[string]any{"widget_id": 7, "part_id": 1}).Error
	}, entries: 1, action: auditlog.ActionCreate, model: "widget_parts",
		// The pairs before (rows given as maps: GORM's INSERT runs as it
		// is, to fill in "@id"), the related object (for its repr), the
		// entry; first the table's definition: on SQLite whether its
		// constraints replace rows (read once a second), elsewhere whether
		// it holds a pair once, or the pairs must be held (kept for a
		// while).
		path:  map[string]auditgorm.Path{"": auditgorm.PathM2M},
		extra: map[string]int{"": 4}},
	{name: "join-table delete", run: func(db *gorm.DB) error {
		return db.Table("widget_parts").Where("widget_id = ?", 8).Delete(map[string]any{}).Error
	}, entries: 1, action: auditlog.ActionDelete, model: "widget_parts",
		path:  map[string]auditgorm.Path{"": auditgorm.PathM2M},
		extra: map[string]int{"": 3}},
	{name: "Log", run: func(db *gorm.DB) error {
		return auditgorm.Log(context.Background(), db, auditgorm.Record{Action: auditlog.ActionAccess, Model: "widgets", PK: "1"})
	}, gorm: intp(0), entries: 1, action: auditlog.ActionAccess,
		path:  map[string]auditgorm.Path{"": auditgorm.PathLog},
		extra: map[string]int{"": 1}},
	{name: "failed create", fails: true, run: func(db *gorm.DB) error {
		return db.Create(&Widget{ID: 1, Name: "dup"}).Error
	}, entries: 0, action: auditlog.ActionCreate,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 0}},
	{name: "update in the plugin's own transaction", run: func(db *gorm.DB) error {
		return db.Session(&gorm.Session{SkipDefaultTransaction: true}).Model(&Widget{ID: 1}).Update("price", 14).Error
	}, own: 2, entries: 1, action: auditlog.ActionUpdate,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 4, "postgres": 2, "postgres-separate-entries": 3, "mysql": 5}},
	{name: "failed create in the plugin's own transaction", fails: true, run: func(db *gorm.DB) error {
		return db.Session(&gorm.Session{SkipDefaultTransaction: true}).Create(&Widget{ID: 1, Name: "dup"}).Error
	}, own: 2, entries: 0, action: auditlog.ActionCreate,
		path:  map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		extra: map[string]int{"": 2}},
	{name: "update in the caller's transaction", run: func(db *gorm.DB) error {
		return db.Transaction(func(tx *gorm.DB) error { return tx.Model(&Widget{ID: 1}).Update("price", 15).Error })
	}, entries: 1, action: auditlog.ActionUpdate,
		path: map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		// SQLite: in a savepoint and its release.
		extra: map[string]int{"": 2, "sqlite": 4, "postgres": 0, "postgres-separate-entries": 1, "mysql": 3}},
	{name: "failed create in the caller's transaction", fails: true, run: func(db *gorm.DB) error {
		return db.Transaction(func(tx *gorm.DB) error { return tx.Create(&Widget{ID: 1, Name: "dup"}).Error })
	}, entries: 0, action: auditlog.ActionCreate,
		path: map[string]auditgorm.Path{"": auditgorm.PathReturning, "postgres": auditgorm.PathInStatement, "mysql": auditgorm.PathReadBack},
		// SQLite: savepoint, rollback to it, release; PostgreSQL: the
		// statement that aborts the caller's transaction.
		extra: map[string]int{"": 0, "sqlite": 3, "postgres": 1, "postgres-separate-entries": 1, "postgres-separate-preselect": 1}},
}

// Widget is Gadget without a repr.
type Widget struct {
	ID        uint
	Name      string `gorm:"uniqueIndex;size:64"`
	Price     int
	DeletedAt gorm.DeletedAt
	Parts     []Part `gorm:"many2many:widget_parts"`
}

// Config.Hooks report every capture path with the entries the table holds
// and the statements the connection pool saw.
func TestHooksReportEveryPath(t *testing.T) {
	for _, v := range hookVariants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, v.db)
			rec := &hookRecorder{}
			cfg := v.cfg
			cfg.Registry = auditlog.NewRegistry()
			cfg.Hooks = rec
			must(t, db.Use(auditgorm.New(cfg)))
			must(t, db.AutoMigrate(&Widget{}, &Gadget{}, &Part{}, &Memo{}))
			must(t, cfg.Registry.Register(&Widget{}, auditlog.M2M("Parts")))
			must(t, cfg.Registry.Register(&Gadget{}))
			must(t, cfg.Registry.Register(&Memo{}))
			// The unique indexes an upsert reads once per table, before
			// the steady state the counts are of.
			auditgorm.KeepCatalogReads(db)
			must(t, auditgorm.ReadUniqueIndexes(db, "widgets", "gadgets", "parts", "memos"))
			// Every statement the pool sees during a call runs with the
			// context StatementStart returned, or is GORM's own outside the
			// audited statements.
			var (
				mu        sync.Mutex
				unhooked  int
				observing bool
			)
			counter.BeforeStatement(func(ctx context.Context, query string) {
				mu.Lock()
				defer mu.Unlock()
				if observing && ctx.Value(hookCall{}) == nil {
					unhooked++
					t.Logf("statement outside the hooks' context: %.80s", query)
				}
			})
			for _, c := range hookCases {
				if contains(c.skip, v.name) || contains(c.skip, v.db) {
					continue
				}
				seedHookTables(t, db)
				rec.take()
				before := countEntries(t, db)
				n0 := counter.Load()
				mu.Lock()
				observing, unhooked = true, 0
				mu.Unlock()
				err := c.run(db)
				mu.Lock()
				observing = false
				outside := unhooked
				mu.Unlock()
				sent := counter.Load() - n0
				written := countEntries(t, db) - before
				ends, starts, lost := rec.take()
				if (err != nil) != c.fails {
					t.Errorf("%s: error %v, want failure %v", c.name, err, c.fails)
					continue
				}
				calls := max(c.calls, 1)
				if starts != calls || len(ends) != calls || lost != 0 {
					t.Errorf("%s: %d starts, %d ends (%d without the start's context), want %d each", c.name, starts, len(ends), lost, calls)
					continue
				}
				if outside != 0 {
					t.Errorf("%s: %d statements ran outside the context StatementStart returned", c.name, outside)
				}
				var entries int64
				extra := 0
				for _, e := range ends {
					entries += e.Entries
					extra += e.ExtraStatements
					if e.Duration <= 0 || e.Overhead < 0 || e.Overhead > e.Duration {
						t.Errorf("%s: duration %v, overhead %v", c.name, e.Duration, e.Overhead)
					}
					if (e.Err != nil) != c.fails {
						t.Errorf("%s: the hook saw error %v, want failure %v", c.name, e.Err, c.fails)
					}
					if e.Action != c.action {
						t.Errorf("%s: action %v, want %v", c.name, e.Action, c.action)
					}
					want := c.model
					if want == "" {
						want = "widgets"
					}
					if e.Model != want {
						t.Errorf("%s: model %q, want %q", c.name, e.Model, want)
					}
					if p, ok := byVariant(c.path, v.name); !ok || e.Path != p {
						t.Errorf("%s: path %q, want %q", c.name, e.Path, p)
					}
				}
				// Entries: what the table holds now.
				if entries != written || entries != c.entries {
					t.Errorf("%s: the hooks report %d entries, the table has %d more, want %d", c.name, entries, written, c.entries)
				}
				// Statements: what the path must run, and what the pool saw
				// beyond GORM's own (plus the plugin's BEGIN and COMMIT,
				// which it does not see).
				gormSent := calls
				if c.gorm != nil {
					gormSent = *c.gorm
				}
				if counted := int(sent) - gormSent + c.own; extra != counted {
					t.Errorf("%s: the hooks report %d extra statements, the pool counted %d", c.name, extra, counted)
				}
				if want, ok := byVariant(c.extra, v.name); !ok || extra != want {
					t.Errorf("%s: %d extra statements, want %d", c.name, extra, want)
				}
			}
		})
	}
}

// seedHookTables empties the tables and writes 40 widgets (key and price
// 1…40), a gadget, two parts, a pair for widget 8 and a memo, unaudited.
func seedHookTables(t *testing.T, db *gorm.DB) {
	t.Helper()
	q := db.WithContext(auditlog.Disable(context.Background())).Session(&gorm.Session{AllowGlobalUpdate: true})
	must(t, q.Exec("DELETE FROM widget_parts").Error)
	must(t, q.Unscoped().Delete(&Widget{}).Error)
	must(t, q.Unscoped().Delete(&Gadget{}).Error)
	must(t, q.Delete(&Part{}).Error)
	must(t, q.Delete(&Memo{}).Error)
	ws := make([]Widget, 40)
	for i := range ws {
		ws[i] = Widget{ID: uint(i + 1), Name: fmt.Sprint("w", i+1), Price: i + 1}
	}
	must(t, q.Create(&ws).Error)
	must(t, q.Create(&Gadget{ID: 1, Name: "g1", Price: 1}).Error)
	must(t, q.Create(&[]Part{{ID: 1, Name: "p1"}, {ID: 2, Name: "p2"}}).Error)
	must(t, q.Exec("INSERT INTO widget_parts (widget_id, part_id) VALUES (8, 1)").Error)
	must(t, q.Create(&Memo{ID: 1, Body: "short"}).Error)
}

func countEntries(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var n int64
	must(t, db.Table("auditlog_entries").Count(&n).Error)
	return n
}

// The hooks report a statement whose transaction is then rolled back with
// the entries it wrote: they see the statement, not its transaction.
func TestHooksRolledBackTransaction(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		rec := &hookRecorder{}
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
		must(t, db.AutoMigrate(&Gadget{}, &Part{}))
		must(t, reg.Register(&Gadget{}))
		err := db.Transaction(func(tx *gorm.DB) error {
			must(t, tx.Create(&Gadget{ID: 1, Name: "a"}).Error)
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatal(err)
		}
		ends, _, _ := rec.take()
		if len(ends) != 1 || ends[0].Entries != 1 || ends[0].Err != nil {
			t.Fatalf("ends %+v", ends)
		}
		if n := countEntries(t, db); n != 0 {
			t.Fatalf("%d entries after the rollback", n)
		}
	})
}

// A hook that panics fails its statement and leaves no transaction, lock
// or connection behind; the write and its entries commit together or not
// at all.
func TestHooksPanicLeaksNothing(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		rec := &hookRecorder{}
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
		must(t, db.AutoMigrate(&Gadget{}, &Part{}))
		must(t, reg.Register(&Gadget{}))
		sqlDB, err := db.DB()
		must(t, err)
		sqlDB.SetMaxOpenConns(2)
		must(t, db.WithContext(auditlog.Disable(context.Background())).Create(&Gadget{ID: 1, Name: "a", Price: 1}).Error)
		own := db.Session(&gorm.Session{SkipDefaultTransaction: true})
		for i, c := range []struct {
			name       string
			start, end bool
			run        func() error
			committed  bool // the write and its entry stay
		}{
			{name: "start, default transaction", start: true, run: func() error { return db.Model(&Gadget{ID: 1}).Update("price", 2).Error }},
			{name: "start, own transaction", start: true, run: func() error { return own.Model(&Gadget{ID: 1}).Update("price", 3).Error }},
			{name: "end, default transaction", end: true, run: func() error { return db.Model(&Gadget{ID: 1}).Update("price", 4).Error }},
			{name: "end, caller's transaction rolled back", end: true, run: func() error {
				return db.Transaction(func(tx *gorm.DB) error { return tx.Model(&Gadget{ID: 1}).Update("price", 5).Error })
			}},
			{name: "end, own transaction", end: true, committed: true, run: func() error { return own.Model(&Gadget{ID: 1}).Update("price", 6).Error }},
			{name: "end, Log", end: true, run: func() error {
				return db.Transaction(func(tx *gorm.DB) error {
					return auditgorm.Log(context.Background(), tx, auditgorm.Record{Action: auditlog.ActionAccess, Model: "gadgets", PK: "1"})
				})
			}},
		} {
			before := countEntries(t, db)
			var g Gadget
			must(t, db.First(&g, 1).Error)
			rec.mu.Lock()
			rec.panicStart, rec.panicEnd = c.start, c.end
			rec.mu.Unlock()
			err := c.run()
			rec.mu.Lock()
			rec.panicStart, rec.panicEnd = false, false
			rec.mu.Unlock()
			if err == nil || !strings.Contains(err.Error(), "panicked") {
				t.Fatalf("%s: error %v", c.name, err)
			}
			if c.committed != strings.Contains(err.Error(), "committed") {
				t.Errorf("%s: %v", c.name, err)
			}
			if st := sqlDB.Stats(); st.InUse != 0 {
				t.Fatalf("%s: %d connections in use", c.name, st.InUse)
			}
			// No lock is left: another write of the row goes through.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			must(t, db.WithContext(auditlog.Disable(ctx)).Model(&Gadget{}).Where("id = ?", 1).Update("name", fmt.Sprint("a", i)).Error)
			cancel()
			var after Gadget
			must(t, db.First(&after, 1).Error)
			changed, entry := after.Price != g.Price, countEntries(t, db) != before
			if changed != c.committed || entry != c.committed {
				t.Errorf("%s: row changed %v, entry written %v, want %v", c.name, changed, entry, c.committed)
			}
		}
		ends, _, _ := rec.take()
		if len(ends) != 4 {
			t.Errorf("%d ends, want one per statement that started", len(ends))
		}
	})
}

// Explosive's repr panics when its fuse is lit, inside the plugin.
type Explosive struct {
	ID  uint
	Lit bool
}

func (e Explosive) String() string {
	if e.Lit {
		panic("fuse")
	}
	return "quiet"
}

// StatementEnd sees a statement that panics inside the plugin, and the
// panic goes on.
func TestHooksSeeAPanickingStatement(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		rec := &hookRecorder{}
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
		must(t, db.AutoMigrate(&Explosive{}))
		must(t, reg.Register(&Explosive{}))
		var recovered any
		func() {
			defer func() { recovered = recover() }()
			_ = db.Session(&gorm.Session{SkipDefaultTransaction: true}).Create(&Explosive{ID: 1, Lit: true}).Error
		}()
		if recovered != "fuse" {
			t.Fatalf("recovered %v", recovered)
		}
		ends, _, lost := rec.take()
		if len(ends) != 1 || !errors.Is(ends[0].Err, auditgorm.ErrStatementPanicked) || lost != 0 {
			t.Fatalf("ends %+v", ends)
		}
		must(t, db.Create(&Explosive{ID: 2}).Error)
		if n := countEntries(t, db); n != 1 {
			t.Fatalf("%d entries", n)
		}
	})
}

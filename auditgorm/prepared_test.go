package auditgorm_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// preparedWrites writes n counters, each created and updated in GORM's
// own transactions, with a deadline: a capture that waited for a second
// connection of a one-connection pool would wait for ever.
func preparedWrites(t *testing.T, db *gorm.DB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		c := Counter{N: i}
		must(t, db.WithContext(ctx).Create(&c).Error)
		must(t, db.WithContext(ctx).Model(&c).Update("n", i+1000).Error)
	}
}

func hasText(texts []string, prefix string) bool {
	for _, s := range texts {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestPreparedOwnStatements: on SQLite the entries' INSERT and the read
// before an update are prepared once a write's transaction has given its
// connection back, then reused by later writes, in GORM's transactions and
// in a caller's, on a pool of one connection too; the entries are the
// same. On MySQL nothing is prepared.
func TestPreparedOwnStatements(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "postgres" {
			continue // pgx caches statements itself
		}
		for _, conns := range []int{1, 0} {
			t.Run(name+"/conns="+map[int]string{1: "1", 0: "default"}[conns], func(t *testing.T) {
				t.Parallel()
				db := testdb.Open(t, name)
				sqlDB, err := db.DB()
				must(t, err)
				p := preparedDB(t, db, conns)
				texts := auditgorm.PreparedTexts(p)
				// Not on MySQL, where a prepared read comes back in the
				// binary protocol (DESIGN.md).
				prepares := name == "sqlite"
				if hasText(texts, "INSERT INTO "+auditstore.Table) != prepares || hasText(texts, "SELECT ") != prepares {
					t.Fatalf("prepared: %q; want the entries' INSERT and the read before an update: %v", texts, prepares)
				}
				preparedWrites(t, db, 3)
				// In a caller's transaction, committed and rolled back.
				must(t, db.Transaction(func(tx *gorm.DB) error {
					c := Counter{N: 1}
					if err := tx.Create(&c).Error; err != nil {
						return err
					}
					return tx.Model(&c).Update("n", 2).Error
				}))
				errRollback := errors.New("roll back")
				if err := db.Transaction(func(tx *gorm.DB) error {
					c := Counter{N: 1}
					if err := tx.Create(&c).Error; err != nil {
						return err
					}
					return errRollback
				}); !errors.Is(err, errRollback) {
					t.Fatal(err)
				}
				es := expectCount(t, db, 2*3+2*3+2)
				var ns []string
				for _, e := range es {
					ns = append(ns, e.Action.String()+" "+e.ObjectPK+" "+changesText(t, e))
				}
				want := []string{}
				for i := 0; i < 6; i++ {
					id := strconv.Itoa(i + 1)
					want = append(want, "create "+id+` {"id":[null,`+id+`],"n":[null,`+strconv.Itoa(i%3)+`]}`,
						"update "+id+` {"n":[`+strconv.Itoa(i%3)+`,`+strconv.Itoa(i%3+1000)+`]}`)
				}
				want = append(want, `create 7 {"id":[null,7],"n":[null,1]}`, `update 7 {"n":[1,2]}`)
				if strings.Join(ns, "\n") != strings.Join(want, "\n") {
					t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(ns, "\n"), strings.Join(want, "\n"))
				}
				if name == "sqlite" {
					// Batches go as INSERTs of a few fixed sizes, prepared
					// too: 300 entries as 256 + 2 × 16 + 3 × 4 rows (every
					// SQLite the drivers hold is 3.32 or later, of 32,766
					// bind variables); through glebarez, which binds many
					// variables slowly, as one JSON document.
					rungs := testdb.SQLiteDriver(t).Name != sqlitedriver.Glebarez
					batch := func() []Counter {
						cs := make([]Counter, 300)
						for i := range cs {
							cs[i].N = 5000 + i
						}
						must(t, db.Create(&cs).Error)
						return cs
					}
					batch()
					texts := auditgorm.PreparedTexts(p)
					if got := hasRows(texts, 256) && hasRows(texts, 4); got != rungs {
						t.Fatalf("batch INSERTs of 256 and 4 rows prepared: %v, want %v (%d texts)", got, rungs, len(texts))
					}
					cs := batch()
					es := entries(t, db)
					es = es[len(es)-300:]
					for i, e := range es {
						want := fmt.Sprintf(`{"id":[null,%d],"n":[null,%d]}`, cs[i].ID, 5000+i)
						if e.ObjectPK != strconv.Itoa(int(cs[i].ID)) || changesText(t, e) != want {
							t.Fatalf("entry %d of the batch: %s %s, want %d %s", i, e.ObjectPK, changesText(t, e), cs[i].ID, want)
						}
					}
				}
				if st := sqlDB.Stats(); conns == 1 && st.OpenConnections != 1 {
					t.Fatalf("%d connections open on a pool of one", st.OpenConnections)
				}
			})
		}
	}
}

// hasRows reports whether texts hold an entries INSERT of n rows.
func hasRows(texts []string, n int) bool {
	for _, s := range texts {
		if strings.HasPrefix(s, "INSERT INTO "+auditstore.Table) && strings.Count(s, "),(")+1 == n {
			return true
		}
	}
	return false
}

func changesText(t *testing.T, e auditlog.Entry) string {
	t.Helper()
	b, err := json.Marshal(e.Changes)
	must(t, err)
	return string(b)
}

// TestPreparedMemoryDatabaseKeepsOneConnection: preparing the plugin's
// statements never makes the pool open a connection of its own. On
// "file::memory:" each connection is a database of its own, empty: a
// second one would take the application's next statement to a database
// without its tables.
func TestPreparedMemoryDatabaseKeepsOneConnection(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.SQLiteDrivers(t) {
		t.Run(d.Name, func(t *testing.T) {
			db := testdb.OpenSQLiteWith(t, d, ":memory:", nil)
			sqlDB, err := db.DB()
			must(t, err)
			must(t, auditstore.Migrate(context.Background(), sqlDB, auditstore.SQLite))
			p := preparedDB(t, db, 0)
			preparedWrites(t, db, 17)
			if texts := auditgorm.PreparedTexts(p); !hasText(texts, "INSERT INTO "+auditstore.Table) {
				t.Fatalf("the entries' INSERT is not prepared; prepared: %q", texts)
			}
			if n := sqlDB.Stats().OpenConnections; n != 1 {
				t.Fatalf("%d connections open to a memory database", n)
			}
			expectCount(t, db, 40)
		})
	}
}

// preparedDB installs the plugin on db with Counter audited, on a pool of
// conns connections (0: no limit), and writes three counters, each created
// and updated in GORM's own transactions, which prepares the plugin's
// statements on SQLite.
func preparedDB(t *testing.T, db *gorm.DB, conns int) *auditgorm.Plugin {
	t.Helper()
	p := auditedPool(t, db, conns, func(reg *auditlog.Registry) error { return reg.Register(&Counter{}) }, &Counter{})
	preparedWrites(t, db, 3)
	return p
}

// auditedPool installs the plugin on db, on a pool of conns connections
// (0: no limit), with the models register registers, and migrates models.
func auditedPool(t *testing.T, db *gorm.DB, conns int, register func(*auditlog.Registry) error, models ...any) *auditgorm.Plugin {
	t.Helper()
	sqlDB, err := db.DB()
	must(t, err)
	sqlDB.SetMaxOpenConns(conns)
	reg := auditlog.NewRegistry()
	must(t, register(reg))
	p := auditgorm.New(auditgorm.Config{Registry: reg})
	must(t, db.Use(p))
	must(t, db.AutoMigrate(models...))
	return p
}

// TestPreparedStatementsAreUsed: once prepared, the entries' INSERT, the
// read before an update and the application's writes the plugin runs
// itself run as the pool's statements (the counting pool is told of each),
// and each counts as one statement.
func TestPreparedStatementsAreUsed(t *testing.T) {
	t.Parallel()
	db, counter := testdb.OpenCounting(t, "sqlite")
	p := preparedDB(t, db, 1)
	if texts := auditgorm.PreparedTexts(p); !hasText(texts, "INSERT INTO `counters`") || !hasText(texts, "UPDATE `counters`") {
		t.Fatalf("the application's INSERT and UPDATE are not prepared; prepared: %q", texts)
	}
	p0, n0 := counter.Prepared(), counter.Load()
	preparedWrites(t, db, 5)
	// Per pair: the create's INSERT … RETURNING, its entry; the update's
	// read, UPDATE … RETURNING, its entry.
	if got := counter.Prepared() - p0; got != 25 {
		t.Fatalf("%d statements ran prepared, want 25 (all five per create and update)", got)
	}
	if got := counter.Load() - n0; got != 25 {
		t.Fatalf("%d statements, want 25", got)
	}
}

// TestPreparedHandlesOfALongTransaction: a caller's transaction of many
// audited writes holds a handle per prepared text, not one per run
// (database/sql keeps every handle a transaction made until it ends).
func TestPreparedHandlesOfALongTransaction(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	preparedDB(t, db, 1)
	c := Counter{N: 0}
	must(t, db.Create(&c).Error)
	must(t, db.Transaction(func(tx *gorm.DB) error {
		for i := 1; i <= 500; i++ {
			if err := tx.Model(&c).Update("n", i).Error; err != nil {
				return err
			}
		}
		sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			t.Fatalf("the transaction's pool is a %T", tx.Statement.ConnPool)
		}
		// database/sql's list of the transaction's statements.
		if n := reflect.ValueOf(sqlTx).Elem().FieldByName("stmts").FieldByName("v").Len(); n > 4 {
			t.Fatalf("the transaction holds %d statement handles after 500 updates", n)
		}
		return nil
	}))
	expectCount(t, db, 2*3+1+500)
}

// TestPreparedWithDBResolver: dbresolver sends a read that is not in a
// transaction to a pool of its choosing; the plugin's reads, prepared,
// stay in the write's transaction (before, on a pool of one connection
// the read waited for ever for the connection its own transaction held,
// and in a caller's transaction it did not see the row the transaction
// had just written, so the update matched nothing).
func TestPreparedWithDBResolver(t *testing.T) {
	t.Parallel()
	for _, conns := range []int{1, 0} {
		t.Run(strconv.Itoa(conns), func(t *testing.T) {
			db := testdb.Open(t, "sqlite")
			must(t, db.Use(dbresolver.Register(dbresolver.Config{})))
			preparedDB(t, db, conns)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var c Counter
			var affected int64
			must(t, db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				c = Counter{N: 1}
				if err := tx.Create(&c).Error; err != nil {
					return err
				}
				r := tx.Model(&c).Update("n", 2)
				affected = r.RowsAffected
				return r.Error
			}))
			must(t, db.WithContext(ctx).Model(&c).Update("n", 3).Error)
			var got Counter
			must(t, db.First(&got, c.ID).Error)
			if affected != 1 || got.N != 3 {
				t.Fatalf("the update in the transaction changed %d rows; n is %d, want 3", affected, got.N)
			}
			es := expectCount(t, db, 2*3+3)
			for i, want := range []string{`{"id":[null,` + strconv.Itoa(int(c.ID)) + `],"n":[null,1]}`, `{"n":[1,2]}`, `{"n":[2,3]}`} {
				if got := changesText(t, es[len(es)-3+i]); got != want {
					t.Fatalf("entry %d: %s, want %s", i, got, want)
				}
			}
		})
	}
}

// tracingPool is an application's connection pool wrapper that sees, and
// marks with a comment, every statement of its transactions: it does not
// ask to be told of runs of its pool's prepared statements (RanPrepared).
type tracingPool struct {
	*sql.DB
	seen *[]string
}

func (p *tracingPool) BeginTx(ctx context.Context, o *sql.TxOptions) (gorm.ConnPool, error) {
	tx, err := p.DB.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return &tracingTx{Tx: tx, db: p.DB, seen: p.seen}, nil
}

func (p *tracingPool) GetDBConn() (*sql.DB, error) { return p.DB, nil }

type tracingTx struct {
	*sql.Tx
	db   *sql.DB
	seen *[]string
}

func (t *tracingTx) GetDBConn() (*sql.DB, error) { return t.db, nil }

func (t *tracingTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	*t.seen = append(*t.seen, q)
	return t.Tx.ExecContext(ctx, "/* traced */ "+q, args...)
}

func (t *tracingTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	*t.seen = append(*t.seen, q)
	return t.Tx.QueryContext(ctx, "/* traced */ "+q, args...)
}

// TestPreparedNotAroundAWrapper: a prepared run goes around a connection
// pool wrapper's ExecContext and QueryContext, so through a wrapper that
// does not ask to be told of such runs nothing is prepared: it sees every
// statement, the application's writes and the plugin's own, every time.
func TestPreparedNotAroundAWrapper(t *testing.T) {
	t.Parallel()
	base, dsn := testdb.OpenWithDSN(t, "sqlite")
	sqlDB, err := base.DB()
	must(t, err)
	var seen []string
	db, err := gorm.Open(testdb.Dialector(t, "sqlite", &tracingPool{DB: sqlDB, seen: &seen}, dsn), &gorm.Config{})
	must(t, err)
	p := preparedDB(t, db, 1)
	seen = nil
	preparedWrites(t, db, 10)
	count := func(prefix string) int {
		n := 0
		for _, q := range seen {
			if strings.HasPrefix(q, prefix) {
				n++
			}
		}
		return n
	}
	for prefix, want := range map[string]int{"INSERT INTO `counters`": 10, "UPDATE `counters`": 10, "SELECT ": 10, "INSERT INTO " + auditstore.Table: 20} {
		if got := count(prefix); got != want {
			t.Errorf("the wrapper saw %d statements %q…, want %d", got, prefix, want)
		}
	}
	if texts := auditgorm.PreparedTexts(p); len(texts) != 0 {
		t.Fatalf("prepared around the wrapper: %q", texts)
	}
	expectCount(t, db, 2*3+2*10)
}

// TestPreparedOnlyWhatRepeats: statements run once (an IN list of each
// length, literals in a condition) and statements that fail are not
// prepared and take no place from those that repeat.
func TestPreparedOnlyWhatRepeats(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	p := auditedPool(t, db, 1, func(reg *auditlog.Registry) error {
		return errors.Join(reg.Register(&Counter{}), reg.Register(&Stamped{}))
	}, &Counter{}, &Stamped{})
	var ids []uint
	for i := 0; i < 80; i++ {
		c := Counter{N: i}
		must(t, db.Create(&c).Error)
		ids = append(ids, c.ID)
	}
	for k := 1; k <= 80; k++ {
		must(t, db.Model(&Counter{}).Where("id IN ?", ids[:k]).Update("n", k).Error)
	}
	for i := 0; i < 50; i++ {
		// Fails: no such column.
		if err := db.Model(&Counter{}).Where(fmt.Sprintf("n <> %d", 1000+i)).Update("n", gorm.Expr("nosuch + 1")).Error; err == nil {
			t.Fatal("an update of a column that does not exist succeeded")
		}
	}
	for i := 0; i < 3; i++ {
		must(t, db.Create(&Stamped{Title: "t"}).Error)
	}
	texts := auditgorm.PreparedTexts(p)
	if !hasText(texts, "INSERT INTO `stampeds`") {
		t.Fatalf("the repeated INSERT is not prepared; prepared: %q", texts)
	}
	for _, s := range texts {
		if strings.Contains(s, " IN (") || strings.Contains(s, "nosuch") {
			t.Fatalf("prepared a text run once: %q", s)
		}
	}
	if n := auditgorm.PreparedTried(p); n != 0 {
		t.Fatalf("%d texts failed to prepare", n)
	}
}

// TestPreparedJoinRows: a many-to-many append's and delete's join-row
// statements, which GORM builds and the plugin runs in the write's
// transaction, run prepared once their text repeats, and the entries are
// those of unprepared runs.
func TestPreparedJoinRows(t *testing.T) {
	t.Parallel()
	db, counter := testdb.OpenCounting(t, "sqlite")
	p := auditedPool(t, db, 1, func(reg *auditlog.Registry) error { return reg.Register(&Gadget{}, auditlog.M2M("Parts")) }, &Gadget{}, &Part{})
	g := Gadget{Name: "g"}
	must(t, db.Create(&g).Error)
	parts := make([]Part, 8)
	for i := range parts {
		parts[i] = Part{Name: fmt.Sprint("p", i)}
	}
	must(t, db.Create(&parts).Error)
	link := func(i int) {
		must(t, db.Model(&Gadget{ID: g.ID}).Association("Parts").Append(&Part{ID: parts[i].ID}))
	}
	unlink := func(i int) {
		must(t, db.Model(&Gadget{ID: g.ID}).Association("Parts").Delete(&Part{ID: parts[i].ID}))
	}
	for i := 0; i < 3; i++ {
		link(i)
		unlink(i)
	}
	texts := auditgorm.PreparedTexts(p)
	if !hasText(texts, "INSERT INTO `gadget_parts`") || !hasText(texts, "DELETE FROM `gadget_parts`") {
		t.Fatalf("the join rows' INSERT and DELETE are not prepared; prepared: %q", texts)
	}
	p0 := counter.Prepared()
	for i := 3; i < 8; i++ {
		link(i)
		unlink(i)
	}
	// Per append: the reads of the part and the gadget (for their reprs),
	// the join rows' INSERT … RETURNING, the entry; per delete, the read of
	// the join rows too.
	if got := counter.Prepared() - p0; got != 5*(4+5) {
		t.Fatalf("%d statements ran prepared, want %d: %q", got, 5*(4+5), auditgorm.PreparedTexts(p))
	}
	es := entries(t, db)
	es = es[len(es)-16:]
	for i, e := range es {
		op, part := "add", parts[i/2].ID
		if i%2 == 1 {
			op = "remove"
		}
		want := fmt.Sprintf(`{"parts":{"type":"m2m","operation":"%s","objects":["p%d"],"keys":["%d"]}}`, op, i/2, part)
		if got := changesText(t, e); e.ObjectPK != fmt.Sprint(g.ID) || got != want {
			t.Fatalf("entry %d: %s %s, want %s", i, e.ObjectPK, got, want)
		}
	}
}

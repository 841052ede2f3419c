package auditgorm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

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

// TestPreparedOwnStatements: on SQLite and MySQL the entries' INSERT (and
// on SQLite the read before an update) is prepared once a write's
// transaction has given its connection back, then reused by later writes,
// in GORM's transactions and in a caller's, on a pool of one connection
// too; the entries are the same.
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
				sqlDB.SetMaxOpenConns(conns)
				reg := auditlog.NewRegistry()
				must(t, reg.Register(&Counter{}))
				p := auditgorm.New(auditgorm.Config{Registry: reg})
				must(t, db.Use(p))
				must(t, db.AutoMigrate(&Counter{}))
				preparedWrites(t, db, 3)
				texts := auditgorm.PreparedTexts(p)
				if !hasText(texts, "INSERT INTO "+auditstore.Table) {
					t.Fatalf("the entries' INSERT is not prepared; prepared: %q", texts)
				}
				if name == "sqlite" && !hasText(texts, "SELECT ") {
					t.Fatalf("the read before an update is not prepared; prepared: %q", texts)
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
					// too: 300 entries as 256 + 4 × 11 rows; through
					// glebarez, which binds many variables slowly, as one
					// JSON document.
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
					if texts := auditgorm.PreparedTexts(p); rungs != (hasRows(texts, 256) && hasRows(texts, 4)) {
						t.Fatalf("batch INSERTs of 256 and 4 rows prepared: %v, want %v (%d texts)", !rungs, rungs, len(texts))
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
			reg := auditlog.NewRegistry()
			must(t, reg.Register(&Counter{}))
			p := auditgorm.New(auditgorm.Config{Registry: reg})
			must(t, db.Use(p))
			must(t, db.AutoMigrate(&Counter{}))
			preparedWrites(t, db, 20)
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

package auditgorm_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// unchanged asserts that b's row still holds title "kept" and that the log
// has exactly n entries.
func unchanged(t *testing.T, db *gorm.DB, id uint, n int) {
	t.Helper()
	var got Book
	must(t, db.Unscoped().First(&got, id).Error)
	if got.Title != "kept" || got.DeletedAt.Valid {
		t.Fatalf("row changed without its entry: %+v", got)
	}
	expectCount(t, db, n)
}

var readOnlyTrigger = map[string][]string{
	"sqlite": {`CREATE TRIGGER auditlog_ro BEFORE INSERT ON auditlog_entries BEGIN SELECT RAISE(ABORT, 'audit log is read-only'); END`},
	"postgres": {`CREATE FUNCTION auditlog_ro() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit log is read-only'; END $$ LANGUAGE plpgsql`,
		`CREATE TRIGGER auditlog_ro BEFORE INSERT ON auditlog_entries FOR EACH ROW EXECUTE FUNCTION auditlog_ro()`},
	"mysql": {`CREATE TRIGGER auditlog_ro BEFORE INSERT ON auditlog_entries FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit log is read-only'`},
}

type cancelKey struct{}

// TestFaults: a read-only entries table, a context cancelled between the
// pre-select and the write, a terminated PostgreSQL backend and a
// serialization failure each give the caller an error and leave neither a
// change without its entry nor an entry without its change.
func TestFaults(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		name := db.Dialector.Name()
		reg := setup(t, db, &Book{}, &Counter{})
		must(t, reg.Register(&Book{}))
		must(t, reg.Register(&Counter{}))
		b := Book{Title: "kept"}
		must(t, db.Create(&b).Error)

		t.Run("read-only entries table", func(t *testing.T) {
			for _, stmt := range readOnlyTrigger[name] {
				must(t, db.Exec(stmt).Error)
			}
			for _, write := range []func() error{
				func() error { return db.Create(&Book{Title: "new"}).Error },
				func() error { return db.Model(&b).Update("title", "changed").Error },
				func() error { return db.Delete(&b).Error },
			} {
				if err := write(); err == nil || !strings.Contains(err.Error(), "read-only") {
					t.Fatalf("write error %v, want the trigger's", err)
				}
			}
			drop := "DROP TRIGGER auditlog_ro"
			if name == "postgres" {
				drop += " ON auditlog_entries"
			}
			must(t, db.Exec(drop).Error)
			var n int64
			must(t, db.Model(&Book{}).Count(&n).Error)
			if n != 1 {
				t.Fatalf("%d books", n)
			}
			unchanged(t, db, b.ID, 1)
		})

		t.Run("context cancelled mid-write", func(t *testing.T) {
			must(t, db.Callback().Update().Before("gorm:update").Register("test:cancel", func(tx *gorm.DB) {
				if cancel, ok := tx.Statement.Context.Value(cancelKey{}).(context.CancelFunc); ok {
					cancel() // after the plugin's pre-select and before the UPDATE
				}
			}))
			ctx, cancel := context.WithCancel(context.Background())
			err := db.WithContext(context.WithValue(ctx, cancelKey{}, cancel)).Model(&b).Update("title", "changed").Error
			// GORM joins later errors (the failed rollback) onto the first as
			// text, so look for it by its message.
			if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			must(t, db.Callback().Update().Remove("test:cancel"))
			unchanged(t, db, b.ID, 1)
		})

		if name != "postgres" {
			return
		}
		t.Run("backend terminated during a transaction", func(t *testing.T) {
			tx := db.Begin()
			var pid int
			must(t, tx.Raw("SELECT pg_backend_pid()").Scan(&pid).Error)
			must(t, tx.Model(&b).Update("title", "changed").Error) // the entry is written in tx
			must(t, db.Exec("SELECT pg_terminate_backend(?)", pid).Error)
			if err := tx.Commit().Error; err == nil {
				t.Fatal("commit on a terminated backend succeeded")
			}
			unchanged(t, db, b.ID, 1)
		})

		t.Run("serialization failure", func(t *testing.T) {
			c := Counter{N: 1}
			must(t, db.Create(&c).Error)
			before := len(entries(t, db))
			t1 := db.Begin(&sqlTxSerializable)
			t2 := db.Begin(&sqlTxSerializable)
			var a, b2 Counter
			must(t, t1.First(&a, c.ID).Error)
			must(t, t2.First(&b2, c.ID).Error)
			must(t, t1.Model(&a).Update("n", a.N+10).Error)
			must(t, t1.Commit().Error)
			err := t2.Model(&b2).Update("n", b2.N+100).Error
			if err == nil {
				err = t2.Commit().Error
			} else {
				t2.Rollback()
			}
			var pg *pgconn.PgError
			if !errors.As(err, &pg) || pg.Code != "40001" {
				t.Fatalf("second writer: %v, want a serialization failure", err)
			}
			var got Counter
			must(t, db.First(&got, c.ID).Error)
			es := entries(t, db)[before:]
			if got.N != 11 || len(es) != 1 || string(es[0].Changes["n"].New) != "11" {
				t.Fatalf("counter %d with %d entries", got.N, len(es))
			}
		})
	})
}

// Masked values never reach the database in clear text: the raw bytes of
// the SQLite file and the PostgreSQL entries table hold only masked forms.
func TestMaskedFieldsNeverStoredInClear(t *testing.T) {
	type Card struct {
		ID     uint
		Holder string
		Number string
	}
	secrets := []string{"TOPSECRET-4111-1111-1111-1111", "TOPSECRET-5500-0000-0000-0004"}
	check := func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Card{})
		must(t, reg.Register(&Card{}, auditlog.Mask("Number"), auditlog.Snapshot()))
		c := Card{Holder: "Dana", Number: secrets[0]}
		must(t, db.Create(&c).Error)
		must(t, db.Model(&c).Update("number", secrets[1]).Error)
		must(t, db.Unscoped().Delete(&c).Error)
		expectCount(t, db, 3)
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		for f, raw := range sqliteFiles(t, func(db *gorm.DB) { check(t, db) }) {
			for _, s := range secrets {
				if bytes.Contains(raw, []byte(s)) {
					t.Fatalf("%s holds the clear secret %q", f, s)
				}
			}
			if strings.HasSuffix(f, ".db") && !bytes.Contains(raw, []byte("1111")) {
				t.Fatalf("%s holds no masked value at all", f)
			}
		}
	})
	if !contains(testdb.Names(), "postgres") {
		return
	}
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		db := testdb.Open(t, "postgres")
		check(t, db)
		var dump string
		must(t, db.Raw("SELECT string_agg(t::text, '|') FROM auditlog_entries t").Scan(&dump).Error)
		for _, s := range secrets {
			if strings.Contains(dump, s) {
				t.Fatalf("entries table holds the clear secret %q", s)
			}
		}
		if !strings.Contains(dump, "***") {
			t.Fatalf("no masked value in %s", dump)
		}
	})
}

var sqlTxSerializable = sql.TxOptions{Isolation: sql.LevelSerializable}

func migrateSQL(db *sql.DB) error {
	return auditstore.Migrate(context.Background(), db, auditstore.SQLite)
}

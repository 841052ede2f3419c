package auditseal_test

import (
	"context"
	"database/sql/driver"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

func damagedExec(t *testing.T, f *fixture, stmt string) {
	t.Helper()
	ctx := context.Background()
	conn, err := f.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if f.d == auditstore.MySQL {
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ''"); err != nil {
			t.Fatal(err)
		}
		defer conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// A time the readers mark unreadable (MySQL's zero date: "timestamp: the
// zero time"; PostgreSQL's infinity) is sealed, and Verify reports it as
// "entry unreadable", not as something else, and not with a date the
// entry does not hold.
func TestSealUnreadableTimesOnTheServers(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		var bad string
		switch f.d {
		case auditstore.MySQL:
			bad = `'0000-00-00 00:00:00'`
		case auditstore.Postgres:
			bad = `'infinity'`
		default:
			t.Skip("SQLite is covered by TestSealAttackTimeThatIsNoTime")
		}
		f.insert(t, nil, "a", 3)
		damagedExec(t, f, `UPDATE auditlog_entries SET timestamp = `+bad+` WHERE id = 2`)
		s, err := auditstore.New(f.db, f.d)
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Get(context.Background(), 2)
		if err != nil || e.Unreadable == "" {
			t.Fatalf("the reader: %+v, %v", e, err)
		}
		var lastErr error
		for range 3 {
			f.clock.add(time.Minute)
			_, lastErr = f.sealer.Round(context.Background())
		}
		if lastErr != nil {
			t.Fatalf("sealing stopped: %v", lastErr)
		}
		f.sealedOnce(t)
		got := problems(f.verify(t))
		if !strings.Contains(got, "entry unreadable: entry 2") || strings.Contains(got, "0001-01-01") {
			t.Errorf("entry 2 (timestamp %s, which the reader marks %q): Verify reports %q", bad, e.Unreadable, got)
		}
	})
}

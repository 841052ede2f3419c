package auditstore_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Entries hold UTC whatever time zone a MySQL/MariaDB connection parses
// times in (its loc parameter, such as loc=Local on a host that is not on
// UTC): written through one zone, read, filtered, paged and flushed through
// another, an entry keeps its instant.
func TestMySQLTimestampsAreUTCWhateverLoc(t *testing.T) {
	if !slices.Contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	t.Parallel()
	ctx := context.Background()
	_, dsn := testdb.OpenWithDSN(t, "mysql")
	open := func(loc *time.Location) *sql.DB {
		cfg, err := mysqldrv.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Loc = loc
		conn, err := mysqldrv.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(conn)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	west, east := open(time.FixedZone("UTC-5", -5*3600)), open(time.FixedZone("UTC+9", 9*3600))
	utc := open(time.UTC)

	now := time.Now().UTC().Truncate(time.Microsecond)
	old := now.Add(-48 * time.Hour)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ws, err := auditstore.New(west, auditstore.MySQL)
	must(err)
	must(ws.Insert(ctx, []auditlog.Entry{
		{Timestamp: old, Action: auditlog.ActionCreate, Model: "m", ObjectPK: "1", ObjectRepr: "old"},
		{Timestamp: now, Action: auditlog.ActionUpdate, Model: "m", ObjectPK: "1", ObjectRepr: "new"},
	}))
	for name, db := range map[string]*sql.DB{"west": west, "east": east, "utc": utc} {
		s, err := auditstore.New(db, auditstore.MySQL)
		must(err)
		res, err := s.List(ctx, auditstore.Filter{}, auditstore.Page{Limit: 1})
		must(err)
		if len(res.Entries) != 1 || !res.Entries[0].Timestamp.Equal(now) {
			t.Fatalf("%s: newest entry %+v, want timestamp %s", name, res.Entries, now)
		}
		next, err := s.List(ctx, auditstore.Filter{}, auditstore.Page{Limit: 1, Cursor: res.Next})
		must(err)
		if len(next.Entries) != 1 || !next.Entries[0].Timestamp.Equal(old) {
			t.Fatalf("%s: second page %+v, want timestamp %s", name, next.Entries, old)
		}
		for _, c := range []struct {
			f    auditstore.Filter
			want int64
		}{
			{auditstore.Filter{Until: now.Add(-time.Hour)}, 1},
			{auditstore.Filter{Since: now.Add(-time.Hour)}, 1},
			{auditstore.Filter{Since: now, Until: now.Add(time.Microsecond)}, 1},
			{auditstore.Filter{Until: old}, 0},
		} {
			n, err := s.Count(ctx, c.f)
			must(err)
			if n != c.want {
				t.Errorf("%s: %d entries in [%s, %s), want %d", name, n, c.f.Since, c.f.Until, c.want)
			}
		}
	}
	var wall string
	must(utc.QueryRowContext(ctx, "SELECT CAST(timestamp AS CHAR) FROM auditlog_entries WHERE object_repr = 'new'").Scan(&wall))
	if want := now.Format("2006-01-02 15:04:05.000000"); wall != want {
		t.Fatalf("stored %s, want the UTC wall clock %s", wall, want)
	}
	s, err := auditstore.New(east, auditstore.MySQL)
	must(err)
	res, err := s.Flush(ctx, auditstore.FlushOptions{Filter: auditstore.Filter{Until: now.Add(-time.Hour)}})
	must(err)
	if res.Deleted != 1 {
		t.Fatalf("flush of entries older than an hour deleted %d, want 1", res.Deleted)
	}
}

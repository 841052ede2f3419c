package auditstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/pgdsn"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// noSlices is pgx's database/sql driver without its argument checker, so
// database/sql converts arguments itself and refuses Go slices, as it does
// for drivers that take no arrays.
type noSlices struct{}

func (noSlices) Open(dsn string) (driver.Conn, error) {
	c, err := stdlib.GetDefaultDriver().Open(dsn)
	if err != nil {
		return nil, err
	}
	return noSlicesConn{c.(*stdlib.Conn)}, nil
}

type noSlicesConn struct{ c *stdlib.Conn }

func (n noSlicesConn) Prepare(q string) (driver.Stmt, error) { return n.c.Prepare(q) }
func (n noSlicesConn) Close() error                          { return n.c.Close() }
func (n noSlicesConn) Begin() (driver.Tx, error) {
	return n.c.BeginTx(context.Background(), driver.TxOptions{})
}
func (n noSlicesConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return n.c.ExecContext(ctx, q, args)
}
func (n noSlicesConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return n.c.QueryContext(ctx, q, args)
}

func init() { sql.Register("auditstore-test-pgx-no-slices", noSlices{}) }

// A batch of entries reads back the same, in order, through every way an
// application may reach PostgreSQL: pgx (column arrays), pgx with the simple
// protocol (arrays as text), and a driver that takes no slices (the JSON
// batch); batches larger than one statement's share are split.
func TestPostgresBatchInsertEveryDriver(t *testing.T) {
	if !strings.Contains(strings.Join(testdb.Names(), ","), "postgres") {
		t.Skip("no PostgreSQL")
	}
	_, dsn := testdb.OpenWithDSN(t, "postgres")
	simple := dsn + "&default_query_exec_mode=simple_protocol"
	if pgdsn.IsKeywordForm(dsn) {
		simple = dsn + " default_query_exec_mode=simple_protocol"
	} else if !strings.Contains(dsn, "?") {
		simple = dsn + "?default_query_exec_mode=simple_protocol"
	}
	for _, c := range []struct{ name, driver, dsn string }{
		{"pgx", "pgx", dsn}, {"simple_protocol", "pgx", simple}, {"no_slices", "auditstore-test-pgx-no-slices", dsn},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sql.Open(c.driver, c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s, _ := auditstore.New(db, auditstore.Postgres)
			model := "arrays_" + c.name
			at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
			big := strings.Repeat("x", 3<<20) // two such entries exceed one statement's share
			want := make([]auditlog.Entry, 300)
			for i := range want {
				id := int64(i)
				ch, _ := auditlog.NewChange(i, fmt.Sprintf(`"q" \ %d ✓`, i))
				want[i] = auditlog.Entry{Timestamp: at, Action: auditlog.ActionUpdate, Model: model, ObjectPK: fmt.Sprint(i), ObjectID: &id,
					ObjectRepr: fmt.Sprintf("repr {%d}", i), Changes: auditlog.Changes{"f": ch}, AdditionalData: []byte(`{"k":[1,"a"]}`),
					ActorID: "7", ActorName: "Zoë", RemoteAddr: "192.0.2.1", RemotePort: 8080, CorrelationID: "c"}
				if i%3 == 0 {
					want[i].ObjectID, want[i].ObjectPK, want[i].Changes = nil, fmt.Sprintf("key %d", i), nil
					want[i].AdditionalData, want[i].ActorID, want[i].ActorName, want[i].RemoteAddr, want[i].RemotePort, want[i].CorrelationID = nil, "", "", "", 0, ""
				}
			}
			bigData := []byte(`{"k":"` + big + `"}`)
			want[1].AdditionalData, want[2].AdditionalData = bigData, bigData
			if err := s.Insert(ctx, want); err != nil {
				t.Fatal(err)
			}
			var got []auditlog.Entry
			err = s.Each(ctx, auditstore.Filter{Model: model}, func(e auditlog.Entry) error {
				got = append(got, e)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("read %d entries, wrote %d", len(got), len(want))
			}
			// Each reads newest first; equal timestamps: in reverse id
			// order, the reverse of the order written.
			for i, g := range got {
				w := want[len(want)-1-i]
				if !g.Timestamp.Equal(w.Timestamp) || g.ObjectPK != w.ObjectPK || g.ObjectRepr != w.ObjectRepr || (g.ObjectID == nil) != (w.ObjectID == nil) ||
					g.Changes.String() != w.Changes.String() || compact(g.AdditionalData) != compact(w.AdditionalData) || g.ActorID != w.ActorID ||
					g.ActorName != w.ActorName || g.RemoteAddr != w.RemoteAddr || g.RemotePort != w.RemotePort || g.CorrelationID != w.CorrelationID {
					t.Fatalf("entry %d:\n got %+v\nwant %+v", i, shorten(g), shorten(w))
				}
			}
		})
	}
}

func compact(raw []byte) string {
	var b bytes.Buffer
	_ = json.Compact(&b, raw)
	return b.String()
}

func shorten(e auditlog.Entry) auditlog.Entry {
	if len(e.ObjectRepr) > 40 {
		e.ObjectRepr = e.ObjectRepr[:40] + "…"
	}
	return e
}

// TestPostgresZeroTimestampIsTheDatabasesClock inserts entries without a
// timestamp on PostgreSQL, one and several (as arrays, or as VALUES with a
// driver that takes no slices): each gets the database's clock as it is
// inserted.
func TestPostgresZeroTimestampIsTheDatabasesClock(t *testing.T) {
	if !strings.Contains(strings.Join(testdb.Names(), ","), "postgres") {
		t.Skip("no PostgreSQL")
	}
	_, dsn := testdb.OpenWithDSN(t, "postgres")
	for _, c := range []struct{ name, driver string }{{"pgx", "pgx"}, {"no_slices", "auditstore-test-pgx-no-slices"}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sql.Open(c.driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s, _ := auditstore.New(db, auditstore.Postgres)
			model := "clock_" + c.name
			clock := func() time.Time {
				var at time.Time
				if err := db.QueryRowContext(ctx, "SELECT clock_timestamp()").Scan(&at); err != nil {
					t.Fatal(err)
				}
				return at
			}
			for _, n := range []int{1, 3} {
				before := clock()
				es := make([]auditlog.Entry, n)
				for i := range es {
					es[i] = auditlog.Entry{Action: auditlog.ActionUpdate, Model: model, ObjectPK: fmt.Sprint(n, i), ObjectRepr: "r"}
				}
				if err := s.Insert(ctx, es); err != nil {
					t.Fatal(err)
				}
				after := clock()
				var got []time.Time
				var keys []string
				err := s.Each(ctx, auditstore.Filter{Model: model}, func(e auditlog.Entry) error {
					if strings.HasPrefix(e.ObjectPK, fmt.Sprint(n)) {
						got, keys = append(got, e.Timestamp), append(keys, e.ObjectPK)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != n {
					t.Fatalf("%d entries: read %d", n, len(got))
				}
				for i, g := range got {
					// Each reads by time, newest first: the entries come in the
					// reverse of the order inserted.
					if g.Before(before) || g.After(after) || keys[i] != fmt.Sprint(n, n-1-i) {
						t.Errorf("%d entries: %v at %v, want times between %v and %v, in the order inserted", n, keys, got, before, after)
						break
					}
				}
			}
		})
	}
}

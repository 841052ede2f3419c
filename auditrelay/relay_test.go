package auditrelay_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/audittest"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

func sqlOf(t *testing.T, gdb *gorm.DB) (*sql.DB, auditstore.Dialect) {
	t.Helper()
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	d, err := auditstore.ParseDialect(gdb.Dialector.Name())
	if err != nil {
		t.Fatal(err)
	}
	return db, d
}

// insert writes n entries of model in tx (nil: a transaction of its own).
func insert(t *testing.T, db *sql.DB, tx *sql.Tx, d auditstore.Dialect, model string, n int) {
	t.Helper()
	var s *auditstore.Store
	var err error
	if tx != nil {
		s, err = auditstore.New(tx, d)
	} else {
		s, err = auditstore.New(db, d)
	}
	if err != nil {
		t.Fatal(err)
	}
	es := make([]auditlog.Entry, n)
	for i := range es {
		ch, _ := auditlog.NewChange(i, i+1)
		es[i] = auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: model, ObjectPK: fmt.Sprint(i), ObjectRepr: fmt.Sprintf("%s %d", model, i),
			Changes: auditlog.Changes{"n": ch}, ActorName: "alice"}
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

func ids(t *testing.T, db *sql.DB, q string) []int64 {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// lines returns the ids of the JSON lines in b, in order.
func lines(t *testing.T, b []byte) []int64 {
	t.Helper()
	var out []int64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r auditstore.ExportRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, r.ID)
	}
	return out
}

// TestRelayFollowsCommitOrder publishes committed entries, holds back those
// of a transaction still open, never publishes those of a rolled-back one,
// publishes the late ones once they commit, keeps its position across a
// restart, and reports its lag.
func TestRelayFollowsCommitOrder(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		db, d := sqlOf(t, gdb)
		ctx := context.Background()
		var out bytes.Buffer
		// The relay's clock runs ahead of every entry's time (the database's
		// clock or the application's), so its lag is positive; on whole
		// seconds, as the relay saves its times in milliseconds.
		c := audittest.NewClock(time.Now().Add(time.Hour).Truncate(time.Second))
		newRelay := func() *auditrelay.Relay {
			r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:test"))
			if err != nil {
				t.Fatal(err)
			}
			r.Now, r.GapWait, r.Batch = c.Now, time.Minute, 4
			return r
		}
		r := newRelay()
		if lag, err := r.Lag(ctx); err != nil || lag != (auditrelay.Lag{}) {
			t.Fatalf("lag of an empty table: %+v, %v", lag, err)
		}
		first := time.Now()
		insert(t, db, nil, d, "a", 3)
		inserted := time.Now()
		// SQLite has one writer at a time: no transaction stays open
		// across a round there.
		var open *sql.Tx
		if d != auditstore.SQLite {
			var err error
			if open, err = db.Begin(); err != nil {
				t.Fatal(err)
			}
			// After a failure: an open transaction would hold the test's
			// schema (a no-op after the commit).
			defer func() { _ = open.Rollback() }()
			insert(t, db, open, d, "late", 2)
		}
		insert(t, db, nil, d, "b", 2)
		rb, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		insert(t, db, rb, d, "rolled back", 1)
		if err := rb.Rollback(); err != nil {
			t.Fatal(err)
		}
		insert(t, db, nil, d, "c", 1)
		lag, err := r.Lag(ctx)
		// Behind: the relay's clock less the oldest waiting entry's time.
		if err != nil || lag.Entries != 6 || lag.Published != 0 || lag.Behind < c.Now().Sub(inserted)-time.Millisecond || lag.Behind > c.Now().Sub(first)+time.Millisecond {
			t.Fatalf("lag before the first round: %+v, %v", lag, err)
		}
		n, err := r.CatchUp(ctx)
		if err != nil || n != 6 {
			t.Fatalf("CatchUp published %d, %v; want 6", n, err)
		}
		committed := ids(t, db, "SELECT id FROM auditlog_entries ORDER BY id")
		if got := lines(t, out.Bytes()); !slices.Equal(got, committed) {
			t.Fatalf("published %v, committed %v", got, committed)
		}
		res, err := r.Round(ctx)
		if err != nil || res.Published != 0 {
			t.Fatalf("a round with nothing new: %+v, %v", res, err)
		}
		if open != nil {
			if res.Next != committed[2]+1 {
				t.Fatalf("position %d with the open transaction's ids missing, want %d", res.Next, committed[2]+1)
			}
			if err := open.Commit(); err != nil {
				t.Fatal(err)
			}
			// A restarted relay (a new value) finds the late entries from
			// the position saved in the database.
			r = newRelay()
			res, err := r.Round(ctx)
			if err != nil || res.Published != 2 {
				t.Fatalf("the late entries: %+v, %v", res, err)
			}
			committed = ids(t, db, "SELECT id FROM auditlog_entries ORDER BY id")
			got := lines(t, out.Bytes())
			if len(got) != len(committed) || !slices.Equal(got[len(got)-2:], committed[3:5]) {
				t.Fatalf("published %v, committed %v", got, committed)
			}
			slices.Sort(got)
			if !slices.Equal(got, committed) {
				t.Fatalf("published %v, committed %v", got, committed)
			}
		}
		if d == auditstore.SQLite {
			return // it takes the rolled-back id again: no gap
		}
		// The rolled-back id holds the position for GapWait, then not.
		res, err = r.Round(ctx)
		if err != nil || res.Gaps != 1 || res.Next == res.Hi+1 {
			t.Fatalf("with the rolled-back gap: %+v, %v", res, err)
		}
		c.Advance(2 * time.Minute)
		res, err = r.Round(ctx)
		if err != nil || res.Gaps != 1 || res.Next != res.Hi+1 {
			t.Fatalf("after GapWait: %+v, %v", res, err)
		}
		c.Advance(25 * time.Hour)
		res, err = r.Round(ctx)
		if err != nil || res.Gaps != 0 {
			t.Fatalf("after SweepFor: %+v, %v", res, err)
		}
		lag, err = r.Lag(ctx)
		if err != nil || lag.Entries != 0 || lag.Behind != 0 || lag.Published != int64(len(committed)) || !lag.Updated.Equal(c.Now()) {
			t.Fatalf("lag when caught up: %+v, %v", lag, err)
		}
	})
}

// failing fails its first publishes, writing part of the entries first,
// as a broker that goes away mid-batch does.
type failing struct {
	auditrelay.Sink
	fails int
}

func (f *failing) Publish(ctx context.Context, es []auditlog.Entry) error {
	if f.fails > 0 {
		f.fails--
		if err := f.Sink.Publish(ctx, es[:len(es)/2]); err != nil {
			return err
		}
		return errors.New("the broker went away")
	}
	return f.Sink.Publish(ctx, es)
}

// TestRelayPublishesAgainAfterAFailure: a round whose publish fails saves
// no position, and the next round publishes the same entries again (at
// least once; a sink that dedupes by id stores them once).
func TestRelayPublishesAgainAfterAFailure(t *testing.T) {
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	var out bytes.Buffer
	r, err := auditrelay.New(db, d, &failing{Sink: auditrelay.NewJSONL(&out, "jsonl:test"), fails: 1})
	if err != nil {
		t.Fatal(err)
	}
	insert(t, db, nil, d, "a", 4)
	if _, err := r.Round(context.Background()); err == nil || !strings.Contains(err.Error(), "the broker went away") {
		t.Fatalf("a failed publish: %v", err)
	}
	if lag, err := r.Lag(context.Background()); err != nil || lag.Entries != 4 || lag.Published != 0 {
		t.Fatalf("lag after a failed round: %+v, %v", lag, err)
	}
	if res, err := r.Round(context.Background()); err != nil || res.Published != 4 {
		t.Fatalf("the next round: %+v, %v", res, err)
	}
	got := lines(t, out.Bytes())
	if want := []int64{1, 2, 1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
}

// TestRelayRefusesBadState: a position someone edited into nonsense stops
// the relay with a clear error instead of skipping or repeating entries.
func TestRelayRefusesBadState(t *testing.T) {
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&bytes.Buffer{}, "jsonl:test"))
	if err != nil {
		t.Fatal(err)
	}
	insert(t, db, nil, d, "a", 1)
	if _, err := r.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, gaps := range []string{"x", "[[5,3,0]]", "[[1,5,0],[4,9,0]]"} {
		if _, err := db.Exec("UPDATE auditlog_relay_state SET gaps = ?", gaps); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Round(context.Background()); err == nil || !strings.Contains(err.Error(), "saved gaps") {
			t.Errorf("gaps %s: %v", gaps, err)
		}
	}
	if _, err := auditrelay.New(db, d, auditrelay.NewJSONL(&bytes.Buffer{}, "")); err != nil {
		t.Fatal(err)
	}
	noName, _ := auditrelay.New(db, d, auditrelay.NewJSONL(&bytes.Buffer{}, ""))
	if _, err := noName.Round(context.Background()); err == nil {
		t.Error("a relay without a name ran")
	}
	if _, err := auditrelay.New(nil, d, auditrelay.NewJSONL(&bytes.Buffer{}, "x")); err == nil {
		t.Error("New without a database")
	}
	if _, err := auditrelay.New(db, "oracle", auditrelay.NewJSONL(&bytes.Buffer{}, "x")); err == nil {
		t.Error("New with an unknown dialect")
	}
}

// TestRelayNamesAreDistinctKeys: relays of distinct names keep distinct
// positions on every database, and a name that one of them would merge
// with another, or cannot store, is refused. MariaDB and MySQL compare the
// name key PAD SPACE: "a " was "a", so the second relay took the first's
// position and published nothing.
func TestRelayNamesAreDistinctKeys(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		db, d := sqlOf(t, gdb)
		insert(t, db, nil, d, "books", 3)
		ctx := context.Background()
		for _, name := range []string{"x", "X", "a", "a\t", " a"} {
			var out bytes.Buffer
			r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, name))
			if err != nil {
				t.Fatal(err)
			}
			if n, err := r.CatchUp(ctx); err != nil || n != 3 {
				t.Errorf("relay %q published %d of 3 entries (%v)", name, n, err)
			}
		}
		for _, name := range []string{"a ", "a  ", "caf\xc3", "a\x00b", strings.Repeat("n", 256)} {
			r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&bytes.Buffer{}, name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.CatchUp(ctx); err == nil || !strings.Contains(err.Error(), "relay name") {
				t.Errorf("relay %q: %v, want the name refused", name, err)
			}
		}
		s, err := auditstore.New(db, d)
		if err != nil {
			t.Fatal(err)
		}
		if names, err := s.Relays(ctx); err != nil || len(names) != 5 {
			t.Errorf("Store.Relays: %q %v, want the 5 names", names, err)
		}
	})
}

package auditrelay_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/audittest"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// countdown is a context that ends after n calls of Err, so that a
// publish is stopped in the middle of a batch.
type countdown struct {
	context.Context
	mu sync.Mutex
	n  int
}

func (c *countdown) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// TestJSONLStoppedMidBatchWritesWholeLines: a round stopped in the middle
// of a batch larger than the sink's buffer leaves only whole lines in the
// file, so that the next round's lines are readable after them.
func TestJSONLStoppedMidBatchWritesWholeLines(t *testing.T) {
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	s, err := auditstore.New(db, d)
	if err != nil {
		t.Fatal(err)
	}
	es := make([]auditlog.Entry, 800)
	for i := range es {
		ch, _ := auditlog.NewChange(strings.Repeat("x", 150), i)
		es[i] = auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: "m", ObjectPK: fmt.Sprint(i), ObjectRepr: "m", Changes: auditlog.Changes{"n": ch}}
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:test"))
	if err != nil {
		t.Fatal(err)
	}
	// Contexts that end after more and more checks, until one lets the
	// round through: each stopped round must leave whole lines only.
	stopped, before := 0, 0
	for n := 10; ; n += 37 {
		before = out.Len()
		_, err := r.Round(&countdown{Context: context.Background(), n: n})
		if err == nil {
			break
		}
		stopped++
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			t.Fatalf("a round stopped after %d checks left a partial line: …%q", n, out.Bytes()[max(0, out.Len()-40):])
		}
	}
	if stopped == 0 || out.Len() == 0 {
		t.Fatalf("no round stopped with lines written (%d stopped)", stopped)
	}
	lines(t, out.Bytes()) // every line is JSON
	if got := lines(t, out.Bytes()[before:]); len(got) != 800 {
		t.Fatalf("%d entries written, want 800", len(got))
	}
}

// holdBack copies the entries whose id satisfies cond to a side table and
// deletes them, as transactions still open would leave them missing;
// release inserts them back, as those transactions commit.
func holdBack(t *testing.T, db *sql.DB, cond string) (release func()) {
	t.Helper()
	for _, q := range []string{
		"CREATE TABLE held_entries AS SELECT * FROM auditlog_entries WHERE " + cond,
		"DELETE FROM auditlog_entries WHERE " + cond,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		for _, q := range []string{"INSERT INTO auditlog_entries SELECT * FROM held_entries", "DROP TABLE held_entries"} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRelayThousandsOfGaps: more gaps than one statement binds (every
// other id missing) are read in rounds on every database, the late
// entries in them are each published once, and the lag counts them.
func TestRelayThousandsOfGaps(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		db, d := sqlOf(t, gdb)
		ctx := context.Background()
		const n = 2600
		for range n / 500 {
			insert(t, db, nil, d, "a", 500)
		}
		insert(t, db, nil, d, "a", n%500)
		release := holdBack(t, db, "id % 2 = 0")
		var out bytes.Buffer
		c := audittest.NewClock(time.Now().Truncate(time.Second))
		r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:gaps"))
		if err != nil {
			t.Fatal(err)
		}
		r.Now, r.Batch = c.Now, 700
		if got, err := r.CatchUp(ctx); err != nil || got != n/2 {
			t.Fatalf("CatchUp: %d, %v; want %d", got, err, n/2)
		}
		res, err := r.Round(ctx)
		if err != nil || res.Gaps != n/2-1 || res.Next != 2 {
			t.Fatalf("the round after: %+v, %v", res, err)
		}
		release()
		if lag, err := r.Lag(ctx); err != nil || lag.Entries != n/2 {
			t.Fatalf("lag with the late entries: %+v, %v", lag, err)
		}
		c.Advance(time.Minute)
		if got, err := r.CatchUp(ctx); err != nil || got != n/2 {
			t.Fatalf("the late entries: %d, %v; want %d", got, err, n/2)
		}
		published := lines(t, out.Bytes())
		slices.Sort(published)
		if want := ids(t, db, "SELECT id FROM auditlog_entries ORDER BY id"); !slices.Equal(published, want) {
			t.Fatalf("published %d entries (%v…), want each of %d once", len(published), published[:min(10, len(published))], len(want))
		}
		if lag, err := r.Lag(ctx); err != nil || lag.Entries != 0 || lag.Published != n {
			t.Fatalf("lag at the end: %+v, %v", lag, err)
		}
	})
}

// TestRelaySmallBatchesWithGaps: batches of one and two entries across
// gaps that fill in later publish every entry once.
func TestRelaySmallBatchesWithGaps(t *testing.T) {
	for _, batch := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(batch), func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
				db, d := sqlOf(t, gdb)
				ctx := context.Background()
				insert(t, db, nil, d, "a", 30)
				release := holdBack(t, db, "id % 3 = 1 OR id % 7 = 0")
				var out bytes.Buffer
				r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:small"))
				if err != nil {
					t.Fatal(err)
				}
				r.Batch = batch
				if _, err := r.Round(ctx); err != nil {
					t.Fatal(err)
				}
				release()
				for i := 0; ; i++ {
					res, err := r.Round(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if !res.More && res.Published == 0 {
						break
					}
					if i > 100 {
						t.Fatal("no end")
					}
				}
				got := lines(t, out.Bytes())
				slices.Sort(got)
				if want := ids(t, db, "SELECT id FROM auditlog_entries ORDER BY id"); !slices.Equal(got, want) {
					t.Fatalf("published %v, want %v", got, want)
				}
			})
		})
	}
}

// TestRelayIDsNearTheTop: entries with the highest ids an int64 holds are
// published once, and the relay then stays at the top.
func TestRelayIDsNearTheTop(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		db, d := sqlOf(t, gdb)
		ctx := context.Background()
		insert(t, db, nil, d, "a", 3)
		for i, id := range []int64{math.MaxInt64 - 5, math.MaxInt64} {
			if _, err := db.Exec(fmt.Sprintf("UPDATE auditlog_entries SET id = %d WHERE id = %d", id, i+2)); err != nil {
				t.Fatal(err)
			}
		}
		if d == auditstore.Postgres {
			// Ids the sequence handed out: one above is not relayed
			// (TestRelayPastAnEntryInsertedWithAHighID).
			if _, err := db.Exec(fmt.Sprintf("SELECT setval(pg_get_serial_sequence('auditlog_entries', 'id'), %d)", int64(math.MaxInt64))); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:top"))
		if err != nil {
			t.Fatal(err)
		}
		r.Batch = 2
		if n, err := r.CatchUp(ctx); err != nil || n != 3 {
			t.Fatalf("CatchUp: %d, %v", n, err)
		}
		for range 2 {
			res, err := r.Round(ctx)
			if err != nil || res.Published != 0 || res.Hi != math.MaxInt64 {
				t.Fatalf("a round at the top: %+v, %v", res, err)
			}
		}
		if got := lines(t, out.Bytes()); !slices.Equal(got, []int64{1, math.MaxInt64 - 5, math.MaxInt64}) {
			t.Fatalf("published %v", got)
		}
		if lag, err := r.Lag(ctx); err != nil || lag.Entries != 0 {
			t.Fatalf("lag: %+v, %v", lag, err)
		}
	})
}

// lockedBuffer is a buffer several sinks write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestRelaysOfOneNameTakeTurns: three relays of one name, started at once
// on a database without their state row yet, while writers commit, roll
// back and commit late, publish every committed entry exactly once (the
// JSON Lines sink has no dedupe to hide a repeat).
func TestRelaysOfOneNameTakeTurns(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		db, d := sqlOf(t, gdb)
		if d == auditstore.SQLite {
			t.Skip("SQLite has one writer: covered by the other tests")
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out lockedBuffer
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		var relays []*auditrelay.Relay
		for range 3 {
			r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:shared"))
			if err != nil {
				t.Fatal(err)
			}
			r.Batch = 7
			relays = append(relays, r)
		}
		start := make(chan struct{})
		for _, r := range relays {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for ctx.Err() == nil {
					if _, err := r.Round(ctx); err != nil && ctx.Err() == nil {
						errs <- err
					}
				}
			}()
		}
		var writers sync.WaitGroup
		for w := range 4 {
			writers.Add(1)
			go func() {
				defer writers.Done()
				<-start
				for i := range 25 {
					tx, err := db.Begin()
					if err != nil {
						errs <- err
						return
					}
					insert(t, db, tx, d, fmt.Sprintf("w%d", w), 1+i%3)
					if i%4 == 1 {
						time.Sleep(20 * time.Millisecond) // commits late
					}
					if i%5 == 2 {
						_ = tx.Rollback()
						continue
					}
					if err := tx.Commit(); err != nil {
						errs <- err
					}
				}
			}()
		}
		close(start)
		writers.Wait()
		time.Sleep(300 * time.Millisecond)
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round: %v", err)
		}
		if _, err := relays[0].CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := lines(t, out.b.Bytes())
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		want := ids(t, db, "SELECT id FROM auditlog_entries ORDER BY id")
		if !slices.Equal(sorted, want) {
			t.Fatalf("published %d entries, %d committed: %v vs %v", len(got), len(want), sorted, want)
		}
	})
}

// TestUnrelayedCountsWhatAFlushWouldTake: Store.Unrelayed counts, per
// relay, the entries a filter selects above its high mark and in its
// gaps, up to a highest id, on every database.
func TestUnrelayedCountsWhatAFlushWouldTake(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		db, d := sqlOf(t, gdb)
		ctx := context.Background()
		s, err := auditstore.New(db, d)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Unrelayed(ctx, auditstore.Filter{}, 0); err != nil || len(got) != 0 {
			t.Fatalf("without a relay: %v, %v", got, err)
		}
		insert(t, db, nil, d, "a", 10)
		release := holdBack(t, db, "id IN (3, 4, 7)")
		r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&bytes.Buffer{}, "jsonl:one"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		release()
		insert(t, db, nil, d, "b", 2) // 11, 12
		f := auditstore.Filter{Until: time.Now().Add(time.Hour)}
		for _, tc := range []struct {
			f     auditstore.Filter
			maxID int64
			want  int64
		}{
			{f, 0, 5},
			{f, 11, 4},
			{f, 6, 2},
			{auditstore.Filter{Model: "b"}, 0, 2},
			{auditstore.Filter{Model: "a", Until: f.Until}, 0, 3},
			{f, 2, 0},
		} {
			got, err := s.Unrelayed(ctx, tc.f, tc.maxID)
			var n int64
			if len(got) == 1 && got[0].Relay == "jsonl:one" {
				n = got[0].Entries
			}
			if err != nil || n != tc.want || len(got) > 1 || tc.want == 0 && len(got) != 0 {
				t.Errorf("Unrelayed(%+v, %d) = %+v, %v; want %d", tc.f, tc.maxID, got, err, tc.want)
			}
		}
	})
}

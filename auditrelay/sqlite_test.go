package auditrelay_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// stuck is a sink whose Publish waits until released, as one does while
// its broker is down.
type stuck struct {
	auditrelay.Sink
	entered chan struct{}
	release chan struct{}
}

func (s *stuck) Publish(ctx context.Context, es []auditlog.Entry) error {
	close(s.entered)
	<-s.release
	return s.Sink.Publish(ctx, es)
}

// TestSQLiteWritesDoNotWaitForTheBroker: on SQLite, while a round waits
// for its sink, the application writes (the write lock is free); the
// round then saves its position and the next one publishes what was
// written meanwhile.
func TestSQLiteWritesDoNotWaitForTheBroker(t *testing.T) {
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	var out bytes.Buffer
	sink := &stuck{Sink: auditrelay.NewJSONL(&out, "jsonl:test"), entered: make(chan struct{}), release: make(chan struct{})}
	r, err := auditrelay.New(db, d, sink)
	if err != nil {
		t.Fatal(err)
	}
	insert(t, db, nil, d, "a", 3)
	done := make(chan error, 1)
	go func() {
		_, err := r.Round(context.Background())
		done <- err
	}()
	<-sink.entered
	// A write in a transaction of its own while the round publishes: with
	// the write lock held by the round it would fail (database is locked)
	// after the busy timeout.
	insert(t, db, nil, d, "b", 2)
	close(sink.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r2, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:test"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r2.CatchUp(context.Background()); err != nil || n != 2 {
		t.Fatalf("the next round published %d, %v; want 2", n, err)
	}
	if got := lines(t, out.Bytes()); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("published %v", got)
	}
}

// TestSQLiteRelaysOfOneName: relays of one name on SQLite, rounds
// interleaved, save one position: every entry is published, and the
// repeats (a round whose position another saved first) are not counted.
func TestSQLiteRelaysOfOneName(t *testing.T) {
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	var mu sync.Mutex
	var out bytes.Buffer
	var relays []*auditrelay.Relay
	for range 3 {
		r, err := auditrelay.New(db, d, auditrelay.NewJSONL(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return out.Write(p)
		}), "jsonl:shared"))
		if err != nil {
			t.Fatal(err)
		}
		r.Batch = 3
		relays = append(relays, r)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		insert(t, db, nil, d, "m", 2)
		wg.Add(len(relays))
		for _, r := range relays {
			go func() {
				defer wg.Done()
				if _, err := r.Round(context.Background()); err != nil {
					t.Errorf("round %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
	}
	for _, r := range relays {
		if _, err := r.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int64]bool{}
	for _, id := range lines(t, out.Bytes()) {
		seen[id] = true
	}
	lag, err := relays[0].Lag(context.Background())
	if err != nil || len(seen) != 40 || lag.Entries != 0 || lag.Published != 40 {
		t.Fatalf("%d entries seen, lag %+v, %v", len(seen), lag, err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
